"""Memory span: over a grid of lags, which lags each family learns to bridge, over seeds.

A lag is how many steps a model must hold what it saw before it is asked for it:
- `recall` (the copy task with one symbol, `copy.symbols=1`): one symbol, blanks, a
  delimiter, then the symbol is asked for: lag = delay + 1. The cheapest pure memory test.
- `copy` (Arjovsky et al. 2016): ten symbols held delay + 10 steps each.
- `adding` (Hochreiter & Schmidhuber 1997): the first marked value can sit at the first step:
  lag = the sequence length T.

Every (task, model, lag, seed) is a matrix cell (`benchmark.engine`) with one training budget,
trained by `benchmark.launchers.run_matrix` into a results store under the run folder, so
cells that finished are reused when the measurement runs again. A cell stops once its
validation metric reaches the task's target (`train.stop_at`): its stopping step is the steps
it needed (sample efficiency), and its learning curve stays in its logs.

Solved: a seed solves a lag when its test metric (fresh sequences) reaches the target; a lag
is solved when at least 2 of 3 seeds do (`stats.is_solved`), reported with a Wilson interval;
the largest lag solved is the largest grid lag solved with every shorter one solved too.

Calibration comes first: every model must solve the shortest lag of a task at the budget used.
If one does not, the budget (max_steps) doubles, up to `budget_cap`; the whole grid then
trains at the budget that passed, or at the cap with the task marked `calibrated: false` (its
rows are then inconclusive: the budget was too small to tell memory from optimisation).

Besides the models at one hidden size, the RNN and GRU are widened to the LSTM's parameter
count (`param_matched`), so a longer LSTM span cannot be put down to its 4x parameters alone.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from benchmark.config import parse_stop_at, profiles
from benchmark.engine.cells import build_cells
from benchmark.engine.environment import device, provenance
from benchmark.engine.store import ResultsStore
from benchmark.launchers import run_matrix
from benchmark.measurements import stats
from benchmark.measurements.parameters import matched_hidden
from benchmark.models import encoder_param_count
from tasks.data.synthetic import VOCAB

NAME = "memory_span"
UNITS = {"lag": "time steps a symbol or value is held", "value": "the task's test metric (recall_acc: fraction; "
         "mse: squared error)", "largest_lag_solved": "time steps (largest grid lag solved by >= 2 of 3 seeds, "
         "every shorter lag too)", "steps_to_solve": "training steps until validation reached the target",
         "budget": "training steps allowed per cell (max_steps)"}
CHANCE = {"recall": 1 / 8, "copy": 1 / 8}  # a uniform guess among the 8 symbols


def task_cell(task: str, lag: int) -> tuple[str, dict]:
    """(matrix task, its settings) for a lag of a memory task."""
    if task == "recall":
        return "copy", {"delay": lag - 1, "symbols": 1}
    if task == "copy":
        return "copy", {"delay": lag - 10, "symbols": 10}
    if task == "adding":
        return "adding", {"length": lag}
    raise ValueError(f"unknown memory task {task!r}; choose from recall, copy, adding")


def reached(value: float | None, spec: str) -> bool:
    """Whether a test metric meets a target written as the cells' `train.stop_at` ('recall_acc>=0.99')."""
    _, op, threshold = parse_stop_at(spec)
    return value is not None and (value >= threshold if op == ">=" else value <= threshold)


def variants(settings: dict) -> list[tuple[str, str, int]]:
    """(label, variant, hidden): the models at one hidden size, then the parameter-matched ones."""
    hidden = settings["hidden"]
    out = [(m, m, hidden) for m in settings["models"]]
    target_params = encoder_param_count("lstm", VOCAB, hidden)
    for family in settings.get("param_matched") or []:
        out.append((f"{family}-matched", family, matched_hidden(family, VOCAB, target_params)))
    return out


def run_profile(profile: str) -> str | None:
    """The run profile the cells build on (its precision, clipping...): the measurement
    profile's namesake in configs/profiles/ when there is one, else the defaults."""
    return profile if profile in profiles() else None


def cells(settings: dict, profile: str, task: str, lags, budget: int) -> dict:
    """{cell key: (label, lag, seed, cell)} for every model at these lags, every seed."""
    out = {}
    metric_spec = settings["solved"][task]
    train = {**settings["train"], "max_steps": budget, "stop_at": metric_spec}
    for lag in lags:
        matrix_task, task_settings = task_cell(task, lag)
        for label, variant, hidden in variants(settings):
            overrides = {matrix_task: task_settings, "model": {"hidden": hidden}, "train": train}
            for cell in build_cells([matrix_task], [variant], ["cudnn"], settings["seeds"], run_profile(profile),
                                    overrides):
                out[cell.key] = (label, lag, cell.seed, cell)
    return out


def run(settings: dict, out_dir, profile: str) -> dict:
    store_dir = Path(out_dir) / "cells"
    rows, calibration, failed = [], {}, 0
    for task, lags in settings["tasks"].items():
        lags = sorted(lags or [])
        if not lags:  # `--set memory_span.tasks.copy=[]` leaves a task out
            continue
        budget, tried = int(settings["train"]["max_steps"]), []
        while True:  # calibration: the shortest lag, doubling the budget until every model solves it
            tried.append(budget)
            first = cells(settings, profile, task, lags[:1], budget)
            failed += len(_train(first, store_dir, settings).failed)
            latest = ResultsStore(store_dir).latest()
            unsolved = [label for label, _, _ in variants(settings)
                        if not stats.is_solved(_solved_flags(first, latest, label, settings["solved"][task]))]
            if not unsolved or budget * 2 > settings["budget_cap"]:
                break
            print(f"memory-span: {task}: {', '.join(unsolved)} did not solve lag {lags[0]} in {budget} steps; "
                  f"doubling the budget to {budget * 2} (cap {settings['budget_cap']})")
            budget *= 2
        calibration[task] = {"lag": lags[0], "budget": budget, "tried": tried, "calibrated": not unsolved,
                             "unsolved": unsolved}
        grid = cells(settings, profile, task, lags, budget)
        _announce(task, grid, budget, store_dir, settings.get("parallel", 1))
        failed += len(_train(grid, store_dir, settings).failed)
        rows += _rows(task, grid, store_dir, settings)
    return {"name": NAME, "profile": profile, "settings": settings, "units": UNITS, "rows": rows,
            "calibration": calibration, "spans": spans(rows, settings), "failed_cells": failed,
            "cells_store": str(store_dir / "results.jsonl"), **provenance(device(), settings["seed"])}


def _train(planned: dict, store_dir, settings):
    return run_matrix([c for *_, c in planned.values()], store_dir, parallel=settings.get("parallel", 1))


def _announce(task, grid, budget, store_dir, parallel: int) -> None:
    """Before the grid trains: how many cells are left, and their wall time if every one ran
    its whole budget, from the step times of the cells done (cells that reach the target stop
    early, so this is an upper bound)."""
    latest = ResultsStore(store_dir).latest()
    todo = [c for *_, c in grid.values() if c.key not in latest]
    per_step = {}  # seconds per training step per sequence step, per model, from the cells already trained
    for r in latest.values():
        if r.get("status") == "ok" and r.get("train_steps"):
            model = (r["model"], r["config"]["model"]["hidden"])
            per_step.setdefault(model, []).append(r["train_s"] / r["train_steps"] / max(1, _length(r["config"]["settings"])))
    rate = {m: statistics.median(v) for m, v in per_step.items()}
    known = [c for c in todo if (c.model.variant, c.model.hidden) in rate]
    bound = sum(budget * _length(c.config()["settings"]) * rate[(c.model.variant, c.model.hidden)] for c in known)
    when = (f"; at most ~{bound / max(1, parallel) / 60:.0f} min if every cell ran its whole budget "
            f"({parallel} at a time, at the step times of the cells done)" if known else "")
    print(f"memory-span: {task}: {len(todo)} of {len(grid)} cells to train, up to {budget} steps each{when}")


def _length(settings: dict) -> int:
    """Sequence length of a memory cell from its task settings (adding: length; copy: delay + 2 symbols)."""
    return int(settings.get("length") or (settings.get("delay", 0) + 2 * settings.get("symbols", 10)))


def _solved_flags(planned, latest, label, spec) -> list[bool]:
    """Per seed, whether the `label` cells among `planned` reached the target."""
    metric = parse_stop_at(spec)[0]
    return [reached(_metric(latest.get(key), metric), spec) for key, (lab, *_) in planned.items() if lab == label]


def _metric(record, metric):
    if not record or record.get("status") != "ok":
        return None
    return record["metrics"].get(f"test/{metric}")


def _rows(task, planned, store_dir, settings) -> list[dict]:
    latest = ResultsStore(store_dir).latest()
    spec = settings["solved"][task]
    metric = parse_stop_at(spec)[0]
    rows = []
    for key, (label, lag, seed, cell) in planned.items():
        r = latest.get(key)
        value = _metric(r, metric)
        ok = bool(r) and r.get("status") == "ok"
        rows.append({"task": task, "model": label, "family": cell.model.family, "hidden": cell.model.hidden,
                     "lag": lag, "seed": seed, "metric": metric, "value": value, "target": spec,
                     "solved": reached(value, spec),
                     "steps_to_solve": r.get("stopped_at_step") if ok and reached(value, spec) else None,
                     "train_steps": r.get("train_steps") if ok else None, "budget": cell.train.max_steps,
                     "params": r.get("encoder_params") if ok else None, "curve": r.get("curve") if r else None,
                     "status": "ok" if ok else (r.get("error") or r.get("reason") or r.get("status")) if r else "missing"})
    return rows


def spans(rows: list[dict], settings: dict) -> dict:
    """{task: {label: per-lag solved fractions and metric summaries, the largest lag solved
    (2 of 3 seeds), and the span per seed with its interval}}."""
    out = {}
    for task in dict.fromkeys(r["task"] for r in rows):
        out[task] = {}
        for label, _, _ in variants(settings):
            mine = [r for r in rows if r["task"] == task and r["model"] == label]
            lags = sorted({r["lag"] for r in mine})
            seeds = sorted({r["seed"] for r in mine})
            flag = {(r["lag"], r["seed"]): r["solved"] for r in mine}
            per_lag = {}
            for lag in lags:
                at = [r for r in mine if r["lag"] == lag]
                per_lag[lag] = {**stats.solved_fraction([r["solved"] for r in at]),
                                "value": stats.summary(r["value"] for r in at),
                                "steps_to_solve": stats.summary(r["steps_to_solve"] for r in at)}
            per_seed = [stats.largest_solved({lag: flag.get((lag, s), False) for lag in lags}) for s in seeds]
            out[task][label] = {"largest_lag_solved": stats.largest_solved({lag: per_lag[lag]["is_solved"] for lag in lags}),
                                "span_per_seed": per_seed, "span": stats.summary(per_seed),
                                "per_lag": {str(lag): v for lag, v in per_lag.items()}}
    return out
