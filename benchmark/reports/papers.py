"""`reproduce papers`: published numbers beside runs under the papers' own protocols.

Each reference of configs/references.yaml with a preset (a profile) is one row. Its runs are
the cells `build_cells(task, model, seeds, profile=preset, overrides=settings)` builds: the
matrix runs them into one results folder (resumable: cells already there are kept), then
each row gets our mean and 95% t-interval over seeds beside the published value, and a verdict:

- `reproduced`: the published value lies within our interval widened by 5% of its bounds on
  each side, or both values lie within 1% of the task's memoryless baseline (neither learned
  more than a model without memory: Bai et al.'s RNN and LSTM on copy, for instance);
- `not reproduced`: otherwise;
- `not run`: no finished run of that protocol in the folder (the data absent, a failed
  cell, or a row left out with --tasks/--models).

With one seed there is no interval: the row says so and its verdict compares the single
value, widened by the same 5%.

A published value that is the best of its runs (`aggregate: best`: Delétang et al. 2023 report
the best of 10 seeds x 3 learning rates) is compared with our best seed, within 5% of it; our
mean and interval are shown beside it, and the evidence says how many runs each best is of.

A folder whose rows have all run renders from its records alone: which record ran which
protocol is read from the records and the YAML files (references.same_protocol), without the
task modules; only cells left to run are built by the engine (and torch loads for them).
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from benchmark.engine.cells import cell_name
from benchmark.engine.environment import package_versions
from benchmark.engine.store import ResultsStore
from benchmark.measurements import stats
from benchmark.reports import references
from benchmark.reports.render import Table, render
from benchmark.reports.tables import higher_is_better

REL_TOLERANCE = 0.05   # the interval widened by 5% of its bounds
BASELINE_TOLERANCE = 0.01
COLUMNS = ("paper", "task", "model", "metric", "split", "published", "ours", "ci95", "best", "seeds", "rel_diff",
           "verdict", "evidence", "preset", "settings")


def rows_for(presets) -> list[references.Reference]:
    return [r for r in references.load() if r.preset in presets]


def cells_for(ref, seeds: int) -> list:
    """The cells (seeds 0..seeds-1) of `ref`'s protocol, built by the engine (torch loads)."""
    from benchmark.engine.cells import build_cells
    return build_cells([ref.task], [ref.model], seeds=seeds, profile=ref.preset, overrides=ref.overrides())


def runs(refs, seeds: int, store: ResultsStore) -> dict[int, dict]:
    """reference index -> {seed: its finished record} for seeds 0..seeds-1: the ok record of the
    protocol's cell (references.same_protocol), from the folder alone. Records are read as this
    version reads them (records.upgrade), so runs made before a setting was added still count."""
    by_cell = defaultdict(list)
    for r in store.current():
        if r["status"] == "ok" and r.get("config"):
            by_cell[r["cell"]].append(r)
    out = {}
    for i, ref in enumerate(refs):
        out[i] = {}
        _, _, model, _ = references.protocol(ref, strict=True)
        for seed in range(seeds):
            found = [r for r in by_cell.get(cell_name(ref.task, model.variant, model.backend, seed), ())
                     if references.same_protocol(ref, r)]
            if found:
                out[i][seed] = found[-1]
    return out


def plan(refs, done: dict, selected: set, seeds: int, stream=None) -> list:
    """Print what will run and return the unique cells to run: the seeds of `selected` rows that
    `done` (as `runs` returns) lacks. Only those are built by the engine."""
    stream = stream or sys.stdout
    todo, seen = [], set()
    print(f"reproduce papers: {len(refs)} rows; {len(selected)} selected to run", file=stream)
    for i, ref in enumerate(refs):
        _, train, _, _ = references.protocol(ref, strict=True)
        state = ("selected" if i in selected else "not selected")
        print(f"  {ref.preset:<15} {ref.task:<14} {ref.model:<5} {ref.metric:<15} {len(done[i])}/{seeds} "
              f"seeds done, {train.max_steps} steps each ({state})", file=stream)
        if i in selected and len(done[i]) < seeds:
            for c in cells_for(ref, seeds):
                if c.seed not in done[i] and c.key not in seen:
                    seen.add(c.key)
                    todo.append(c)
    print(f"  {len(todo)} cells to run (time them first: python -m benchmark bench plan --profile PRESET ...)",
          file=stream)
    return todo


def verdict(ref, summary: dict, baseline: float | None, best: float | None = None) -> tuple[str, str]:
    if not summary["n_seeds"]:
        return "not run", "no finished run of this protocol in the folder"
    if ref.aggregate == "best":
        lo, hi = best - REL_TOLERANCE * abs(best), best + REL_TOLERANCE * abs(best)
        word = "reproduced" if lo <= ref.value <= hi else "not reproduced"
        return word, (f"published best {ref.value:.4g} (the paper's best run) {'within' if word == 'reproduced' else 'outside'} "
                      f"5% of our best of {summary['n_seeds']} seed(s) {best:.4g}: [{lo:.4g}, {hi:.4g}]")
    mean, (low, high) = summary["mean"], summary["ci95"]
    one = summary["n_seeds"] == 1
    if one:
        low = high = mean
    lo, hi = low - REL_TOLERANCE * abs(low), high + REL_TOLERANCE * abs(high)
    where = "one seed, no interval: the value" if one else "the 95% interval"
    if lo <= ref.value <= hi:
        return "reproduced", f"published {ref.value:.4g} within {where} widened by 5%: [{lo:.4g}, {hi:.4g}]"
    if baseline and all(abs(v - baseline) <= BASELINE_TOLERANCE * abs(baseline) for v in (mean, ref.value)):
        return "reproduced", (f"both within 1% of the memoryless baseline {baseline:.4g} "
                              f"(ours {mean:.4g}, published {ref.value:.4g})")
    return "not reproduced", f"published {ref.value:.4g} outside {where} widened by 5%: [{lo:.4g}, {hi:.4g}]"


def table(refs, found: dict) -> list[dict]:
    """One row per reference: its finished records (`found`, as `runs` returns) beside the published value."""
    rows = []
    for i, ref in enumerate(refs):
        done = [found[i][seed] for seed in sorted(found[i])]
        values = [(r.get("metrics") or {}).get(ref.metric) for r in done]
        summary = stats.summary(values)
        finite = [v for v in values if v is not None]
        best = (max if higher_is_better(ref.metric) else min)(finite) if finite else None
        baseline = None
        if ref.baseline and done:
            baseline = done[0].get("baselines", {}).get(ref.baseline, {}).get(ref.metric.partition("/")[2])
        word, evidence = verdict(ref, summary, baseline, best)
        mean = summary["mean"]
        rows.append({
            "paper": ref.paper, "task": ref.task, "model": ref.model, "metric": ref.metric, "split": ref.split,
            "published": ref.value, "ours": mean, "ci95": summary["ci95"] if summary["n_seeds"] > 1 else None,
            "seeds": summary["n_seeds"], "best": best if ref.aggregate == "best" else None,
            "rel_diff": (mean - ref.value) / ref.value if mean is not None else None,
            "verdict": word, "evidence": evidence, "preset": ref.preset,
            "settings": ", ".join(f"{k}={v}" for k, v in ref.settings.items()),
            "baseline": baseline, "device": done[0].get("device") if done else None,
            "cells": [r["cell"] for r in done],
        })
    return rows


def frame(rows: list[dict], detail: bool = False) -> Table:
    """The people's table: published beside ours, the interval, the verdict; `detail` adds the
    evidence, the protocol's settings and the device (the HTML report has the room)."""
    shown = ["paper", "task", "model", "metric (split)", "published", "ours (mean)", "95% CI", "ours (best)", "seeds",
             "rel. diff",
             "verdict", *(["evidence", "settings", "device"] if detail else [])]
    data = pd.DataFrame([{**{c: r.get(c) for c in (*COLUMNS, "device")}, "metric (split)": f"{r['metric']} ({r['split']})",
                          "ours (mean)": r["ours"], "95% CI": r["ci95"], "ours (best)": r.get("best"),
                          "rel. diff": f"{r['rel_diff']:+.1%}" if r["rel_diff"] is not None else ""}
                         for r in rows], dtype=object)
    return Table(data, show=shown, classes=[r["verdict"].replace(" ", "-") for r in rows])


def markdown(rows: list[dict]) -> str:
    return render([frame(rows)], "md")


def to_csv(rows: list[dict]) -> str:
    return render([Table(pd.DataFrame([{c: r[c] for c in COLUMNS} for r in rows], columns=list(COLUMNS)))], "csv")


def write(out: Path, rows: list[dict], presets) -> None:
    doc = {"schema_version": 1, "kind": "papers", "presets": list(presets), "rule": "\n\n".join(__doc__.split("\n\n")[1:3]),
           "written": {"versions": package_versions(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds")},
           "rows": rows}
    (out / "papers.json").write_text(json.dumps(doc, indent=2, default=str))
    (out / "papers.csv").write_text(to_csv(rows))
    (out / "papers.md").write_text("# Published results under their own protocols\n\n" + markdown(rows) + "\n"
                                   + "\n".join(f"- {r['paper']} {r['task']} {r['model']}: {r['verdict']}: "
                                               f"{r['evidence']}" for r in rows) + "\n")


def load(run_dir) -> list[dict]:
    path = Path(run_dir) / "papers.json"
    return json.loads(path.read_text())["rows"] if path.exists() else []


def reproduce(presets, out, seeds: int, tasks=None, models=None, data_dir=None, parallel: int = 1,
              threads=None, wandb=None, stream=None) -> int:
    """Run the selected rows' missing cells into `out`, then write the table. `threads`: `--threads`
    as given (engine.environment.threads_for), applied only when a cell is left to run."""
    stream = stream or sys.stdout
    # The table lists every preset's rows; `presets`, `tasks` and `models` choose which to run.
    refs = rows_for(references.presets())
    selected = {i for i, r in enumerate(refs)
                if r.preset in presets and (not tasks or r.task in tasks) and (not models or r.model in models)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    todo = plan(refs, runs(refs, seeds, ResultsStore(out)), selected, seeds, stream)
    failed = 0
    if todo:
        from benchmark.engine.environment import threads_for, use_threads
        from benchmark.launchers import run_matrix  # the engine and torch: only with cells to run

        use_threads(threads)
        summary = run_matrix(todo, out, data_dir=data_dir, retry_failed=True, parallel=parallel,
                             threads=threads_for(threads), wandb=wandb, stream=stream)
        failed = len(summary.failed)
        for r in summary.skipped_cells:
            print(f"skipped {r['cell']}: {r['reason']}", file=sys.stderr)
    rows = table(refs, runs(refs, seeds, ResultsStore(out)))
    write(out, rows, references.presets())
    print(file=stream)
    print(markdown(rows), file=stream)
    print(f"results: {out}/papers.md, papers.csv, papers.json; cells in {out}/results.jsonl", file=stream)
    if failed:
        print(f"{failed} cell(s) failed: see {out}/results.jsonl; the same command retries them (finished cells "
              f"are kept)", file=sys.stderr)
    return 1 if failed else 0
