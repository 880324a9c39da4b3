"""Cells: the one way configuration becomes work. `build_cells` turns a profile, tasks, models,
backends, seeds and overrides into validated `Cell`s; `run`, `bench overhead`, `bench plan`
and every measurement that trains call it, so a new setting is threaded through one place.

A cell is one task x model variant x backend x seed with its typed settings (ModelConfig,
TrainConfig, the task's Settings). Every value is checked when the cell is built, before
anything trains.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from benchmark import config
from benchmark.config import BACKENDS, VARIANTS, ConfigError, ModelConfig, TrainConfig
from tasks import all_tasks

DEFAULTS = "defaults"  # the profile name of cells built from configs/defaults.yaml and task files alone


@dataclass(frozen=True)
class Cell:
    task: str
    model: ModelConfig
    train: TrainConfig
    settings: object
    seed: int
    profile: str
    na_reason: str | None = None

    @property
    def name(self) -> str:
        return f"{self.task}/{self.model.variant}/{self.model.backend}/seed{self.seed}"

    def config(self) -> dict:
        return {"task": self.task, "profile": self.profile, "seed": self.seed,
                "model": dataclasses.asdict(self.model), "train": dataclasses.asdict(self.train),
                "settings": dataclasses.asdict(self.settings)}

    @property
    def group(self) -> str:
        """Hash of everything but the seed: cells of one group are averaged in tables."""
        cfg = self.config()
        cfg.pop("seed")
        return hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]

    @property
    def key(self) -> str:
        return f"{self.name}/{self.group}"


def split_names(value: str | None, allowed, what: str) -> list[str]:
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    if not names:
        raise ConfigError(f"no {what} given; choose from: {', '.join(allowed)}")
    bad = [n for n in names if n not in allowed]
    if bad:
        raise ConfigError(f"unknown {what} {bad[0]!r}; choose from: {', '.join(allowed)}")
    return list(dict.fromkeys(names))


def na_reason(task_cls, model: ModelConfig) -> str | None:
    if task_cls.kind == "causal" and model.bidirectional:
        return f"{task_cls.name} is causal: a bidirectional model would read the future"
    return None


def build_cells(tasks: Iterable[str] | None = None, models: Iterable[str] | None = None,
                backends: Iterable[str] = ("cudnn",), seeds: int | Iterable[int] = 1,
                profile: str | None = "smoke", overrides: Mapping | None = None) -> list[Cell]:
    """Every cell of tasks x models x backends x seeds, validated.

    - `tasks`, `models`, `backends`: names (a name may hold several, comma-separated);
      tasks None = every registered task, models None = every variant.
    - `seeds`: N for seeds 0..N-1, or the seeds themselves.
    - `profile`: configs/profiles/<profile>.yaml, or None for configs/defaults.yaml and the
      task files alone (recorded as profile "defaults").
    - `overrides`: {"model": {...}, "train": {...}, "<task>": {...}}, applied last; the shape
      `config.parse_set` gives `--set SECTION.KEY=VALUE` pairs.
    """
    registry = all_tasks()
    task_names = split_names(",".join(tasks if tasks is not None else registry), registry, "task")
    variants = split_names(",".join(models if models is not None else VARIANTS), VARIANTS, "model")
    backends = split_names(",".join(backends), BACKENDS, "backend")
    seed_list = _seeds(seeds)
    raw_profile = config.load_profile(profile) if profile is not None else {}
    common, per_task = config.split_overrides(overrides or {}, list(registry))
    cells = []
    for task in task_names:
        raw = config.resolve(task, raw_profile, common, per_task)
        train = config.build(TrainConfig, raw.get("train"), "train")
        settings = config.build(registry[task].Settings, raw.get("task"), task)
        for variant in variants:
            for backend in backends:
                model = config.build(ModelConfig, {**raw.get("model", {}), "variant": variant, "backend": backend},
                                     "model")
                for seed in seed_list:
                    cells.append(Cell(task, model, train, settings, seed, profile or DEFAULTS,
                                      na_reason(registry[task], model)))
    return cells


def _seeds(seeds) -> list[int]:
    if isinstance(seeds, bool) or not isinstance(seeds, int):
        seeds = list(seeds) if isinstance(seeds, Iterable) else seeds
        if isinstance(seeds, list) and seeds and all(isinstance(s, int) and s >= 0 for s in seeds):
            return seeds
        raise ConfigError(f"bad --seeds {seeds!r}: expected an integer >= 1")
    if seeds < 1:
        raise ConfigError(f"bad --seeds {seeds!r}: expected an integer >= 1")
    return list(range(seeds))
