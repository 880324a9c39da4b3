"""Task registry: every module in this package that subclasses TaskModule adds a task."""
from __future__ import annotations

import importlib
import pkgutil

from benchmark.config import ConfigError


def all_tasks() -> dict:
    from tasks.base import REGISTRY
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return dict(sorted(REGISTRY.items()))


def get_task(name: str):
    tasks = all_tasks()
    if name not in tasks:
        raise ConfigError(f"unknown task {name!r}; choose from: {', '.join(tasks)}")
    return tasks[name]
