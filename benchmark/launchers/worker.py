"""What a worker runs for one cell, whichever launcher started it: train, track, return the record.

Workers never write the results store and never take the folder's run lock: the runner that
launched them appends the records they return, so a store on one machine's disk also works
for Ray or Slurm workers elsewhere.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

from benchmark.engine.cells import Cell
from benchmark.engine.records import CellRecord
from benchmark.engine.runner import run_cell
from benchmark.errors import signal_number
from benchmark.launchers import tracking
from benchmark.launchers.tracking import Tracking


_in_cell = False  # whether this process is running a cell now (see `in_cell`)


def in_cell() -> bool:
    """Whether this process is opening, training or evaluating a cell: a pool worker's Ctrl-C
    interrupts only that, never the handing back of a record that is already made
    (benchmark/launchers/local.py)."""
    return _in_cell


@dataclass(frozen=True)
class Job:
    """One cell and everything its worker needs; picklable, paths absolute."""
    cell: Cell
    out_dir: str
    data_dir: str | None = None
    tracking: Tracking = Tracking()
    devices: int = 1
    threads: int | None = None  # torch intra-op threads for the cell; None = leave as is
    launcher: str = "local"


def execute(job: Job, callbacks=()) -> CellRecord:
    """`callbacks`: more Lightning callbacks, for a cell trained in the launcher's own process
    (the terminal's progress bar); a worker elsewhere gets none."""
    global _in_cell
    if job.threads:
        torch.set_num_threads(job.threads)
    loggers, callbacks = [], list(callbacks)
    _in_cell = True
    try:
        if job.tracking.enabled:
            loggers.append(tracking.cell_logger(job.tracking, job.cell))
            callbacks.append(tracking.StepThroughput(job.cell.train.log_every))
        began = time.time()
        record = run_cell(job.cell, job.out_dir, job.data_dir, loggers, callbacks, job.devices)
    except KeyboardInterrupt as e:
        _in_cell = False
        if loggers:  # the cell's W&B run ends marked interrupted, not left open (and later "crashed")
            tracking.interrupt_cell_run(loggers[0], job.cell, 128 + signal_number(e))
        raise
    finally:
        _in_cell = False
    record["worker"] = {"launcher": job.launcher, "pid": os.getpid(), "began": began, "ended": time.time()}
    if loggers:
        tracking.finish_cell_run(loggers[0], record)
    return record
