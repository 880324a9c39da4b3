"""Measurements of the lecture's RNN-vs-LSTM claims, one module per claim.

Each module has `NAME` and `run(settings, out_dir, profile) -> result`, where `settings` is its
block of configs/measurements.yaml for the profile, with `seeds` (a list) folded in; every
measurement runs over those seeds and keeps one row per seed (`stats` summarises them). A result is a JSON-ready dict holding the
measured rows, a unit per quantity, the settings, seed, device and library versions
(`environment.provenance`); `results.write` saves it as JSON + CSV. Measurements return
results and never plot: the reports draw them (benchmark/reports/plots.py).
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

from benchmark.measurements import results
from benchmark.measurements.settings import load

# measure sub-command name -> module in this package (its NAME, folder and settings block too)
MEASUREMENTS = {"params": "parameters", "memory-span": "memory_span", "gradient-flow": "gradient_flow",
                "speed": "speed"}


def module(name: str):
    # Imported on use: the modules load torch, and `--help` lists these names without it.
    return importlib.import_module(f"benchmark.measurements.{MEASUREMENTS[name]}")


def measure(name: str, profile: str, out_dir, reuse: bool = False, seeds: int | None = None,
            overrides: dict | None = None, tracking=None) -> dict:
    """Run one measurement into out_dir/<module name>/ (or reuse a finished one with the same
    settings). `seeds`: how many (default: the profile's); `overrides`: `--set` tree;
    `tracking`: a planned launchers.tracking.Tracking its trained cells log to (memory span)."""
    settings = load(profile, MEASUREMENTS[name], seeds, overrides)  # bad settings: reported before torch loads
    mod = module(name)
    folder = Path(out_dir) / mod.NAME
    inputs = mod.inputs(folder) if hasattr(mod, "inputs") else None  # what it reads of other measurements
    if reuse:
        old = results.read(folder, mod.NAME)
        if old is not None and old.get("settings") == settings and old.get("inputs") == inputs:
            print(f"{name}: reusing {folder / (mod.NAME + '.json')}")
            return old
    print(f"{name}: measuring ({profile} profile) into {folder}")
    start = time.perf_counter()
    trains = getattr(mod, "TRAINS_CELLS", False)  # the one that trains cells through the launchers
    result = mod.run(settings, folder, profile, tracking=tracking) if trains else mod.run(settings, folder, profile)
    result.setdefault("wall_s", round(time.perf_counter() - start, 1))
    results.write(folder, mod.NAME, result)
    return result
