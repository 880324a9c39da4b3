"""The Python API: train a matrix from a notebook or a script and get its records as a DataFrame.

    from benchmark import api
    df = api.run(tasks=["copy"], models=["rnn", "lstm"], settings={"copy.delay": 20, "train.max_steps": 200})
    df[["cell", "status", "test/acc", "train_tokens_per_s"]]

`run` is `python -m benchmark run` without the command line: the same cells (names and values
checked the same way, ConfigError on bad input), the same results folder (finished cells are
kept and skipped next time, so a second call resumes), the same records. It returns one row per
cell of the selection, this call's and those already done; `load(folder)` reads any folder back.
The tables people read stay `python -m benchmark table DIR`; this is the data behind them.
"""
from __future__ import annotations

import os
from typing import Iterable, Mapping

import pandas as pd

from benchmark import config
from benchmark.engine.cells import build_cells
from benchmark.engine.environment import threads_for, use_threads
from benchmark.engine.records import upgrade
from benchmark.engine.store import ResultsStore
from benchmark.errors import ConfigError

# Columns first in every frame, in this order; the rest follow (metrics flattened: "test/acc", ...).
LEADING = ("cell", "task", "model", "backend", "seed", "status", "profile", "group")


def run(tasks: Iterable[str] | str | None = None, models: Iterable[str] | str | None = None, *,
        settings: Mapping | None = None, seeds: int = 1, backend: str | Iterable[str] = "cudnn",
        profile: str = "smoke", out: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None,
        parallel: int | str = "auto", threads: int | None = None, retry_failed: bool = False,
        wandb: str = "disabled", stream=None) -> pd.DataFrame:
    """Train tasks x models x seeds (those not already in `out`) and return their records.

    - `tasks`, `models`: names as `list` shows them (None: every task, every model variant).
    - `settings`: overrides as `--set` spells them, flat (`{"copy.delay": 20, "model.hidden": 64}`)
      or nested (`{"copy": {"delay": 20}}`).
    - `out`: the results folder (default `results/<profile>`, as `run`); `data_dir` as `--data-dir`.
    - `parallel`, `threads`: as `--parallel` and `--threads`; `wandb`: online, offline or disabled.
    - `stream`: where the per-cell lines go (default: stdout).
    """
    from benchmark.launchers import run_matrix

    names = _names(tasks)
    cells = build_cells(names, _names(models), _names(backend), seeds, profile, _overrides(settings))
    use_threads(threads)
    folder = os.fspath(out) if out is not None else os.path.join("results", profile)
    extra = {} if stream is None else {"stream": stream}
    run_matrix(cells, folder, data_dir=os.fspath(data_dir) if data_dir is not None else None,
               retry_failed=retry_failed, parallel=parallel, threads=threads_for(threads), wandb=wandb, **extra)
    keys = {c.key for c in cells}
    return frame([r for r in ResultsStore(folder).current() if r["key"] in keys])


def load(folder: str | os.PathLike) -> pd.DataFrame:
    """Every cell of a results folder (its latest record each), as `run` returns them."""
    store = ResultsStore(folder)
    if not os.path.lexists(store.path):
        raise ConfigError(f"{os.fspath(folder)} holds no results.jsonl: point `load` at a folder written by `run`")
    return frame(store.current())


def frame(records: list[dict]) -> pd.DataFrame:
    """Records as a DataFrame: one row per record, scalar fields as columns, each metric its own
    column ("test/acc", "val/loss"), nested fields (config, baselines, data) kept as dicts."""
    rows = []
    for r in map(upgrade, records):
        row = {k: v for k, v in r.items() if k != "metrics"}
        row.update(r.get("metrics") or {})
        rows.append(row)
    df = pd.DataFrame(rows)
    leading = [c for c in LEADING if c in df.columns]
    return df[leading + [c for c in df.columns if c not in leading]]


def _names(value) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else [",".join(value)]


def _overrides(settings: Mapping | None) -> dict:
    """Flat dotted keys and nested sections alike, as `--set` would give them."""
    flat: dict = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            if "." not in prefix:
                raise ConfigError(f"bad setting {config.show(prefix)}: expected SECTION.KEY (e.g. train.lr or "
                                  f"copy.delay), flat or nested")
            flat[prefix] = value

    walk("", settings or {})
    return config.nest(flat)
