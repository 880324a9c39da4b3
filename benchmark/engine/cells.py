"""Cells: the one way configuration becomes work. `build_cells` turns a profile, tasks, models,
backends, seeds and overrides into validated `Cell`s; `run`, `bench overhead`, `bench plan`
and every measurement that trains call it, so a new setting is threaded through one place.

A cell is one task x model variant x backend x seed with its typed settings (ModelConfig,
TrainConfig, the task's Settings). Every value is checked when the cell is built, before
anything trains; names, the profile, overrides and the model and train settings are checked
before the task modules (and so torch and Lightning, seconds) are imported.

The files a cell will read are checked once the data directory is known (`check_own_files`,
which `run_matrix` and `bench plan` call before anything trains): a user's own file that is
not there is a mistyped path, a ConfigError (exit 2); a default data set that is not there
(CI without data) is left to the cell, which records itself `skipped`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from benchmark import config
from benchmark.config import BACKENDS, VARIANTS, ConfigError, EvalConfig, ModelConfig, TrainConfig, split_names
from tasks import all_tasks, get_task, task_names

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
    eval: EvalConfig = EvalConfig()  # frozen, so one shared default is safe

    @property
    def name(self) -> str:
        return cell_name(self.task, self.model.variant, self.model.backend, self.seed)

    def config(self) -> dict:
        # The task's settings stay under "settings" (not under the task's name, as YAML and `--set`
        # spell them): the group hash of every earlier record, and so its reuse, depends on it.
        # Tables and messages show them as <task>.<key> (copy.delay).
        # `eval` only when set otherwise than its defaults: every cell before it existed keeps its group.
        return {"task": self.task, "profile": self.profile, "seed": self.seed,
                "model": dataclasses.asdict(self.model), "train": dataclasses.asdict(self.train),
                "settings": dataclasses.asdict(self.settings),
                **({"eval": dataclasses.asdict(self.eval)} if self.eval != EvalConfig() else {})}

    @property
    def group(self) -> str:
        """Hash of everything but the seed: cells of one group are averaged in tables."""
        return group_hash(self.config())

    @property
    def key(self) -> str:
        return f"{self.name}/{self.group}"


def cell_name(task: str, variant: str, backend: str, seed: int) -> str:
    return f"{task}/{variant}/{backend}/seed{seed}"


# Settings that, at these values, are left out of the group hash: they were added after records
# were written and say what to keep, not how to train, so a cell at the default keeps the group
# (and the log folder) it had before the setting existed. Set otherwise, they join the hash.
UNHASHED_DEFAULTS = {("train", "checkpoint"): "none"}


def group_hash(cfg: dict) -> str:
    """The group of a config shaped as Cell.config(): the hash of everything but the seed (and the
    UNHASHED_DEFAULTS at their defaults). A tuple hashes as the list JSON reads it back, so a
    record read back keeps its group."""
    cfg = {k: v for k, v in cfg.items() if k != "seed"}
    for (section, key), default in UNHASHED_DEFAULTS.items():
        if isinstance(cfg.get(section), dict) and cfg[section].get(key, default) == default:
            cfg[section] = {k: v for k, v in cfg[section].items() if k != key}
    return hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:10]


def current_group(cfg: dict) -> str | None:
    """The group a record's config (Cell.config()) has under this version's settings: a setting
    added since the record was written takes its default, the value the record trained with.
    So a finished run still counts as the same protocol after new settings appear (None: the
    record's task is not registered here)."""
    upgraded = current_config(cfg)
    return None if upgraded is None else group_hash(upgraded)


def current_config(cfg: dict) -> dict | None:
    """A record's config with every setting this version has: those added since it was written
    take their defaults (None: the record's task is not registered here)."""
    task = all_tasks().get(cfg.get("task"))
    if task is None:
        return None
    upgraded = dict(cfg)
    for section, cls in (("model", ModelConfig), ("train", TrainConfig), ("settings", task.Settings)):
        upgraded[section] = {**declared_defaults(cls), **cfg.get(section, {})}
    return upgraded


def declared_defaults(cls) -> dict:
    """A config dataclass's fields that have a default, with it (records read through it too)."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def settings_defaults(settings_cls) -> dict:
    """A task's settings as a cell has them when nothing sets them (its Settings(), as a dict).
    Records carry them (`settings_defaults`): the reports complete a paper's protocol with them
    without importing the task modules (reports/references.py)."""
    try:
        return dataclasses.asdict(settings_cls())
    except Exception:  # a plug-in's Settings with a required field, say: the declared defaults (never no record)
        return declared_defaults(settings_cls)


def current_settings_defaults(task: str | None) -> dict | None:
    """settings_defaults of a task registered here (None: not registered); imports the task modules."""
    cls = all_tasks().get(task)
    return None if cls is None else settings_defaults(cls.Settings)


def settings_from_defaults(task: str, defaults: Mapping, values: Mapping | None) -> dict:
    """The settings dict (as Cell.config() holds it) that `values` (a task's block of the YAML and
    overrides) give a task whose defaults are `defaults`: config.build's checks and coercions,
    without the Settings class (so without the task module). ConfigError as build raises it."""
    values = dict(values or {})
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown {task} setting(s) {unknown}; allowed: {', '.join(defaults)}"
                          f"{config.closest(unknown[0], defaults)}")
    return {**defaults, **{k: config._coerce(v, defaults[k], f"{task}.{k}") for k, v in values.items()}}


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
    - `profile`: configs/profiles/<profile>.yaml, a config.Profile (a file read from anywhere,
      `run --config`), or None for configs/defaults.yaml and the task files alone (recorded as
      profile "defaults").
    - `overrides`: {"model": {...}, "train": {...}, "<task>": {...}}, applied last; the shape
      `config.parse_set` gives `--set SECTION.KEY=VALUE` pairs, and a profile's: a task's block
      holds its settings (`copy.delay`) and may hold `model`/`train` for that task alone.
    """
    seed_list = _seeds(seeds)
    planned = resolve_settings(tasks, models, backends, profile, overrides)
    # the task modules, for their Settings: torch and Lightning load here (a plug-in that fails: ConfigError)
    registry = {task: get_task(task) for task, *_ in planned}
    cells = []
    for task, task_values, train, model_cfgs, evaluation in planned:
        settings = config.build(registry[task].Settings, task_values, task)
        check_evaluation(registry[task], evaluation, settings)
        for model in model_cfgs:
            for seed in seed_list:
                cells.append(Cell(task, model, train, settings, seed, config.profile_name(profile) or DEFAULTS,
                                  na_reason(registry[task], model), evaluation))
    return cells


def unseen_lengths(cell: Cell) -> range | None:
    """The lengths a cell's length generalisation scores, N+1..M (N its task's max_train_length, M
    eval.max_length, else 10 N); None for a task with no training length."""
    n = getattr(cell.settings, "max_train_length", None)
    if n is None:
        return None
    return range(n + 1, (cell.eval.max_length or 10 * n) + 1)


def check_evaluation(task_cls, evaluation: EvalConfig, settings=None) -> None:
    """ConfigError for `eval.max_length` set for a task with no training length to go beyond, or
    not beyond it."""
    n = getattr(settings, "max_train_length", None)
    if n is not None and evaluation.max_length and evaluation.max_length <= n:
        raise ConfigError(f"bad eval.max_length {evaluation.max_length}: {task_cls.name} trains on lengths up to "
                          f"{task_cls.name}.max_train_length={n}, so score lengths beyond it: give a larger one, "
                          f"or 0 for 10 x {n}")
    if evaluation.max_length and "max_train_length" not in {f.name for f in dataclasses.fields(task_cls.Settings)}:
        takers = sorted(name for name, t in all_tasks().items()
                        if "max_train_length" in {f.name for f in dataclasses.fields(t.Settings)})
        raise ConfigError(f"eval.max_length applies to tasks trained on lengths up to TASK.max_train_length "
                          f"({', '.join(takers)}), not {task_cls.name}: run those tasks alone, or leave it unset")


def resolve_settings(tasks: Iterable[str] | None = None, models: Iterable[str] | None = None,
                     backends: Iterable[str] = ("cudnn",), profile: str | None = "smoke",
                     overrides: Mapping | None = None
                     ) -> list[tuple[str, dict | None, TrainConfig, list[ModelConfig], EvalConfig]]:
    """build_cells' first half, torch-free: per task, (task, its settings' values as the YAML files
    and overrides give them, its TrainConfig, the ModelConfigs of models x backends, its
    EvalConfig), every name and every model, train and eval value checked. The arguments are
    build_cells'."""
    known = task_names()
    names = split_names(",".join(tasks if tasks is not None else known), known, "task")
    variants = split_names(",".join(models if models is not None else VARIANTS), VARIANTS, "model")
    backends = split_names(",".join(backends), BACKENDS, "backend")
    raw_profile = config.load_profile(profile, known) if profile is not None else {}
    common, per_task = config.split_overrides(overrides or {}, known)
    planned = []
    for task in names:
        raw = config.resolve(task, raw_profile, common, per_task)
        train = config.build(TrainConfig, raw.get("train"), "train")
        model_cfgs = [config.build(ModelConfig, {**raw.get("model", {}), "variant": v, "backend": b}, "model")
                      for v in variants for b in backends]
        planned.append((task, raw.get("task"), train, model_cfgs, config.build(EvalConfig, raw.get("eval"), "eval")))
    return planned


def check_own_files(cells: Iterable[Cell], data_dir=None) -> None:
    """ConfigError naming each setting whose path is the user's own and cannot be read.

    Own = not a path some task reads by default (every task's `data_files` of its default
    Settings: ett/ETTh1.csv, ptb/ptb.train.txt, ...), so a preset reading another task's
    default data (bai2018's character PTB) is still skipped where that data is absent."""
    from tasks.data.sources import missing_own_file  # loads torch: not before build_cells has checked the names

    registry = all_tasks()
    defaults = {p for t in registry.values() for p in t.data_files(t.Settings()).values()}
    problems = {}
    for cell in cells:
        if cell.na_reason:
            continue
        for setting, path in registry[cell.task].data_files(cell.settings).items():
            if path not in defaults and (why := missing_own_file(data_dir, path)):
                problems[f"{cell.task}.{setting}"] = f"{cell.task}.{setting}: {why}"
    if problems:
        raise ConfigError("; ".join(problems.values()) + ". Fix the path (absolute, or relative to --data-dir); "
                          "nothing was trained")


def _seeds(seeds) -> list[int]:
    """N -> seeds 0..N-1; seeds given one by one -> those."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        listed = list(range(seeds))
    else:
        listed = list(seeds) if isinstance(seeds, Iterable) else []
    if not listed or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in listed):
        raise ConfigError(f"bad --seeds {seeds!r}: expected an integer >= 1")
    return listed
