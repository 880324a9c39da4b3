"""Measurement sizes per profile, read from configs/measurements.yaml (never from code)."""
from __future__ import annotations

from benchmark.config import CONFIG_DIR, ConfigError, load_yaml

FILE = CONFIG_DIR / "measurements.yaml"


def load(profile: str, name: str) -> dict:
    """The `name` block of `profile`, with the profile's seed folded in."""
    data = load_yaml(FILE)
    if profile not in data:
        raise ConfigError(f"{FILE} has no {profile!r} block; profiles there: {', '.join(data)}")
    block = data[profile]
    if name not in block:
        raise ConfigError(f"{FILE}: profile {profile!r} has no {name!r} block")
    return {"seed": int(block.get("seed", 0)), **block[name]}
