"""Configuration: the schema of a cell's settings (ModelConfig, TrainConfig) and the YAML
files in configs/ merged into one validated config per cell. No torch here: `list`, `--help`
and argument errors need none.

Precedence, lowest first: configs/defaults.yaml, configs/tasks/<task>.yaml, the profile
(configs/profiles/<profile>.yaml: its `model` and `train`, then the task's block under its name,
`copy: {delay: 10, train: {...}}`), then `--set` overrides. Every value is checked here, before
any training starts.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import os
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmark import families
from benchmark.errors import ConfigError, closest

def config_dir() -> Path:
    """RNNBENCH_CONFIG_DIR (a whole folder laid out like configs/), else the copy a wheel ships as
    benchmark/configs (setup.py maps the repository's configs/ there), else the checkout's
    configs/. The installed copy is looked for first: beside an installed package, `../configs`
    may be some other distribution's folder; in a checkout benchmark/configs does not exist."""
    if os.environ.get("RNNBENCH_CONFIG_DIR"):
        return Path(os.environ["RNNBENCH_CONFIG_DIR"])
    here = Path(__file__).resolve().parent
    installed = here / "configs"
    return installed if (installed / "defaults.yaml").is_file() else here.parent / "configs"


CONFIG_DIR = config_dir()

# The model axis of the matrix by name: a variant is a family and a direction, both from the
# family registry (benchmark/families: one file per family, plug-ins by entry point).
BACKENDS = tuple(families.BACKENDS)
BACKEND_NOTES = families.BACKENDS


class _Variants(Mapping):
    """Model name -> (family, bidirectional), read from the registry on every use (a plug-in
    registered after import counts)."""

    def __getitem__(self, name):
        return families.variants()[name]

    def __iter__(self):
        return iter(families.variants())

    def __len__(self):
        return len(families.variants())


VARIANTS = _Variants()


@dataclass(frozen=True)
class ModelConfig:
    """What the matrix varies about a model. Checked on creation so bad values fail before training."""

    variant: str = "lstm"
    backend: str = "cudnn"
    hidden: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    init: str = "orthogonal"   # weight and bias initialisation (INITS; benchmark/models/init.py)
    forget_bias: float = 1.0   # LSTM forget-gate bias under init orthogonal

    def __post_init__(self):
        _check(self.variant in VARIANTS, "model", self.variant, f"one of {', '.join(VARIANTS)}", VARIANTS)
        _check(self.backend in BACKENDS, "backend", self.backend, f"one of {', '.join(BACKENDS)}", BACKENDS)
        _check(count(self.hidden, 1), "model.hidden", self.hidden, "a positive integer")
        _check(count(self.num_layers) and self.num_layers in (1, 2, 3), "model.num_layers", self.num_layers,
               "1, 2 or 3")
        _check(finite(self.dropout) and 0 <= self.dropout < 1, "model.dropout", self.dropout, "a number in [0, 1)")
        kind, _ = parse_init(self.init)
        supported = families.get(self.family).inits
        if kind not in supported:
            raise ConfigError(f"bad model.init {show(self.init)} for model {self.variant} (family {self.family}): "
                              f"{kind} is not one of {self.family}'s inits; use {', '.join(supported)}")
        _check(finite(self.forget_bias), "model.forget_bias", self.forget_bias, "a finite number")
        # Only the orthogonal policy sets the forget bias from this setting; the others draw
        # (pytorch, uniform) or set (chrono) every bias, so a changed value would do nothing.
        if self.forget_bias != 1.0 and kind != "orthogonal":
            raise ConfigError(f"bad model.forget_bias {self.forget_bias!r} with model.init {show(self.init)}: "
                              f"forget_bias applies to init orthogonal only (the other inits set every bias)")

    @property
    def family(self) -> str:
        return VARIANTS[self.variant][0]

    @property
    def bidirectional(self) -> bool:
        return VARIANTS[self.variant][1]

    @property
    def implementation(self) -> str:
        """What trains: `fused` (torch's kernel), `scan` or `step` (our cells); see Family.implementation."""
        return families.get(self.family).implementation(self.backend)

    @property
    def fallback_note(self) -> str | None:
        """Why the backend asked for is not the one that runs (a family without a fused kernel)."""
        if self.backend == "cudnn" and self.implementation != "fused":
            return (f"{self.family} has no fused torch kernel: --backend cudnn runs its {self.implementation} "
                    f"(our implementation, the fastest it has)")
        return None


INITS = "orthogonal, pytorch, uniform:A (A > 0), chrono or chrono:TMAX (TMAX > 2, families with a forget gate: lstm)"
CHRONO_TMAX = 100.0  # Tallec & Ollivier's T_max when `chrono` names none


def parse_init(init) -> tuple[str, float | None]:
    """'orthogonal' -> ('orthogonal', None); 'uniform:0.05' -> ('uniform', 0.05);
    'chrono' -> ('chrono', CHRONO_TMAX). Raises ConfigError naming model.init otherwise."""
    kind, sep, arg = str(init).partition(":")
    if not isinstance(init, str) or kind not in ("orthogonal", "pytorch", "uniform", "chrono"):
        raise ConfigError(f"bad model.init {show(init)}: expected one of {INITS}")
    if kind in ("orthogonal", "pytorch"):
        _check(not sep, "model.init", init, f"{kind} without a value")
        return kind, None
    if kind == "chrono" and not sep:
        return kind, CHRONO_TMAX
    try:
        value = float(arg)
    except ValueError:
        value = math.nan
    # chrono draws b_f = log(U(1, TMAX - 1)): the range is empty unless TMAX > 2.
    low, allowed = ((0.0, "uniform:A with A > 0, e.g. uniform:0.05") if kind == "uniform"
                    else (2.0, "chrono:TMAX with TMAX > 2, e.g. chrono:100"))
    _check(math.isfinite(value) and value > low, "model.init", init, allowed)
    return kind, value


def _check(ok: bool, what: str, value, allowed: str, known=()) -> None:
    """ConfigError unless `ok`; with `known` (the names allowed) it says the nearest ("did you mean")."""
    if not ok:
        raise ConfigError(f"bad {what} {show(value)}: expected {allowed}{closest(value, known) if known else ''}")


_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxtuple, _SHOW.maxdict, _SHOW.maxset = 3, 8, 8, 8, 8
_SHOW.maxstring = _SHOW.maxother = _SHOW.maxlong = 60


def show(value, limit: int = 80) -> str:
    """A user's value as a message quotes it: its repr, cut to `limit` characters. reprlib reads
    only the first items of each level, so a YAML alias tree (`b: &b [*a, *a, ...]`, billions of
    items that load as a few shared lists) is shown in microseconds, never in gigabytes."""
    text = _SHOW.repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def finite(value) -> bool:
    """A number (not a bool) other than inf and nan."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def count(value, low: int = 0) -> bool:
    """An integer (not a bool) >= low."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


@dataclass(frozen=True)
class TrainConfig:
    max_steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-3
    grad_clip: float = 1.0      # max global gradient norm
    weight_decay: float = 0.0
    val_every: int = 0          # validate every N steps; 0 = once, at the end
    val_batches: int = 0        # cap on validation/test batches; 0 = the whole split
    test_batches: int = 0
    log_every: int = 50         # steps between logged points (and NaN checks)
    precision: str = "32-true"
    # torch.compile the encoder: true, or reduce-overhead (and CUDA graphs on a GPU)
    compile: bool | str = dataclasses.field(default=False, metadata={"also": ("reduce-overhead",)})
    stop_at: str = ""           # METRIC>=VALUE or METRIC<=VALUE on validation: stop when met; "" = off
    optimizer: str = "adam"     # OPTIMIZERS
    momentum: float = 0.0       # sgd and rmsprop
    lr_decay: float = 1.0       # multiply the lr by this every lr_decay_every steps from step lr_decay_start
    lr_decay_start: int = 0
    lr_decay_every: int = 0     # 0 = a constant lr
    save_weights: bool = False  # keep the trained weights (logs/<cell>/weights.pt, a state dict read weights-only)
    # Lightning checkpoints of the weights in logs/<cell>/checkpoints/ (CHECKPOINTS), with the cell's
    # config and vocabulary beside them, for `sample`; at "none" it leaves the group hash as it was
    checkpoint: str = "none"

    def __post_init__(self):
        # Types here too, not only in `build`: a value of the wrong type would fail below as a
        # comparison naming no setting, or train with inf (a NaN loss hours later).
        for name in ("max_steps", "batch_size", "log_every"):
            _check(count(getattr(self, name), 1), f"train.{name}", getattr(self, name), "an integer >= 1")
        for name in ("val_every", "val_batches", "test_batches", "lr_decay_start", "lr_decay_every"):
            _check(count(getattr(self, name)), f"train.{name}", getattr(self, name), "an integer >= 0")
        for name in ("lr", "grad_clip"):
            _check(finite(getattr(self, name)) and getattr(self, name) > 0, f"train.{name}", getattr(self, name),
                   "a positive number")
        _check(finite(self.weight_decay) and self.weight_decay >= 0, "train.weight_decay", self.weight_decay,
               "a number >= 0")
        if not isinstance(self.compile, bool) and self.compile != "reduce-overhead":
            raise ConfigError(f"bad train.compile {show(self.compile)}: expected true, false or reduce-overhead")
        allowed = ("32-true", "bf16-mixed", "16-mixed", "64-true")
        if self.precision not in allowed:
            raise ConfigError(f"bad train.precision {show(self.precision)}: expected one of {', '.join(allowed)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"bad train.optimizer {show(self.optimizer)}: expected one of {', '.join(OPTIMIZERS)}")
        _check(finite(self.momentum) and 0 <= self.momentum < 1, "train.momentum", self.momentum, "a number in [0, 1)")
        if self.momentum and self.optimizer == "adam":
            raise ConfigError(f"bad train.momentum {self.momentum!r} with train.optimizer adam: momentum applies to "
                              f"sgd and rmsprop (Adam's betas are fixed)")
        _check(finite(self.lr_decay) and 0 < self.lr_decay <= 1, "train.lr_decay", self.lr_decay,
               "a factor in (0, 1], e.g. 0.5 to halve")
        if self.lr_decay != 1 and not self.lr_decay_every:
            raise ConfigError(f"train.lr_decay {self.lr_decay!r} needs train.lr_decay_every (steps between decays), "
                              f"e.g. one epoch's steps")
        if not isinstance(self.save_weights, bool):
            raise ConfigError(f"bad train.save_weights {show(self.save_weights)}: expected true or false")
        if self.checkpoint not in CHECKPOINTS:
            raise ConfigError(f"bad train.checkpoint {show(self.checkpoint)}: expected one of {', '.join(CHECKPOINTS)}"
                              f"{closest(self.checkpoint, CHECKPOINTS)}")
        if parse_stop_at(self.stop_at) and not self.val_every:
            raise ConfigError(f"train.stop_at {self.stop_at!r} needs validation during training: set train.val_every "
                              f"(steps between validations), e.g. train.val_every=50")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluations after the test, beside its metrics. Length generalisation, for a task trained on
    lengths up to N (its `max_train_length`): every length N+1..max_length scored apart."""
    max_length: int = 0     # the longest length scored; 0 = 10 x the task's max_train_length
    per_length: int = 128   # sequences scored at each length

    def __post_init__(self):
        _check(count(self.max_length), "eval.max_length", self.max_length, "an integer >= 0 (0: 10 x the training length)")
        _check(count(self.per_length, 1), "eval.per_length", self.per_length, "an integer >= 1")


OPTIMIZERS = ("adam", "sgd", "rmsprop")
# train.checkpoint: none; best (the best validation: train.stop_at's metric, else val/loss); last; both
CHECKPOINTS = ("none", "best", "last", "both")


def lr_factor(train: TrainConfig, step: int) -> float:
    """The step schedule: 1 before `lr_decay_start`, then times `lr_decay` at that step and every
    `lr_decay_every` steps after (Zaremba et al. 2014: lr 1 for 4 epochs, then halved each epoch)."""
    if not train.lr_decay_every or step < train.lr_decay_start:
        return 1.0
    return train.lr_decay ** ((step - train.lr_decay_start) // train.lr_decay_every + 1)


def parse_stop_at(stop_at) -> tuple[str, str, float] | None:
    """'recall_acc>=0.99' -> ('recall_acc', '>=', 0.99); '' -> None (off)."""
    if stop_at == "":
        return None
    match = re.fullmatch(r"\s*(\w+)\s*(>=|<=)\s*(\S+)\s*", stop_at) if isinstance(stop_at, str) else None
    try:
        value = float(match.group(3)) if match else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ConfigError(f"bad train.stop_at {show(stop_at)}: expected METRIC>=VALUE or METRIC<=VALUE with METRIC a "
                          f"validation metric without 'val/' and VALUE a number (e.g. recall_acc>=0.99, mse<=0.01), "
                          f"or empty for off")
    return match.group(1), match.group(2), value


def split_names(value: str | None, allowed, what: str) -> list[str]:
    """'a,b' -> ['a', 'b'], each checked against `allowed`."""
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    if not names:
        raise ConfigError(f"no {what} given; choose from: {', '.join(allowed)}")
    bad = [n for n in names if n not in allowed]
    if bad:
        raise ConfigError(f"unknown {what} {show(bad[0])}; choose from: {', '.join(allowed)}{closest(bad[0], allowed)}")
    return list(dict.fromkeys(names))


def load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {e.start}: {e.reason}); save it as "
                          f"UTF-8") from None
    except OSError as e:  # a folder, no permission: what the OS says, on one line
        raise ConfigError(f"config file {path} cannot be read: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML ({yaml_reason(e)})") from None
    # An empty file (or comments alone) is a truncated or unfinished one more often than a wish
    # for no settings: say so, rather than run every default.
    if data is None:
        raise ConfigError(f"config file {path} is empty: give its settings as KEY: VALUE, or `{{}}` for none")
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping (KEY: VALUE), not a {type(data).__name__}")
    return data


def yaml_reason(error: yaml.YAMLError) -> str:
    """PyYAML's error on one line: what it found and where ("expected ',' or ']', but got
    '<stream end>', line 1, column 3"); its own message spans lines and quotes the text."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem}, line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def profiles() -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / "profiles").glob("*.yaml"))


@dataclass(frozen=True)
class Profile:
    """A profile read from a file anywhere (`run --config FILE`): the name its cells record, and
    its settings, already checked."""
    name: str
    data: dict


def profile_name(profile) -> str | None:
    """The name cells record for a profile given by name or as a Profile."""
    return profile.name if isinstance(profile, Profile) else profile


def load_profile(name, task_names=None) -> dict:
    """configs/profiles/<name>.yaml (under RNNBENCH_CONFIG_DIR when set), its spelling checked
    (`check_profile`; with `task_names`, every top-level key too); a Profile's own settings."""
    if isinstance(name, Profile):
        return name.data
    if name not in profiles():
        if isinstance(name, str) and (name.endswith((".yaml", ".yml")) or os.sep in name):
            raise ConfigError(f"--profile {show(name)} names a file: profiles are names from configs/profiles "
                              f"({', '.join(profiles())}); pass a file to `run --config {name}`")
        raise ConfigError(f"unknown profile {show(name)}; choose from: {', '.join(profiles())}"
                          f"{closest(name, profiles())}")
    path = CONFIG_DIR / "profiles" / f"{name}.yaml"
    return check_profile(load_yaml(path), path, task_names)


SELECTION = ("tasks", "models", "backends", "seeds", "profile")  # a config file's `run` block


def read_config_file(path, task_names) -> tuple[dict, Profile]:
    """`run --config FILE`: a profile file from anywhere (the schema of configs/profiles/*.yaml,
    checked key by key) with an optional `run` block, the selection `--print-config` writes:
    tasks, models, backends (lists of names), seeds (N) and profile (the name cells record;
    default: the file's stem). Returns (the selection, the Profile)."""
    path = Path(path).expanduser()
    data, where = load_yaml(path), shown(path)
    selection = data.pop("run", None)
    if selection is None:
        selection = {}
    if not isinstance(selection, dict):
        raise ConfigError(f"{where}: `run` must hold the selection as KEY: VALUE ({', '.join(SELECTION)}), "
                          f"not {show(selection)}")
    for key, value in selection.items():
        if key not in SELECTION:
            raise ConfigError(f"{where}: unknown key {show(key)} under `run`; allowed: {', '.join(SELECTION)}"
                              f"{closest(key, SELECTION)}")
        if key == "seeds":
            _check(count(value, 1), f"run.seeds in {where}", value, "an integer >= 1 (seeds 0..N-1)")
        elif key == "profile":
            _check(isinstance(value, str) and bool(value.strip()), f"run.profile in {where}", value,
                   "the name its cells record, e.g. smoke")
        elif not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            raise ConfigError(f"bad run.{key} in {where} {show(value)}: expected a list of names, e.g. [copy, adding]")
    name = selection.get("profile", path.stem)
    return selection, Profile(name, check_profile(data, path, task_names))


def dump_config(tree: dict) -> str:
    """A run's config as `--print-config` prints it and results folders keep it: YAML in the
    order given (stable from run to run), headed by the command that feeds it back (one text
    however the program was called, so a results folder's copy compares equal)."""
    return ("# rnnbench run config: run it again with `python -m benchmark run --config FILE` "
            "(or `rnnbench run --config FILE`)\n"
            + yaml.safe_dump(tree, sort_keys=False, default_flow_style=False, allow_unicode=True))


# One spelling of a task setting everywhere: `copy.delay` on the command line (`--set
# copy.delay=50`), `copy: {delay: 50}` at the top level of a profile or of configs/tasks/copy.yaml,
# and `copy.delay` in tables and messages. A task's block may also hold `model:` and `train:`,
# overrides for that task alone (no task has a setting so named). Records keep the settings
# under `config.settings`, so that their group hashes, and so finished runs, stay valid.
SHARED = ("model", "train", "eval")  # the sections beside the task blocks (for every task in a profile)
_WHY = "a task's settings sit under its name at the top level"


def check_profile(data: dict, path, task_names=None) -> dict:
    """`data` (a profile read from `path`) if spelled as today: `model`, `train` and a block per
    task under its name; else ConfigError, one line naming the file and the new spelling."""
    where = shown(path)
    shared_sections(data, where)
    for key, value in data.items():
        if key in SHARED:
            continue
        if key == "tasks":  # the old spelling: tasks.<task>.{task,model,train}.<key>
            if not isinstance(value, dict) or not value:
                raise ConfigError(f"{where}: `tasks` (the old spelling) holds {show(value)}; {_WHY}, e.g. "
                                  f"`copy: {{delay: 10}}`")
            task = _first(value, "<task>")
            if task_names is not None and task not in task_names:  # not a task: no new spelling to offer
                raise ConfigError(f"{where}: unknown task {show(task)} under `tasks` (the old spelling; {_WHY}); "
                                  f"tasks: {', '.join(task_names)}{closest(task, task_names)}")
            block = value[task] if isinstance(value, dict) and isinstance(value[task], dict) else {}
            section = "task" if "task" in block or not block else _first(block, "task")
            tail = _tail(block.get(section))
            new = f"{task}{tail}" if section == "task" else f"{task}.{section}{tail}"
            raise ConfigError(f"{where}: `tasks.{task}.{section}{tail}` is now spelled `{new}` ({_WHY})")
        if key == "task":  # the old spelling of settings for every task
            tail = _first(value, "KEY")
            raise ConfigError(f"{where}: `task.{tail}` is now spelled per task, `<task>.{tail}` (e.g. `copy.{tail}`; "
                              f"{_WHY})")
        if task_names is not None and key not in task_names:
            raise ConfigError(f"{where}: unknown key {show(key)}; a profile holds model, train, eval and a block per task "
                              f"under its name ({', '.join(task_names)}){closest(key, [*SHARED, *task_names])}")
        task_block(value, key, where)
    return data


def task_block(block, task: str, where: str) -> dict:
    """A task's block, `{delay: 10, model: {...}, train: {...}}`, as the sections of a raw config:
    `{"task": {"delay": 10}, "model": {...}, "train": {...}}`."""
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise ConfigError(f"{where}: `{task}` must hold the task's settings as KEY: VALUE (e.g. `{task}: "
                          f"{{KEY: VALUE}}`), not {show(block)}")
    if "task" in block:  # the old spelling: <task>.task.<key>
        tail = _tail(block["task"])
        raise ConfigError(f"{where}: `{task}.task{tail}` is now spelled `{task}{tail}` ({_WHY})")
    out = shared_sections(block, where, f"{task}.")
    settings = {k: v for k, v in block.items() if k not in SHARED}
    if settings:
        out["task"] = settings
    return out


def task_file(task: str) -> dict:
    """configs/tasks/<task>.yaml as the sections of a raw config (`{}` for a task without one):
    `model`, `train` and the task's settings under its name."""
    path = CONFIG_DIR / "tasks" / f"{task}.yaml"
    if not path.exists():
        return {}
    data, where = load_yaml(path), shown(path)
    for key in data:
        if key == "task":  # the old spelling
            tail = _first(data[key], "KEY")
            raise ConfigError(f"{where}: `task.{tail}` is now spelled `{task}.{tail}` ({_WHY})")
        if key not in (*SHARED, task):
            raise ConfigError(f"{where}: unknown key {show(key)}; a task's file holds model, train, eval and {task} "
                              f"(its settings){closest(key, (*SHARED, task))}")
    return deep_merge(shared_sections(data, where), task_block(data.get(task), task, where))


EXAMPLE = {"model": "hidden: 64", "train": "lr: 0.01", "eval": "max_length: 100"}


def shared_sections(data: dict, where: str, prefix: str = "") -> dict:
    """The `model` and `train` sections of a file, of a task's block (`prefix` "copy.") or of
    `--set`, each checked: a mapping (nothing under the key: no settings) whose every key is a
    ModelConfig or TrainConfig setting, named with the nearest when not, as the file says it."""
    out = {}
    for section, cls in (("model", ModelConfig), ("train", TrainConfig), ("eval", EvalConfig)):
        values = data.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: `{prefix}{section}` must hold settings as KEY: VALUE (e.g. `{section}: "
                              f"{{{EXAMPLE[section]}}}`), not {show(values)}")
        known_settings(values, cls, f"{prefix}{section}", f"{where}: ")
        out[section] = values
    return out


def known_settings(keys, cls, what: str, where: str = "") -> None:
    """ConfigError for the first of `keys` that is no field of the config dataclass `cls`, naming
    the nearest: "unknown train setting 'lrr'; allowed: ...; did you mean 'lr'?"."""
    fields = [f.name for f in dataclasses.fields(cls)]
    for key in keys:
        if key not in fields:
            raise ConfigError(f"{where}unknown {what} setting {show(key)}; allowed: {', '.join(fields)}"
                              f"{closest(key, fields)}")


def _first(tree, default: str) -> str:
    """The first key of a mapping (to name it in a message), else `default`."""
    return str(next(iter(tree))) if isinstance(tree, dict) and tree else default


def _tail(tree) -> str:
    """".KEY" for a mapping's first key (`tasks.copy.task` + ".delay"), "" for an empty one."""
    return f".{_first(tree, '')}" if isinstance(tree, dict) and tree else ""


def shown(path) -> str:
    """A config file's path as a message names it: relative to the working folder when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_set(pairs) -> dict:
    """`--set train.lr=0.01 --set copy.delay=50` -> {'train': {'lr': 0.01}, 'copy': {'delay': 50}}.
    Values are read as YAML (numbers, booleans, lists); sections are checked by `split_overrides`."""
    flat = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.partition(".")[2]:
            raise ConfigError(f"bad --set {show(pair)}: expected SECTION.KEY=VALUE, e.g. train.lr=0.01 or "
                              f"copy.delay=50")
        try:
            flat[key] = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise ConfigError(f"bad --set {show(pair)}: the value is not valid YAML ({yaml_reason(e)}); close "
                              f"brackets and quote strings, e.g. --set \"{key}=[1, 2]\" or "
                              f"--set \"{key}='a[1'\"") from None
    return nest(flat)


def nest(flat: dict) -> dict:
    """{'train.lr': 0.01, 'copy.delay': 50} -> {'train': {'lr': 0.01}, 'copy': {'delay': 50}}."""
    out: dict = {}
    for key, value in flat.items():
        _nest(out, key.split("."), value)
    return out


def split_overrides(overrides: dict, task_names: list[str]) -> tuple[dict, dict]:
    """{'train': {...}, 'copy': {...}} -> ({'train': {...}}, {'copy': {'task': {...}}}): the model and
    train sections apply to every task, a task's section to its settings (and its `model`/`train`
    keys, `copy.model.hidden=64`, to that task alone), as in a profile."""
    common, per_task = {}, {}
    for head, values in overrides.items():
        if not isinstance(values, dict):
            raise ConfigError(f"bad --set {head}={show(values)}: expected SECTION.KEY=VALUE, e.g. train.lr=0.01")
        if head in SHARED:
            common.update(shared_sections({head: values}, "--set"))
        elif head in task_names:
            per_task[head] = task_block(values, head, "--set")
        elif head == "task":  # the old spelling
            tail = _first(values, "KEY")
            raise ConfigError(f"--set: `task.{tail}` is now spelled `<task>.{tail}` (e.g. `copy.{tail}`; the task one "
                              f"of {', '.join(task_names)})")
        else:
            raise ConfigError(f"bad --set section {show(head)}: expected model, train, eval or a task "
                              f"({', '.join(task_names)}){closest(head, [*SHARED, *task_names])}")
    return common, per_task


def _nest(tree: dict, keys: list[str], value) -> None:
    for i, k in enumerate(keys[:-1]):
        tree = tree.setdefault(k, {})
        if not isinstance(tree, dict):  # `--set train.lr=1 --set train.lr.x=2`
            raise ConfigError(f"bad --set {'.'.join(keys)}: {'.'.join(keys[:i + 1])} is set to a value too; "
                              f"set one or the other")
    tree[keys[-1]] = value


def resolve(task: str, profile: dict, common: dict, per_task: dict) -> dict:
    """The merged raw config for one task: sections model, train and task (its settings, however a file
    or `--set` names them: the task block `copy: {delay: 10}` becomes `{"task": {"delay": 10}}`)."""
    path = CONFIG_DIR / "defaults.yaml"
    defaults = load_yaml(path)
    for key in defaults:
        if key not in SHARED:
            raise ConfigError(f"{shown(path)}: unknown key {show(key)}; it holds model, train and eval (task settings: "
                              f"configs/tasks/<task>.yaml){closest(key, SHARED)}")
    raw = deep_merge(shared_sections(defaults, shown(path)), task_file(task))
    raw = deep_merge(raw, shared_sections(profile, "profile"))
    raw = deep_merge(raw, task_block(profile.get(task), task, "profile"))
    raw = deep_merge(raw, common)
    return deep_merge(raw, per_task.get(task, {}))


def build(cls, values: dict | None, where: str):
    """Instantiate a config dataclass from a mapping, naming any unknown key or wrong type."""
    if not isinstance(values, (dict, type(None))):
        raise ConfigError(f"bad {where} {show(values)}: expected its settings as KEY: VALUE")
    values = dict(values or {})
    known_settings(values, cls, where)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name, value in values.items():
        also = fields[name].metadata.get("also", ())  # named values beside the default's type
        if value not in also:
            values[name] = _coerce(value, fields[name].default, f"{where}.{name}", also)
    try:
        return cls(**values)
    except TypeError as e:
        raise ConfigError(f"bad {where} settings: {e}") from None


SCALARS = (str, int, float)  # what a list setting holds (bool is an int)


def _coerce(value, default, where, also=()):
    if default is None or default is dataclasses.MISSING:
        return value
    kind = type(default)
    expected = f"{kind.__name__}{''.join(f' or {a}' for a in also)}"
    if value is None:  # YAML's null: `--set train.lr=` or `lr:` with nothing after it
        raise ConfigError(f"bad {where}: no value given (`--set {where}=` or `{where.rpartition('.')[2]}:` with "
                          f"nothing after it); expected {expected}, e.g. the default {show(default)}")
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
        if ok and not finite(value):  # inf, nan (`.inf`, `1e400`): no setting trains with one
            raise ConfigError(f"bad {where} {value!r}: expected a finite number")
    elif kind in (tuple, list):
        # Flat lists of finite values: every list setting is one (file names, fractions, columns).
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, SCALARS) and not (isinstance(v, float) and not math.isfinite(v)) for v in value)
        value = kind(value) if ok else value
        expected = f"a list of strings or finite numbers ({kind.__name__})"
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ConfigError(f"bad {where} {show(value)}: expected {expected}")
    return value
