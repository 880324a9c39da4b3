"""The W&B summary run of a matrix: its comparison tables and the folder's plots, so the
dashboard shows the report's answers. Each cell's own run is opened by the launchers
(benchmark/launchers/tracking.py); this one is drawn after the matrix, from the store."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from benchmark.engine.records import CellRecord
from benchmark.launchers.tracking import Tracking, sync_hint, wandb_settings, warn_once
from benchmark.reports.render import render
from benchmark.reports.tables import build, summarise


def summary_tables(rows: list[dict]) -> dict[str, pd.DataFrame]:
    """{"table/<task>[ · settings][ detail]": frame}: the report's tables (tables.build), as data."""
    out = {}
    for table in build(rows):
        name = table.title.split(" (")[0]
        name = name.split(": ")[0] + "/detail" if ": " in name else name  # "copy: validation metrics"
        out[f"table/{name}"] = table.frame.astype(object).where(table.frame.notna(), None)
    return out


def frame_of(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame W&B's Table takes: nested values (lists, dicts) as JSON text, missing as None."""
    import json
    frame = frame.map(lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict, tuple)) else v)
    return frame.astype(object).where(frame.notna(), None)


def log_matrix_summary(tracking: Tracking, records: list[CellRecord], stream=None) -> None:
    """The matrix's summary run: its tables (as W&B tables), its figures, and an artifact with
    results.jsonl, config.yaml, the tables as Markdown and report.html where they exist."""
    rows = summarise(records)
    log_summary(tracking, "summary", summary_tables(rows), {"tables.md": render(build(rows), "md")}, stream)


def log_summary(tracking: Tracking, job: str, tables: dict[str, pd.DataFrame], texts: dict[str, str],
                stream=None, name: str | None = None) -> str:
    """Open a summary run of `tracking`'s group (job type `job`), log `tables` (name -> frame)
    and every figure of the folder, keep the folder's results as an artifact (`texts`: extra
    files, name -> content), finish it. Returns the run's mode (online may turn offline)."""
    import wandb  # only W&B users need it, and it is slow to import

    mode = tracking.mode
    options = dict(project=tracking.project, group=tracking.group, job_type=job,
                   name=name or f"{tracking.group}/{job}", dir=tracking.folder, settings=wandb_settings(),
                   config={"folder": tracking.folder})
    try:
        run = wandb.init(mode=mode, **options)
    except Exception as e:  # noqa: BLE001
        if mode != "online":
            raise
        warn_once(f"W&B online init failed ({type(e).__name__}: {e}); logging offline", stream)
        mode = "offline"
        run = wandb.init(mode=mode, **options)
    payload = {name: wandb.Table(dataframe=frame) for name, frame in tables.items()}
    payload.update({key: wandb.Image(str(png)) for key, png in figures(tracking.folder).items()})
    run.log(payload)
    run.log_artifact(results_artifact(tracking, texts))
    run.finish()
    if mode == "offline":
        print(f"W&B: offline runs in {tracking.wandb_dir}; {sync_hint(tracking)}", file=stream or sys.stdout)
    return mode


KEPT = ("results.jsonl", "config.yaml", "report.html", "RUN.md", "rnn_vs_lstm.md", "rnn_vs_lstm.json",
        "papers.md", "papers.json")  # what a folder's artifact holds where they exist


def figures(folder) -> dict[str, Path]:
    """{"plot/<path without .png>": path} of every figure in the folder, W&B's own files left out."""
    folder = Path(folder)
    return {f"plot/{png.relative_to(folder).with_suffix('').as_posix()}": png
            for png in sorted(folder.rglob("*.png")) if "wandb" not in png.relative_to(folder).parts}


def results_artifact(tracking: Tracking, texts: dict[str, str]):
    """The folder's results as one artifact (type `results`, named after the group): the files of
    KEPT that exist, every measurement's JSON, and `texts`."""
    import wandb

    folder = Path(tracking.folder)
    art = wandb.Artifact(f"{tracking.group}-results", type="results",
                         description=f"rnnbench results of {folder.name}: records, config, tables, report")
    for name in KEPT:
        if (folder / name).is_file():
            art.add_file(str(folder / name), name=name)
    for measured in sorted(folder.glob("*/*.json")):  # measure/reproduce: one folder per measurement
        if "wandb" not in measured.parts:
            art.add_file(str(measured), name=measured.relative_to(folder).as_posix())
    for name, content in texts.items():
        with art.new_file(name, mode="w", encoding="utf-8") as f:
            f.write(content)
    return art
