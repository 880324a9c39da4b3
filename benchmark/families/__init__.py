"""Family registry: every module in this package with a `FAMILY` spec, then plug-ins.

A family is one file (`base.Family`: its state, parameter formula, fused torch module if any,
scratch cell, parallel scan if any, inits, colour). A plug-in package adds one without editing
rnnbench through the entry-point group `rnnbench.families`, each entry naming a `Family` or a
module that defines `FAMILY`:

    [project.entry-points."rnnbench.families"]
    indrnn = "my_package.indrnn:FAMILY"

Everything that names families asks here: model names (`variants()`: family x direction),
`list`, tables' order, measurements, plots. Loading the registry imports no torch.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
import sys
from importlib.metadata import entry_points
from types import ModuleType

from benchmark.errors import ConfigError, closest
from benchmark.families.base import Family

GROUP = "rnnbench.families"
BACKENDS = {
    "cudnn": "torch's fused kernel (cuDNN on GPU, oneDNN on CPU); a family without one runs its scan",
    "scratch": "our cells, written from the equations (a family with a parallel form runs its scan)",
}
_OWN = ("base",)


@functools.cache
def families() -> dict[str, Family]:
    """name -> Family: this package's families in their files' order of mention below, then plug-ins."""
    found: dict[str, Family] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _OWN:
            _add(found, importlib.import_module(f"{__name__}.{info.name}"), f"{__name__}.{info.name}")
    builtin = {n: found.pop(n) for n in ORDER if n in found}
    found = {**builtin, **found}
    for ep in entry_points(group=GROUP):
        try:
            _add(found, ep.load(), f"entry point {ep.name} = {ep.value}")
        except ConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - a broken plug-in must not take the suite down
            print(f"warning: family plug-in {ep.name!r} ({ep.value}) did not load: {type(e).__name__}: {e}; "
                  f"it is left out (fix or uninstall the package that provides it)", file=sys.stderr)
    return found


ORDER = ("rnn", "lstm", "gru", "mingru", "minlstm")  # the lecture's three first: tables read in this order


def _add(found: dict, obj, source: str) -> None:
    spec = getattr(obj, "FAMILY", None) if isinstance(obj, ModuleType) else obj
    if spec is None and isinstance(obj, ModuleType):
        return  # a helper module of the package
    if not isinstance(spec, Family):
        raise ConfigError(f"{source} gives {type(spec).__name__}, not a benchmark.families.base.Family")
    if spec.name in found:
        raise ConfigError(f"family {spec.name!r} is registered twice: by {found[spec.name].source} and {source}; "
                          f"rename one")
    object.__setattr__(spec, "source", source)
    found[spec.name] = spec


def get(name: str) -> Family:
    known = families()
    if name not in known:
        raise ConfigError(f"unknown family {name!r}; choose from: {', '.join(known)}{closest(name, known)}")
    return known[name]


def variants() -> dict[str, tuple[str, bool]]:
    """Model name -> (family, bidirectional): each family and its bidirectional twin, `bi<family>`."""
    out = {}
    for name in families():
        out[name] = (name, False)
    for name in families():
        out[f"bi{name}"] = (name, True)
    return _ordered(out)


def _ordered(out: dict) -> dict:
    # rnn, lstm, gru, birnn, bilstm, bigru first (the order `list` has always shown), then the rest
    first = [*ORDER[:3], *(f"bi{f}" for f in ORDER[:3])]
    return {**{k: out[k] for k in first if k in out}, **{k: v for k, v in out.items() if k not in first}}
