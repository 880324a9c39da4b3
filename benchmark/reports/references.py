"""Published numbers (configs/references.yaml) and the rule that puts one beside a run.

A reference carries its paper, task, model, metric, value and split, the settings that pick
its data (`data`) and, where a profile reproduces the paper's protocol, that profile
(`preset`) plus the settings on top of it (`settings`). Beside a run:

- different data (any `data` setting differs): the number does not appear;
- same data, and the run's settings equal the protocol's exactly (the cell a
  `reproduce papers` run would build, seed aside: same group hash): "same protocol";
- same data, other protocol: context only, with the settings that differ named, never a
  verdict.

The protocol is resolved from the YAML files as build_cells resolves it, without the task
modules (no torch): its task settings are the record's `settings_defaults` with the preset's
and the reference's values on top (`protocol_config`), so a folder renders from its records.

Settings are spelled as `--set` spells them: `model.hidden`, `train.lr`, `<task>.<key>`.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field

from benchmark import config
from benchmark.engine.cells import current_settings_defaults, group_hash, resolve_settings, settings_from_defaults
from benchmark.errors import ConfigError

SAME, CONTEXT = "same protocol", "context"


@dataclass(frozen=True)
class Reference:
    paper: str
    task: str
    model: str
    metric: str            # a record's metric key, e.g. test/ppl
    value: float
    split: str             # in words, e.g. "PTB test"
    data: dict = field(default_factory=dict)
    preset: str | None = None
    settings: dict = field(default_factory=dict)
    baseline: str | None = None
    differs: str = ""
    aggregate: str = "mean"  # the published value is our seeds' "mean", or the "best" run (Delétang et al.)

    @property
    def name(self) -> str:
        return f"{self.paper} {self.model}"

    def overrides(self) -> dict:
        """The `settings` as build_cells' overrides ({"model": {...}, "<task>": {...}})."""
        return config.nest(self.settings)


def path():
    return config.CONFIG_DIR / "references.yaml"


@functools.cache
def load() -> tuple[Reference, ...]:
    PATH = path()
    data = config.load_yaml(PATH)
    raw = data.get("references")
    if not isinstance(raw, list):  # the other top-level keys hold anchors (&ptb_words) the entries use
        raise ConfigError(f"{PATH}: expected a list under `references`{config.closest('references', data)}")
    out = []
    for i, entry in enumerate(raw):
        where = f"{PATH}: reference {i + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected KEY: VALUE ({', '.join(FIELDS)}), not {config.show(entry)}")
        for key in entry:
            if key not in FIELDS:
                raise ConfigError(f"{where}: unknown key {config.show(key)}; a reference holds {', '.join(FIELDS)}"
                                  f"{config.closest(key, FIELDS)}")
        try:
            ref = Reference(**entry)
        except TypeError as e:
            raise ConfigError(f"{where}: {e}") from None
        check(ref, where)
        out.append(ref)
    return tuple(out)


FIELDS = [f.name for f in dataclasses.fields(Reference)]
AGGREGATES = ("mean", "best")
TEXT = ("paper", "task", "model", "metric", "split")


def check(ref: Reference, where: str) -> None:
    """One reference's values: text where text belongs, a finite value, `data` and `settings` as
    `--set` spells them (SECTION.KEY: a value or a flat list), model and train keys known.
    Before any of it is hashed or printed (protocol's cache key is its settings as JSON)."""
    for name in TEXT:
        if not isinstance(getattr(ref, name), str) or not getattr(ref, name):
            raise ConfigError(f"{where}: bad {name} {config.show(getattr(ref, name))}: expected text")
    if not config.finite(ref.value):
        raise ConfigError(f"{where} ({ref.name}): bad value {config.show(ref.value)}: expected a finite number")
    for name in ("data", "settings"):
        tree = getattr(ref, name)
        if not isinstance(tree, dict):
            raise ConfigError(f"{where} ({ref.name}): `{name}` must hold SECTION.KEY: VALUE, not {config.show(tree)}")
        for key, value in tree.items():
            section, _, setting = str(key).partition(".")
            plain = isinstance(value, config.SCALARS) or (
                isinstance(value, list) and all(isinstance(v, config.SCALARS) for v in value))
            if section not in (*config.SHARED, ref.task) or not setting or not plain:
                raise ConfigError(f"{where} ({ref.name}): bad {name} {config.show(key)}: {config.show(value)}: "
                                  f"expected model.KEY, train.KEY, eval.KEY or {ref.task}.KEY with a value or a list "
                                  f"of values")
            if section in config.SHARED:
                config.shared_sections({section: {setting: value}}, f"{where} ({ref.name}) {name}")
    if ref.aggregate not in AGGREGATES:
        raise ConfigError(f"{where} ({ref.name}): bad aggregate {config.show(ref.aggregate)}: expected "
                          f"{' or '.join(AGGREGATES)}")
    if ref.preset is not None and ref.preset not in config.profiles():
        raise ConfigError(f"{where}: reference {ref.name}: unknown preset {config.show(ref.preset)}"
                          f"{config.closest(ref.preset, config.profiles())}")


def presets() -> list[str]:
    """The profiles that reproduce a paper's protocol: those references name."""
    return sorted({r.preset for r in load() if r.preset})


def value_at(cfg: dict, key: str):
    """A record's resolved setting by its `--set` name; a missing one is `_MISSING`."""
    section, _, name = key.partition(".")
    if section in ("model", "train"):
        return cfg.get(section, {}).get(name, _MISSING)
    if section == "eval":  # a record holds `eval` only when it differs from the defaults
        return {**dataclasses.asdict(config.EvalConfig()), **cfg.get("eval", {})}.get(name, _MISSING)
    if section != cfg.get("task"):
        return _MISSING
    return cfg.get("settings", {}).get(name, _MISSING)


_MISSING = object()


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b


def same_data(ref: Reference, cfg: dict) -> bool:
    return cfg.get("task") == ref.task and all(_same(value_at(cfg, k), v) for k, v in ref.data.items())


def protocol(ref: Reference, strict: bool = False):
    """(task values, TrainConfig, ModelConfig, EvalConfig) of `ref`'s protocol as the preset and `settings`
    resolve them, without the task modules; None when it has no preset or does not resolve here
    (an unknown task, a setting this version lacks), or with `strict` that ConfigError."""
    if ref.preset is None:
        return None
    key = (str(config.CONFIG_DIR), ref.task, ref.model, ref.preset, json.dumps(ref.settings, sort_keys=True))
    if key not in _PROTOCOLS:
        try:
            ((_, values, train, (model,), evaluation),) = resolve_settings(
                [ref.task], [ref.model], profile=ref.preset, overrides=ref.overrides())
            _PROTOCOLS[key] = (values, train, model, evaluation)
        except ConfigError as e:
            _PROTOCOLS[key] = e
    found = _PROTOCOLS[key]
    if isinstance(found, ConfigError):
        if strict:
            raise found
        return None
    return found


_PROTOCOLS: dict = {}


def protocol_config(ref: Reference, settings_defaults: dict | None) -> dict | None:
    """The config (as Cell.config(), seed aside) of the cell that reproduces `ref`'s protocol, its
    task settings completed with `settings_defaults` (a record's: the task's defaults when it was
    written); None as `protocol`, or without defaults."""
    resolved = protocol(ref)
    if resolved is None or settings_defaults is None:
        return None
    values, train, model, evaluation = resolved
    try:
        settings = settings_from_defaults(ref.task, settings_defaults, values)
    except ConfigError:
        return None
    return {"task": ref.task, "profile": ref.preset, "model": dataclasses.asdict(model),
            "train": dataclasses.asdict(train), "settings": settings,
            **({"eval": dataclasses.asdict(evaluation)} if evaluation != config.EvalConfig() else {})}


def same_protocol(ref: Reference, record: dict) -> bool:
    """Whether `record` (as records.upgrade reads it) ran `ref`'s protocol, seed aside."""
    want = protocol_config(ref, record.get("settings_defaults"))
    return want is not None and group_hash(want) == record.get("group")


def protocol_cell(ref: Reference):
    """The cell (seed 0) that reproduces `ref`'s protocol, built by the engine (the task modules:
    torch); None when it has no preset or its task is not registered here. What `protocol_config`
    computes without them (tests check they agree)."""
    if ref.preset is None:
        return None
    key = (ref.task, ref.model, ref.preset, json.dumps(ref.settings, sort_keys=True))
    if key not in _CELLS:
        from benchmark.engine.cells import build_cells  # the task modules: torch, on first use only
        try:
            _CELLS[key] = build_cells([ref.task], [ref.model], seeds=1, profile=ref.preset,
                                      overrides=ref.overrides())[0]
        except ConfigError:
            _CELLS[key] = None
    return _CELLS[key]


_CELLS: dict = {}


def differences(ref: Reference, cfg: dict, settings_defaults: dict | None, limit: int = 4) -> list[str]:
    """The settings in which a run departs from `ref`'s protocol, as "key ours vs paper's"."""
    want = protocol_config(ref, settings_defaults)
    if want is None:
        return []
    out = []
    if cfg.get("profile") != want["profile"]:
        out.append(f"profile {cfg.get('profile')} vs {want['profile']}")
    defaults = {"eval": dataclasses.asdict(config.EvalConfig())}
    for section in ("model", "train", "eval", "settings"):
        ours, theirs = {**defaults.get(section, {}), **cfg.get(section, {})}, {**defaults.get(section, {}),
                                                                               **want.get(section, {})}
        for key in sorted(theirs):
            if not _same(ours.get(key), theirs[key]):
                name = f"{ref.task}.{key}" if section == "settings" else f"{section}.{key}"
                out.append(f"{name} {ours.get(key)} vs {theirs[key]}")
    return out[:limit] + (["..."] if len(out) > limit else [])


def beside(cfg: dict, settings_defaults: dict | None = None) -> list[dict]:
    """The references that may appear beside a run with resolved config `cfg` (a record's, as
    records.upgrade reads it) and its task's `settings_defaults` (the record's; None: this
    version's, from the task modules): [{"name", "paper", "model", "metric", "value", "split",
    "protocol", "note"}]."""
    rows, group = [], group_hash(cfg)
    variant = cfg.get("model", {}).get("variant")
    for ref in load():
        # A preset's number is one model's: beside that model's runs only.
        if not same_data(ref, cfg) or (ref.preset is not None and ref.model != variant):
            continue
        if settings_defaults is None and ref.preset is not None:
            settings_defaults = current_settings_defaults(cfg.get("task"))
        want = protocol_config(ref, settings_defaults)
        same = want is not None and group_hash(want) == group
        if same:
            note = f"{SAME} ({ref.preset})"
        elif ref.differs:
            note = f"{CONTEXT}, other protocol: {ref.differs}"
        else:
            note = f"{CONTEXT}, other protocol (ours vs paper's): " + "; ".join(differences(ref, cfg, settings_defaults))
        rows.append({"name": f"ref: {ref.name}", "paper": ref.paper, "model": ref.model, "metric": ref.metric,
                     "value": ref.value, "split": ref.split, "protocol": SAME if same else CONTEXT, "note": note})
    return rows
