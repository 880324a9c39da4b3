"""The W&B summary run of a matrix: its comparison tables and the folder's plots, so the
dashboard shows the report's answers. Each cell's own run is opened by the launchers
(benchmark/launchers/tracking.py); this one is drawn after the matrix, from the store."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from benchmark.engine.records import CellRecord
from benchmark.launchers.tracking import Tracking, sync_hint, wandb_settings, warn_once
from benchmark.reports.tables import build, summarise


def summary_tables(rows: list[dict]) -> dict[str, pd.DataFrame]:
    """{"table/<task>[ · settings][ detail]": frame}: the report's tables (tables.build), as data."""
    out = {}
    for table in build(rows):
        name = table.title.split(" (")[0]
        name = name.split(": ")[0] + "/detail" if ": " in name else name  # "copy: validation metrics"
        out[f"table/{name}"] = table.frame.astype(object).where(table.frame.notna(), None)
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
    payload = {name: wandb.Table(dataframe=frame) for name, frame in summary_tables(summarise(records)).items()}
    wandb_dir = str(tracking.wandb_dir)
    for png in sorted(Path(tracking.folder).rglob("*.png")):
        if not str(png).startswith(wandb_dir):
            payload[f"plot/{png.relative_to(tracking.folder).with_suffix('')}"] = wandb.Image(str(png))
    run.log(payload)
    run.finish()
    if mode == "offline":
        print(f"W&B: offline runs in {tracking.wandb_dir}; {sync_hint(tracking)}", file=stream or sys.stdout)
