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
from benchmark.config import (CONFIG_DIR, ConfigError, ModelConfig, TrainConfig, build, closest, count, deep_merge,
                              finite, load_yaml, parse_init, parse_stop_at, show)

FILE = CONFIG_DIR / "measurements.yaml"
BLOCKS = ("parameters", "memory_span", "gradient_flow", "speed")
TOP = ("seed", "seeds", "arms", *BLOCKS)  # a profile's keys
WITH_ARMS = ("memory_span", "gradient_flow")
ARM_KEYS = ("family", "match", "init", "forget_bias")
FREE = ("train", "inits", "tasks", "solved", "caps", "arms", "fixed")  # free-form below these keys (any task, lag, init)
TUNING = ("lag", "lrs", "seeds")
AXIS = {"recall": "lag", "copy": "lag", "adding": "lag", "selective_copy": "lag", "mqar": "pairs"}  # memory tasks: what a point of each axis counts

# What each block's keys hold, checked once `--set` is applied: a key not here is a typo (named
# with the nearest), a value of another kind an error naming it, not a traceback mid-measurement.
# The trees (TREE) are checked further by check_memory_span and check_inits.
COUNT = ("an integer >= 1", lambda v: count(v, 1))
COUNTS = ("a list of integers >= 1", lambda v: isinstance(v, list) and bool(v) and all(count(x, 1) for x in v))
NAMES = ("a list of names", lambda v: isinstance(v, list) and bool(v) and all(isinstance(x, str) for x in v))
POSITIVES = ("a list of finite numbers > 0",
             lambda v: isinstance(v, list) and bool(v) and all(finite(x) and x > 0 for x in v))
FLAG = ("true or false", lambda v: isinstance(v, bool))
TREE = ("a mapping (KEY: VALUE)", lambda v: isinstance(v, dict))
PARALLEL = ("auto or an integer >= 1", lambda v: v == "auto" or count(v, 1))  # as `run --parallel`
KEYS = {
    "memory_span": {"tasks": TREE, "hidden": COUNT, "solved": TREE, "caps": TREE, "tuning": TREE, "parallel": PARALLEL,
                    "train": TREE, "fixed": TREE},
    "gradient_flow": {"hidden": COUNT, "lags": COUNTS, "batch": COUNT, "inits": TREE, "radii": POSITIVES},
    "speed": {"families": NAMES, "backends": NAMES, "precisions": NAMES, "compile": FLAG, "hidden": COUNTS,
              "seq": COUNTS, "batch": COUNT, "warmup": ("an integer >= 0", count), "repeats": COUNT,
              "latency_repeats": COUNT},
    "parameters": {"hidden": COUNTS, "input_size": COUNT, "families": NAMES},
}


def load(profile: str, name: str, seeds: int | None = None, overrides: dict | None = None) -> dict:
    data = load_yaml(FILE)
    if profile not in data:
        raise ConfigError(f"{FILE} has no {show(profile)} block; profiles there: {', '.join(map(str, data))}"
                          f"{closest(profile, data)}")
    block = check_keys(data[profile], profile)
    if name not in block:
        raise ConfigError(f"{FILE}: profile {profile!r} has no {name!r} block")
    settings = block[name]
    over = check_overrides(overrides or {}, block).get(name)
    if over:
        settings = deep_merge(settings, over)
    first, n = block.get("seed", 0), seeds if seeds is not None else block.get("seeds", 1)
    if not count(first):
        raise ConfigError(f"{FILE}: profile {profile!r}: bad seed {show(first)}: expected the first seed, an "
                          f"integer >= 0")
    if not count(n, 1):
        raise ConfigError(f"bad --seeds {show(n)} (or seeds in profile {profile!r}): expected an integer >= 1")
    check_values(settings, name, profile)
    out = {"seed": first, "seeds": list(range(first, first + n)), **settings}
    if name in WITH_ARMS:
        out["arms"] = check_arms(block.get("arms"), profile)
    for family in out.get("families") or []:  # speed, parameters: registered families only
        if family not in families.families():
            raise ConfigError(f"{FILE}: profile {profile!r} {name}.families names {family!r}; registered families: "
                              f"{', '.join(families.families())}")
    if name == "memory_span":
        check_memory_span(out, profile)
    if name == "gradient_flow":
        check_inits(out.get("inits") or {}, profile)
    # As JSON will hold it (keys as strings: caps' lags), so a finished measurement read back
    # from its JSON compares equal to the settings that made it, and a `--set` lag replaces its cap.
    return _as_json(out)


def _as_json(tree):
    if isinstance(tree, dict):
        return {str(k): _as_json(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_as_json(v) for v in tree]
    return tree


def check_keys(block, profile: str) -> dict:
    """A profile's block of the file, its keys and each measurement's keys known (else the nearest named)."""
    where = f"{FILE}: profile {profile!r}"
    if not isinstance(block, dict):
        raise ConfigError(f"{where} must hold its measurements as KEY: VALUE, not {show(block)}")
    for key, value in block.items():
        if key not in TOP:
            raise ConfigError(f"{where}: unknown key {show(key)}; a profile holds {', '.join(TOP)}{closest(key, TOP)}")
        if key in KEYS and not isinstance(value, dict):
            raise ConfigError(f"{where}: `{key}` must hold its settings as KEY: VALUE, not {show(value)}")
        for sub in value if key in KEYS else ():
            if sub not in KEYS[key]:
                raise ConfigError(f"{where}: unknown setting {key}.{sub}; {key} has: {', '.join(KEYS[key])}"
                                  f"{closest(sub, KEYS[key])}")
    return block


def check_values(settings: dict, name: str, profile: str) -> None:
    """Each value of measurement `name` (after `--set`) of the kind KEYS says."""
    for key, value in settings.items():
        what, ok = KEYS[name][key]
        if not ok(value):
            raise ConfigError(f"bad {name}.{key} {show(value)} (profile {profile!r}): expected {what}")


def check_inits(inits: dict, profile: str) -> None:
    """gradient_flow.inits: label -> model settings, each a ModelConfig's (on the LSTM, as the check builds it)."""
    for label, model in inits.items():
        where = f"{FILE}: profile {profile!r} gradient_flow.inits.{label}"
        if not isinstance(model, dict):
            raise ConfigError(f"{where}: expected model settings, e.g. {{init: pytorch}}, not {show(model)}")
        try:
            build(ModelConfig, model, "model")
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None


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
            raise ConfigError(f"{where}: arm {name!r} has unknown key {show(bad[0])}; keys: {', '.join(ARM_KEYS)}"
                              f"{closest(bad[0], ARM_KEYS)}")
        if spec.get("match") not in (None, *known):
            raise ConfigError(f"{where}: arm {name!r} match {show(spec['match'])}: expected one of {', '.join(known)}")
        if not finite(spec.get("forget_bias", 1.0)):
            raise ConfigError(f"{where}: arm {name!r} forget_bias {show(spec['forget_bias'])}: expected a finite "
                              f"number")
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
    for key in tuning:
        if key not in TUNING:
            raise ConfigError(f"{where}.tuning: unknown key {show(key)}; tuning has: {', '.join(TUNING)}"
                              f"{closest(key, TUNING)}")
    if not isinstance(tuning.get("seeds"), list) or not all(count(s) for s in tuning["seeds"]):
        raise ConfigError(f"{where}.tuning.seeds {show(tuning.get('seeds'))}: expected a list of seeds (integers >= 0) "
                          f"apart from the measurement seeds, e.g. [1000, 1001, 1002]")
    overlap = set(tuning.get("seeds") or []) & set(settings["seeds"])
    if not tuning.get("seeds") or overlap:
        raise ConfigError(f"{where}.tuning.seeds {show(tuning.get('seeds'))}: expected seeds apart from the "
                          f"measurement seeds "
                          f"{settings['seeds'][0]}..{settings['seeds'][-1]} (e.g. 1000, 1001, 1002)")
    if not POSITIVES[1](tuning.get("lrs")):
        raise ConfigError(f"{where}.tuning.lrs {show(tuning.get('lrs'))}: expected a list of positive learning rates")
    solved = settings.get("solved") or {}
    for task, target in solved.items():
        try:
            ok = parse_stop_at(target) is not None  # "" is off for train.stop_at; here a task needs its target
        except ConfigError:
            ok = False
        if not ok:
            raise ConfigError(f"{where}.solved.{task} {show(target)}: expected the test metric's target, METRIC>=VALUE "
                              f"or METRIC<=VALUE, e.g. recall_acc>=0.99")
    try:
        build(TrainConfig, settings.get("train"), "memory_span.train")
    except ConfigError as e:
        raise ConfigError(f"{where}.train: {e}") from None
    for task, held in (settings.get("fixed") or {}).items():
        if task not in (settings.get("tasks") or {}) or not isinstance(held, dict):
            raise ConfigError(f"{where}.fixed.{task} {show(held)}: expected the settings a task of memory_span.tasks "
                              f"holds fixed while its axis varies, e.g. fixed: {{mqar: {{vocab: 256, length: 64}}}}")
    for task, lags in (settings.get("tasks") or {}).items():
        if not lags:
            continue
        if task not in AXIS:
            raise ConfigError(f"{where}.tasks names {show(task)}, which has no memory axis; memory tasks: "
                              f"{', '.join(AXIS)}{closest(task, AXIS)}")
        if task not in solved:
            raise ConfigError(f"{where}.tasks names {show(task)}, which memory_span.solved has no target for; tasks "
                              f"there: {', '.join(map(str, solved))}{closest(task, solved)}")
        if not COUNTS[1](lags):
            raise ConfigError(f"{where}.tasks.{task} {show(lags)}: expected {COUNTS[0]} (the lags)")
        task_caps = (settings.get("caps") or {}).get(task) or {}
        if not isinstance(task_caps, dict) or not all(str(k).isdigit() and count(v, 1) for k, v in task_caps.items()):
            raise ConfigError(f"{where}.caps.{task} {show(task_caps)}: expected lag: steps (integers >= 1), e.g. "
                              f"{{{lags[0]}: 2000}}")
        caps = {int(k) for k in task_caps}
        lag = (tuning.get("lag") or {}).get(task)
        if lag is None:
            raise ConfigError(f"{where}.tuning.lag has no lag for task {task}: set one, e.g. {task}: {min(lags)}")
        if not count(lag, 1):
            raise ConfigError(f"{where}.tuning.lag.{task} {show(lag)}: expected a lag, an integer >= 1")
        missing = sorted(({int(x) for x in lags} | {int(lag)}) - caps)
        if missing:
            raise ConfigError(f"{where}.caps.{task} lacks a cap for lag(s) {missing}: give the most steps per lag, "
                              f"e.g. --set memory_span.caps.{task}.{missing[0]}=2000")


def check_overrides(overrides: dict, block: dict) -> dict:
    """The `--set` tree, each path checked against the profile's blocks."""
    for head, values in overrides.items():
        if head not in BLOCKS:
            raise ConfigError(f"bad --set section {show(head)} for a measurement: expected one of {', '.join(BLOCKS)} "
                              f"(e.g. --set memory_span.train.max_steps=2000){closest(head, BLOCKS)}")
        _check_keys(values, block.get(head) or {}, head)
    return overrides


def _check_keys(values, known, where: str) -> None:
    if not isinstance(values, dict):
        raise ConfigError(f"bad --set {where}={show(values)}: expected {where}.KEY=VALUE")
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown setting {where}.{key}; {where} has: {', '.join(map(str, known))}"
                              f"{closest(key, known)}")
        if isinstance(known[key], dict) and key not in FREE:
            _check_keys(value, known[key], f"{where}.{key}")
        elif isinstance(known[key], dict) and not isinstance(value, dict):
            raise ConfigError(f"bad --set {where}.{key}={show(value)}: set one of its keys, e.g. "
                              f"{where}.{key}.KEY=VALUE")
