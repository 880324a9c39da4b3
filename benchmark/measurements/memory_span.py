"""Memory span: the longest copy-task delay T a model solves, trained through the matrix.

Every (model, T) is a matrix cell of the copy task (Arjovsky et al. 2016) with the same
training budget, run by `benchmark.launchers.run_matrix` into a results store under the run
folder, so cells that finished are reused when the measurement runs again. "Solved" means
recall accuracy >= `solved_acc` (0.99) on fresh test sequences; a model's memory span is the
largest T it solved. Besides the models at one hidden size, the RNN and GRU are widened to the
LSTM's parameter count, so a longer LSTM span cannot be put down to its 4x parameters alone.
"""
from __future__ import annotations

from pathlib import Path

from benchmark.measurements import records
from benchmark.measurements.parameters import matched_hidden
from benchmark.models import encoder_param_count

NAME = "memory_span"
UNITS = {"recall_acc": "fraction of the 10 recalled symbols right (test set)", "delay": "time steps (T)",
         "span": "time steps (largest T solved)"}
CHANCE = 1 / 8  # memoryless: a uniform guess among the 8 symbols (tasks.copy)


def memory_span(acc_by_delay: dict[int, float], solved_acc: float) -> int:
    """Largest T whose accuracy reaches `solved_acc`; 0 when none does."""
    return max((t for t, acc in acc_by_delay.items() if acc is not None and acc >= solved_acc), default=0)


def variants(settings: dict) -> list[tuple[str, str, int]]:
    """(label, variant, hidden): the models at one hidden size, then the parameter-matched ones."""
    from tasks.data.synthetic import VOCAB
    hidden = settings["hidden"]
    out = [(m, m, hidden) for m in settings["models"]]
    target = encoder_param_count("lstm", VOCAB, hidden)
    for family in settings.get("param_matched") or []:
        out.append((f"{family}-matched", family, matched_hidden(family, VOCAB, target)))
    return out


def cells(settings: dict, profile: str) -> dict:
    """{cell key: (label, T, cell)} for every model and delay, seeds 0..seeds-1."""
    from benchmark.matrix import build_matrix
    train = [f"train.{k}={v}" for k, v in settings["train"].items()]
    profile = settings.get("matrix_profile", profile)  # a measurement block may train on another run profile
    out = {}
    for delay in settings["delays"]:
        for label, variant, hidden in variants(settings):
            overrides = [f"copy.delay={delay}", f"model.hidden={hidden}", *train]
            for cell in build_matrix(["copy"], [variant], ["cudnn"], settings["seeds"], profile, overrides):
                out[cell.key] = (label, delay, cell)
    return out


def run(settings: dict, out_dir, profile: str) -> dict:
    from benchmark.launchers import run_matrix
    from benchmark.store import ResultsStore
    from tasks.copy import memoryless_loss

    store_dir = Path(out_dir) / "cells"
    planned = cells(settings, profile)
    summary = run_matrix([c for _, _, c in planned.values()], store_dir)
    latest = ResultsStore(store_dir).latest()
    rows = []
    for label, variant, hidden in variants(settings):
        for delay in settings["delays"]:
            recs = [latest.get(k) for k, (lab, t, _) in planned.items() if lab == label and t == delay]
            ok = [r for r in recs if r and r["status"] == "ok"]
            acc = sum(r["metrics"]["test/recall_acc"] for r in ok) / len(ok) if ok else None
            rows.append({"model": label, "family": variant, "hidden": hidden, "delay": delay,
                         "params": ok[0]["encoder_params"] if ok else encoder_param_count(variant, 10, hidden),
                         "recall_acc": acc, "test_loss": _mean(r["metrics"].get("test/loss") for r in ok),
                         "memoryless_loss": memoryless_loss(delay), "memoryless_acc": CHANCE, "seeds": len(ok),
                         "status": "ok" if ok else _failure(recs)})
    spans = {}
    for label, _, _ in variants(settings):
        accs = {r["delay"]: r["recall_acc"] for r in rows if r["model"] == label}
        spans[label] = {"span": memory_span(accs, settings["solved_acc"]),
                        "above_chance_span": memory_span(accs, CHANCE + settings["above_chance"]),
                        "best_acc": max((a for a in accs.values() if a is not None), default=None)}
    return {"name": NAME, "profile": profile, "settings": settings, "units": UNITS, "rows": rows, "spans": spans,
            "failed_cells": len(summary.failed), "cells_store": str(store_dir / "results.jsonl"),
            **records.provenance(records.device(), settings["seed"])}


def _mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def _failure(recs) -> str:
    errors = [r.get("error") or r.get("reason") for r in recs if r]
    return f"failed: {errors[-1]}" if errors else "missing"


def plot(result: dict, folder) -> list:
    from benchmark.reports import plots
    return [plots.memory_span(result, folder / "memory_span.png")]
