"""Run a matrix: skip finished cells, record n/a ones, run the rest and store each record as it ends."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

from benchmark.matrix import Cell
from benchmark.progress import Progress
from benchmark.runner import na_record, run_cell
from benchmark.store import ResultsStore


@dataclass
class Summary:
    ran: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)
    skipped_cells: list = field(default_factory=list)


def run_matrix(cells: list[Cell], out_dir, data_dir=None, retry_failed=False, stream=sys.stdout) -> Summary:
    store = ResultsStore(out_dir)
    latest = store.latest()
    summary = Summary()
    for cell in cells:  # n/a cells cost nothing: record them first so tables list them
        if cell.na_reason and store.todo(cell.key, latest, retry_failed):
            store.append(na_record(cell))
    todo = [c for c in cells if not c.na_reason and store.todo(c.key, latest, retry_failed)]
    summary.skipped = len(cells) - len(todo)
    progress = Progress(len(cells), len(todo), stream)
    for cell in todo:
        progress.start(cell.name)
        record = run_cell(cell, out_dir, data_dir)
        store.append(record)
        progress.finish(cell.name, record)
        summary.ran += 1
        if record["status"] == "failed":
            summary.failed.append(record)
        elif record["status"] == "skipped":
            summary.skipped_cells.append(record)
    return summary
