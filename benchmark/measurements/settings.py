"""Measurement sizes per profile, read from configs/measurements.yaml (never from code).

`load(profile, name, seeds, overrides)` returns one measurement's block with the profile's
seeds folded in as an explicit list (`seeds`: 0..N-1 from the profile's `seed`), after
`--seeds N` and `--set BLOCK.KEY=VALUE` overrides. An override may only replace a key the
block already has (a typo is an error naming the keys there, not a silently ignored value).
"""
from __future__ import annotations

from benchmark.config import CONFIG_DIR, ConfigError, deep_merge, load_yaml

FILE = CONFIG_DIR / "measurements.yaml"
BLOCKS = ("parameters", "memory_span", "gradient_flow", "speed")


def load(profile: str, name: str, seeds: int | None = None, overrides: dict | None = None) -> dict:
    data = load_yaml(FILE)
    if profile not in data:
        raise ConfigError(f"{FILE} has no {profile!r} block; profiles there: {', '.join(data)}")
    block = data[profile]
    if name not in block:
        raise ConfigError(f"{FILE}: profile {profile!r} has no {name!r} block")
    settings = block[name]
    over = check_overrides(overrides or {}, block).get(name)
    if over:
        settings = deep_merge(settings, over)
    first, n = int(block.get("seed", 0)), int(seeds if seeds is not None else block.get("seeds", 1))
    if n < 1:
        raise ConfigError(f"bad --seeds {n}: expected an integer >= 1")
    return {"seed": first, "seeds": list(range(first, first + n)), **settings}


def check_overrides(overrides: dict, block: dict) -> dict:
    """The `--set` tree, each path checked against the profile's blocks."""
    for head, values in overrides.items():
        if head not in BLOCKS:
            raise ConfigError(f"bad --set section {head!r} for a measurement: expected one of {', '.join(BLOCKS)} "
                              f"(e.g. --set memory_span.train.max_steps=2000)")
        _check_keys(values, block.get(head) or {}, head)
    return overrides


def _check_keys(values, known, where: str) -> None:
    if not isinstance(values, dict):
        raise ConfigError(f"bad --set {where}={values!r}: expected {where}.KEY=VALUE")
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown setting {where}.{key}; {where} has: {', '.join(map(str, known))}")
        if isinstance(known[key], dict) and key not in ("train", "inits", "tasks", "solved"):
            _check_keys(value, known[key], f"{where}.{key}")
        elif isinstance(known[key], dict) and not isinstance(value, dict):
            raise ConfigError(f"bad --set {where}.{key}={value!r}: set one of its keys, e.g. {where}.{key}.KEY=VALUE")
