"""Published numbers (configs/references.yaml) and the rule that puts one beside a run.

A reference carries its paper, task, model, metric, value and split, the settings that pick
its data (`data`) and, where a profile reproduces the paper's protocol, that profile
(`preset`) plus the settings on top of it (`settings`). Beside a run:

- different data (any `data` setting differs): the number does not appear;
- same data, and the run's settings equal the protocol's exactly (the cell a
  `reproduce papers` run would build, seed aside: same group hash): "same protocol";
- same data, other protocol: context only, with the settings that differ named, never a
  verdict.

Settings are spelled as `--set` spells them: `model.hidden`, `train.lr`, `<task>.<key>`.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field

from benchmark import config
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
    raw = config.load_yaml(PATH).get("references")
    if not isinstance(raw, list):
        raise ConfigError(f"{PATH}: expected a list under `references`")
    out = []
    for i, entry in enumerate(raw):
        try:
            ref = Reference(**entry)
        except TypeError as e:
            raise ConfigError(f"{PATH}: reference {i + 1}: {e}") from None
        if ref.preset is not None and ref.preset not in config.profiles():
            raise ConfigError(f"{PATH}: reference {ref.name}: unknown preset {ref.preset!r}")
        out.append(ref)
    return tuple(out)


def presets() -> list[str]:
    """The profiles that reproduce a paper's protocol: those references name."""
    return sorted({r.preset for r in load() if r.preset})


def value_at(cfg: dict, key: str):
    """A record's resolved setting by its `--set` name; a missing one is `_MISSING`."""
    section, _, name = key.partition(".")
    if section in ("model", "train"):
        return cfg.get(section, {}).get(name, _MISSING)
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


def protocol_cell(ref: Reference):
    """The cell (seed 0) that reproduces `ref`'s protocol, or None when it has no preset or its
    task is not registered here."""
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


def differences(ref: Reference, cfg: dict, limit: int = 4) -> list[str]:
    """The settings in which a run departs from `ref`'s protocol, as "key ours vs paper's"."""
    cell = protocol_cell(ref)
    if cell is None:
        return []
    want = cell.config()
    out = []
    if cfg.get("profile") != want["profile"]:
        out.append(f"profile {cfg.get('profile')} vs {want['profile']}")
    for section in ("model", "train", "settings"):
        ours, theirs = cfg.get(section, {}), want[section]
        for key in sorted(theirs):
            if not _same(ours.get(key), theirs[key]):
                name = f"{ref.task}.{key}" if section == "settings" else f"{section}.{key}"
                out.append(f"{name} {ours.get(key)} vs {theirs[key]}")
    return out[:limit] + (["..."] if len(out) > limit else [])


def beside(cfg: dict) -> list[dict]:
    """The references that may appear beside a run with resolved config `cfg` (a record's):
    [{"name", "paper", "model", "metric", "value", "split", "protocol", "note"}]."""
    rows, group = [], None
    variant = cfg.get("model", {}).get("variant")
    for ref in load():
        # A preset's number is one model's: beside that model's runs only.
        if not same_data(ref, cfg) or (ref.preset is not None and ref.model != variant):
            continue
        cell = protocol_cell(ref)
        if cell is not None and group is None:
            from benchmark.engine.cells import current_group  # a record of an older version counts too
            group = current_group(cfg)
        same = cell is not None and cell.group == group
        if same:
            note = f"{SAME} ({ref.preset})"
        elif ref.differs:
            note = f"{CONTEXT}, other protocol: {ref.differs}"
        else:
            note = f"{CONTEXT}, other protocol (ours vs paper's): " + "; ".join(differences(ref, cfg))
        rows.append({"name": f"ref: {ref.name}", "paper": ref.paper, "model": ref.model, "metric": ref.metric,
                     "value": ref.value, "split": ref.split, "protocol": SAME if same else CONTEXT, "note": note})
    return rows
