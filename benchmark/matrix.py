"""The matrix: tasks x model variants x backends x seeds, each cell validated before any runs."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from benchmark import config
from benchmark.config import ConfigError, TrainConfig
from benchmark.config import BACKENDS, VARIANTS, ModelConfig


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


def build_matrix(task_names, variants, backends, seeds: int, profile_name: str, overrides=()) -> list[Cell]:
    from tasks import all_tasks
    tasks = all_tasks()
    task_names = split_names(",".join(task_names), tasks, "task")
    variants = split_names(",".join(variants), VARIANTS, "model")
    backends = split_names(",".join(backends), BACKENDS, "backend")
    if not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"bad --seeds {seeds!r}: expected an integer >= 1")
    profile = config.load_profile(profile_name)
    common, per_task = config.parse_overrides(list(overrides), list(tasks))
    cells = []
    for task in task_names:
        raw = config.resolve(task, profile, common, per_task)
        train = config.build(TrainConfig, raw.get("train"), "train")
        settings = config.build(tasks[task].Settings, raw.get("task"), task)
        for variant in variants:
            for backend in backends:
                model = config.build(ModelConfig, {**raw.get("model", {}), "variant": variant, "backend": backend},
                                     "model")
                for seed in range(seeds):
                    cells.append(Cell(task, model, train, settings, seed, profile_name,
                                      na_reason(tasks[task], model)))
    return cells
