"""Task registry: every module in this package that subclasses TaskModule adds a task, and so
does every entry point of group `rnnbench.tasks` (a plug-in package's task, added without
editing rnnbench; each entry names a module or a TaskModule subclass, the entry's name is the
task's name):

    [project.entry-points."rnnbench.tasks"]
    majority = "my_package.majority"

Subpackages hold no tasks: tasks/data/ is the tasks' readers and data modules.

`all_tasks()` imports every task module, plug-ins' too (and so torch and Lightning, seconds);
`catalog()` reads the same names, kinds and descriptions from the modules' source without
importing them (a plug-in's module is found by its entry point, not imported), for `list` and
anything else that only needs to show what exists. A plug-in that cannot be found or loaded is
left out with a one-line warning.
"""
from __future__ import annotations

import ast
import functools
import importlib
import importlib.machinery
import importlib.util
import pkgutil
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from benchmark.errors import ConfigError

GROUP = "rnnbench.tasks"
_FAILED: dict[str, str] = {}  # plug-in task name -> why it did not load


def all_tasks() -> dict:
    from tasks.base import REGISTRY  # torch and Lightning: only here, not for `catalog()`
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:  # tasks/data/ registers nothing, and the task modules import what they use of it
            importlib.import_module(f"{__name__}.{info.name}")
    _load_plugins()
    return dict(sorted(REGISTRY.items()))


def task_names() -> list[str]:
    """Every task's name without importing the task modules (so a bad name is reported before
    torch loads): the catalogue of tasks/*.py and of the plug-ins, plus tasks registered from
    elsewhere (a test), which can only exist once tasks.base is loaded."""
    base = sys.modules.get(f"{__name__}.base")
    return sorted({*catalog(), *(base.REGISTRY if base else ())})


def get_task(name: str):
    tasks = all_tasks()
    if name in _FAILED:
        raise ConfigError(f"task {name!r} comes from a plug-in that did not load ({_FAILED[name]}); "
                          f"fix or uninstall the package that provides it")
    if name not in tasks:
        from benchmark.config import closest
        raise ConfigError(f"unknown task {name!r}; choose from: {', '.join(tasks)}{closest(name, tasks)}")
    return tasks[name]


def plugin_sources() -> dict[str, str]:
    """name -> "entry point NAME = VALUE" of each plug-in task in the catalogue."""
    return {name: f"entry point {ep.name} = {ep.value}" for name, ep in _plugins().items()}


DECLARED = ("name", "kind", "description")


def catalog() -> dict[str, dict]:
    """name -> {"kind", "description"} of every task, from the literal class attributes in tasks/*.py
    and in the plug-ins' modules.

    Follows base classes inside this package (a task may inherit its kind), as subclassing
    does; tests check the result equals what `all_tasks()` registers."""
    classes = _builtin_classes()
    out = {}
    for cls_name, (_, values) in classes.items():
        if "name" in values:  # as TaskModule.__init_subclass__: declaring `name` registers
            out[values["name"]] = _entry(classes, cls_name)
    for name, (_, entry) in _plugin_catalog().items():
        out[name] = entry
    return dict(sorted(out.items()))


@functools.cache
def _builtin_classes() -> dict:
    """class name -> (base names, declared literals) of every class in tasks/*.py."""
    classes = {}
    for path in sorted(Path(__path__[0]).glob("*.py")):
        classes.update(_classes(ast.parse(path.read_text(), str(path))))
    return classes


def _classes(tree: ast.Module) -> dict:
    classes = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
            classes[node.name] = (bases, _literals(node))
    return classes


def _lookup(classes: dict, cls_name: str, key: str, seen=()):
    bases, values = classes.get(cls_name, ((), {}))
    if key in values or cls_name in seen:
        return values.get(key)
    return next((v for b in bases if (v := _lookup(classes, b, key, (*seen, cls_name))) is not None), None)


def _entry(classes: dict, cls_name: str) -> dict:
    return {"kind": _lookup(classes, cls_name, "kind"), "description": _lookup(classes, cls_name, "description") or ""}


def _literals(node: ast.ClassDef) -> dict:
    values = {}
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            key = stmt.targets[0].id
            if key in DECLARED:
                try:
                    values[key] = ast.literal_eval(stmt.value)
                except ValueError:
                    pass  # not a literal: `all_tasks()` still knows it; the catalogue test catches it
    return values


# --- plug-ins -----------------------------------------------------------------------------------
def _plugins() -> dict[str, EntryPoint]:
    """name -> entry point of each plug-in task found in the catalogue."""
    return {name: ep for name, (ep, _) in _plugin_catalog().items()}


@functools.cache
def _plugin_catalog() -> dict[str, tuple[EntryPoint, dict]]:
    """name -> (entry point, {"kind", "description"}), read from each plug-in module's source."""
    builtin = {values["name"] for _, values in _builtin_classes().values() if "name" in values}
    found: dict[str, tuple[EntryPoint, dict]] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        source = f"entry point {ep.name} = {ep.value}"
        if ep.name in builtin or ep.name in found:
            first = f"tasks/ ({ep.name})" if ep.name in builtin else f"entry point {ep.name} = {found[ep.name][0].value}"
            raise ConfigError(f"task {ep.name!r} is registered twice: by {first} and {source}; rename one")
        try:
            entry = _plugin_entry(ep)
        except Exception as e:  # noqa: BLE001 - a broken plug-in must not take `list` down
            _warn(ep, f"could not be read: {type(e).__name__}: {e}")
            continue
        if entry is not None:
            found[ep.name] = (ep, entry)
    return found


def _plugin_entry(ep: EntryPoint) -> dict | None:
    path = _module_file(ep.module)
    if path is None:
        _warn(ep, f"names module {ep.module!r}, which is not on the path (or not a .py file)")
        return None
    classes = _classes(ast.parse(Path(path).read_text(), path))
    if ep.attr:  # a class: its `name` must be the entry point's
        cls_name = ep.attr if _lookup(classes, ep.attr, "name") == ep.name else None
    else:
        cls_name = next((c for c, (_, v) in classes.items() if v.get("name") == ep.name), None)
    if cls_name is None:
        _warn(ep, f"finds no class{f' {ep.attr}' if ep.attr else ''} declaring name = {ep.name!r} in {path}; "
                  f"name the entry point after the task's `name`")
        return None
    return _entry({**_builtin_classes(), **classes}, cls_name)


def _module_file(module: str) -> str | None:
    """The source file of a dotted module name, found without importing it or its packages."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)  # a top-level name: looked up, not imported
    for part in rest:
        if spec is None or not spec.submodule_search_locations:
            return None
        spec = importlib.machinery.PathFinder.find_spec(part, list(spec.submodule_search_locations))
    if spec is None or not spec.has_location or not str(spec.origin).endswith(".py"):
        return None
    return spec.origin


@functools.cache
def _load_plugins() -> None:
    """Import each catalogued plug-in (torch loads here); one that fails is left out, with a warning."""
    from tasks.base import REGISTRY, TaskModule
    for name, ep in _plugins().items():
        try:
            obj = ep.load()
        except Exception as e:  # noqa: BLE001
            _FAILED[name] = f"{type(e).__name__}: {e}"
            _warn(ep, f"did not load: {_FAILED[name]}")
            continue
        cls = REGISTRY.get(name)
        if isinstance(obj, type) and not (issubclass(obj, TaskModule) and obj is cls):
            cls = None
        if cls is None:
            _FAILED[name] = f"{ep.value} registers no TaskModule subclass with name = {name!r}"
            _warn(ep, f"did not load: {_FAILED[name]}")


def _warn(ep: EntryPoint, what: str) -> None:
    print(f"warning: task plug-in {ep.name!r} ({ep.value}) {what}; it is left out "
          f"(fix or uninstall the package that provides it)", file=sys.stderr)
