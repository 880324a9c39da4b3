"""Task registry: every module in this package that subclasses TaskModule adds a task.
Subpackages hold no tasks: tasks/data/ is the tasks' readers and data modules.

`all_tasks()` imports every task module (and so torch and Lightning, seconds); `catalog()`
reads the same names, kinds and descriptions from the modules' source without importing
them, for `list` and anything else that only needs to show what exists.
"""
from __future__ import annotations

import ast
import importlib
import pkgutil
import sys
from pathlib import Path

from benchmark.errors import ConfigError


def all_tasks() -> dict:
    from tasks.base import REGISTRY  # torch and Lightning: only here, not for `catalog()`
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:  # tasks/data/ registers nothing, and the task modules import what they use of it
            importlib.import_module(f"{__name__}.{info.name}")
    return dict(sorted(REGISTRY.items()))


def task_names() -> list[str]:
    """Every task's name without importing the task modules (so a bad name is reported before
    torch loads): the catalogue of tasks/*.py, plus tasks registered from elsewhere (a test, a
    plug-in), which can only exist once tasks.base is loaded."""
    base = sys.modules.get(f"{__name__}.base")
    return sorted({*catalog(), *(base.REGISTRY if base else ())})


def get_task(name: str):
    tasks = all_tasks()
    if name not in tasks:
        raise ConfigError(f"unknown task {name!r}; choose from: {', '.join(tasks)}")
    return tasks[name]


DECLARED = ("name", "kind", "description")


def catalog() -> dict[str, dict]:
    """name -> {"kind", "description"} of every task, from the literal class attributes in tasks/*.py.

    Follows base classes inside this package (a task may inherit its kind), as subclassing
    does; tests check the result equals what `all_tasks()` registers."""
    classes = {}  # class name -> (base names, declared literals)
    for path in sorted(Path(__path__[0]).glob("*.py")):
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
                classes[node.name] = (bases, _literals(node))

    def lookup(cls_name, key, seen=()):
        bases, values = classes.get(cls_name, ((), {}))
        if key in values or cls_name in seen:
            return values.get(key)
        return next((v for b in bases if (v := lookup(b, key, (*seen, cls_name))) is not None), None)

    out = {}
    for cls_name, (_, values) in classes.items():
        if "name" in values:  # as TaskModule.__init_subclass__: declaring `name` registers
            out[values["name"]] = {"kind": lookup(cls_name, "kind"),
                                   "description": lookup(cls_name, "description") or ""}
    return dict(sorted(out.items()))


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
