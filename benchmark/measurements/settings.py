"""Measurement sizes per profile, read from configs/measurements.yaml (never from code).

`load(profile, name, seeds, overrides)` returns one measurement's block with the profile's
seeds folded in as an explicit list (`seeds`: 0..N-1 from the profile's `seed`), and, for the
measurements that compare arms (memory span, gradient flow), the profile's `arms`, after
`--seeds N` and `--set BLOCK.KEY=VALUE` overrides. An override may only replace a key the
block already has (a typo is an error naming the keys there, not a silently ignored value).
Everything is checked here, before torch loads: arms, caps for every lag, tuning seeds apart
from the measurement seeds.
"""
from __future__ import annotations

from benchmark import families
from benchmark.config import CONFIG_DIR, ConfigError, deep_merge, load_yaml, parse_init

FILE = CONFIG_DIR / "measurements.yaml"
BLOCKS = ("parameters", "memory_span", "gradient_flow", "speed")
WITH_ARMS = ("memory_span", "gradient_flow")
ARM_KEYS = ("family", "match", "init", "forget_bias")
FREE = ("train", "inits", "tasks", "solved", "caps", "arms")  # free-form below these keys (any task, lag, init)


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
    out = {"seed": first, "seeds": list(range(first, first + n)), **settings}
    if name in WITH_ARMS:
        out["arms"] = check_arms(block.get("arms"), profile)
    for family in out.get("families") or []:  # speed, parameters: registered families only
        if family not in families.families():
            raise ConfigError(f"{FILE}: profile {profile!r} {name}.families names {family!r}; registered families: "
                              f"{', '.join(families.families())}")
    if name == "memory_span":
        check_memory_span(out, profile)
    # As JSON will hold it (keys as strings: caps' lags), so a finished measurement read back
    # from its JSON compares equal to the settings that made it, and a `--set` lag replaces its cap.
    return _as_json(out)


def _as_json(tree):
    if isinstance(tree, dict):
        return {str(k): _as_json(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_as_json(v) for v in tree]
    return tree


def check_arms(arms, profile: str) -> dict:
    where = f"{FILE}: profile {profile!r} arms"
    known = families.families()
    if not isinstance(arms, dict) or not arms:
        raise ConfigError(f"{where}: expected a mapping of arm name -> {{family: {'|'.join(known)}, ...}}")
    for name, spec in arms.items():
        if not isinstance(spec, dict) or spec.get("family") not in known:
            raise ConfigError(f"{where}: arm {name!r} needs family: one of {', '.join(known)}")
        bad = [k for k in spec if k not in ARM_KEYS]
        if bad:
            raise ConfigError(f"{where}: arm {name!r} has unknown key {bad[0]!r}; keys: {', '.join(ARM_KEYS)}")
        if spec.get("match") not in (None, *known):
            raise ConfigError(f"{where}: arm {name!r} match {spec['match']!r}: expected one of {', '.join(known)}")
        kind = parse_init(spec.get("init", "orthogonal"))[0]
        if kind not in known[spec["family"]].inits:
            raise ConfigError(f"{where}: arm {name!r}: init {spec['init']!r} does not apply to {spec['family']} "
                              f"(its inits: {', '.join(known[spec['family']].inits)})")
    return arms


def check_memory_span(settings: dict, profile: str) -> None:
    """Caps for every lag (and the tuning lag), a tuning lag per task, tuning seeds that the
    measurement never uses."""
    where = f"{FILE}: profile {profile!r} memory_span"
    tuning = settings.get("tuning") or {}
    overlap = set(tuning.get("seeds") or []) & set(settings["seeds"])
    if not tuning.get("seeds") or overlap:
        raise ConfigError(f"{where}.tuning.seeds {tuning.get('seeds')}: expected seeds apart from the measurement seeds "
                          f"{settings['seeds'][0]}..{settings['seeds'][-1]} (e.g. 1000, 1001, 1002)")
    if not tuning.get("lrs") or not all(isinstance(x, (int, float)) and x > 0 for x in tuning["lrs"]):
        raise ConfigError(f"{where}.tuning.lrs {tuning.get('lrs')}: expected a list of positive learning rates")
    for task, lags in (settings.get("tasks") or {}).items():
        if not lags:
            continue
        caps = {int(k) for k in ((settings.get("caps") or {}).get(task) or {})}
        lag = (tuning.get("lag") or {}).get(task)
        if lag is None:
            raise ConfigError(f"{where}.tuning.lag has no lag for task {task}: set one, e.g. {task}: {min(lags)}")
        missing = sorted(({int(x) for x in lags} | {int(lag)}) - caps)
        if missing:
            raise ConfigError(f"{where}.caps.{task} lacks a cap for lag(s) {missing}: give the most steps per lag, "
                              f"e.g. --set memory_span.caps.{task}.{missing[0]}=2000")


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
        if isinstance(known[key], dict) and key not in FREE:
            _check_keys(value, known[key], f"{where}.{key}")
        elif isinstance(known[key], dict) and not isinstance(value, dict):
            raise ConfigError(f"bad --set {where}.{key}={value!r}: set one of its keys, e.g. {where}.{key}.KEY=VALUE")
