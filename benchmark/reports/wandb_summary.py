"""The W&B summary run of a matrix: its comparison tables and the folder's plots, so the
dashboard shows the report's answers. Each cell's own run is opened by the launchers
(benchmark/launchers/tracking.py); this one is drawn after the matrix, from the store."""
from __future__ import annotations

import sys
from pathlib import Path

from benchmark.engine.records import CellRecord
from benchmark.launchers.tracking import Tracking, sync_hint, wandb_settings, warn_once
from benchmark.reports.tables import summarise


def summary_tables(rows: list[dict]) -> dict[str, tuple[list[str], list[list]]]:
    """{task: (columns, rows)} from `tables.summarise` rows: the report's tables, as data."""
    by_task: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda r: (r["task"], r["backend"], r["model"])):
        by_task.setdefault(row["task"], []).append(row)
    out = {}
    for task, task_rows in by_task.items():
        metrics = sorted({k for r in task_rows for k in r["metrics"]})
        columns = ["model", "backend", "status", "seeds", "params", *metrics, *[f"{m} std" for m in metrics],
                   "tokens_per_s", "peak_mem_mib", "wall_s", "note"]
        body = [[r["model"], r["backend"], r["status"], r["seeds"], r["params"],
                 *[r["metrics"].get(m) for m in metrics], *[r["metrics_std"].get(m) for m in metrics],
                 r["train_tokens_per_s"], r["peak_mem_bytes"] / 2**20 if r["peak_mem_bytes"] is not None else None,
                 r["wall_s"], r.get("reason") or r.get("error") or ""] for r in task_rows]
        out[task] = (columns, body)
    return out


def log_matrix_summary(tracking: Tracking, records: list[CellRecord], stream=None) -> None:
    """Open the summary run, log the tables and plots, finish it."""
    import wandb  # only W&B users need it, and it is slow to import

    mode = tracking.mode
    options = dict(project=tracking.project, group=tracking.group, job_type="summary",
                   name=f"{tracking.group}/summary", dir=tracking.folder, settings=wandb_settings(),
                   config={"cells": len(records), "folder": tracking.folder})
    try:
        run = wandb.init(mode=mode, **options)
    except Exception as e:  # noqa: BLE001
        if mode != "online":
            raise
        warn_once(f"W&B online init failed ({type(e).__name__}: {e}); logging offline", stream)
        mode = "offline"
        run = wandb.init(mode=mode, **options)
    payload = {f"table/{task}": wandb.Table(columns=columns, data=body)
               for task, (columns, body) in summary_tables(summarise(records)).items()}
    wandb_dir = str(tracking.wandb_dir)
    for png in sorted(Path(tracking.folder).rglob("*.png")):
        if not str(png).startswith(wandb_dir):
            payload[f"plot/{png.relative_to(tracking.folder).with_suffix('')}"] = wandb.Image(str(png))
    run.log(payload)
    run.finish()
    if mode == "offline":
        print(f"W&B: offline runs in {tracking.wandb_dir}; {sync_hint(tracking)}", file=stream or sys.stdout)
