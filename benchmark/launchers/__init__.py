"""Run a matrix: lock the folder, skip finished cells, record n/a ones, launch the rest, store each record.

Launchers (`local`, `ray`, `slurm`) only decide where a cell trains; every record comes back
here and is appended by this one process, under the store's per-append lock. So resume is the
same whichever launcher ran the first half: a cell is done when the store says so.

Ctrl-C (or SIGTERM, SIGHUP: benchmark.errors.Terminated) stops the matrix as
`MatrixInterrupted`: the cell in training is not recorded (it runs
again on resume), the cells finished before it stay in the store.
"""
from __future__ import annotations

import functools
import sys
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.config import closest
from benchmark.engine.cells import Cell, check_own_files
from benchmark.engine.environment import available_cpus
from benchmark.engine.lock import RunLock
from benchmark.engine.progress import Progress
from benchmark.engine import run_config
from benchmark.engine.records import DIVERGED, FAILED, LOST, SKIPPED, finalise, na_record
from benchmark.engine.store import ResultsStore
from benchmark.errors import ConfigError, MatrixInterrupted, signal_number
from benchmark.launchers import local, mps, packing, ray, slurm, tracking
from benchmark.launchers.worker import Job

LAUNCHERS = ("local", "ray", "slurm")


@dataclass
class Summary:
    ran: int = 0
    skipped: int = 0
    failed: list = field(default_factory=list)
    diverged: list = field(default_factory=list)  # trained, loss blew up (records.finalise): metrics kept
    skipped_cells: list = field(default_factory=list)
    records: list = field(default_factory=list)  # this run's records, as stored: what its time totals count
    tracking: tracking.Tracking = field(default_factory=tracking.Tracking)  # how cells logged to W&B


def run_matrix(cells: list[Cell], out_dir, data_dir=None, retry_failed=False, stream=None, *,
               launcher="local", parallel=1, devices=1, threads=None, ray_address=None, wandb="disabled",
               wandb_project=tracking.DEFAULT_PROJECT, slurm_cluster=None, config_text=None) -> Summary:
    """`wandb`: online, offline, disabled, None to choose (see `tracking.resolve_mode`), or a
    planned `tracking.Tracking`.
    `parallel`: cells in flight, or "auto" to choose from the free cores or GPU memory (`packing`).
    `threads`: torch intra-op threads of each cell; None = this process's setting for cells run
    here, an equal share of the cores for workers (`--parallel`, Ray, Slurm).
    `config_text`: the run's resolved config (engine.run_config), kept as OUT/config.yaml.
    `stream`: where progress goes; None = sys.stdout as it is at the call (not at import)."""
    stream = sys.stdout if stream is None else stream
    _check(launcher, parallel, devices)
    check_own_files(cells, data_dir)  # a mistyped path: exit 2 now, not a cell skipped later
    out = Path(out_dir).resolve()
    try:
        with RunLock(out):
            store = ResultsStore(out)
            if config_text is not None:  # under the lock: a concurrent run in this folder cannot interleave
                run_config.keep(out, config_text)
            latest = store.latest()
            summary = Summary()
            for cell in cells:  # n/a cells cost nothing: record them first so tables list them
                if cell.na_reason and store.todo(cell.key, latest, retry_failed):
                    store.append(na_record(cell))
            todo = [c for c in cells if not c.na_reason and store.todo(c.key, latest, retry_failed)]
            summary.skipped = len(cells) - len(todo)
            parallel = packing.resolve(parallel, len(todo), threads, latest.values(), available_cpus(),
                                       functools.partial(print, file=stream))
            if not todo:
                tracked = tracking.Tracking()
            elif isinstance(wandb, tracking.Tracking):  # planned by the caller (a measurement's folder, its group)
                tracked = wandb
            else:
                tracked = tracking.plan(wandb, wandb_project, out, stream)
            tracked = tracking.with_names(tracked, cells)
            jobs = [Job(c, str(out), str(Path(data_dir).resolve()) if data_dir else None, tracked, devices, threads,
                        launcher) for c in todo]
            progress = Progress(len(cells), len(todo), stream, parallel=parallel)
            # The bar inside a cell needs the cell in this process: one local cell at a time, on one device.
            bars = progress.cell_callbacks if launcher == "local" and parallel == 1 and devices == 1 else None
            # MPS lets the workers' kernels overlap on a shared GPU (this machine's workers only).
            # closing: an interrupt that lands here, between records, still stops the launcher's workers.
            with mps.for_run(parallel if launcher == "local" and jobs else 1, functools.partial(print, file=stream)), \
                    closing(_launch(launcher, jobs, parallel, progress.start, out, devices, ray_address,
                                    slurm_cluster, bars)) as launched:
                for record in launched:
                    record = finalise(record)  # a loss that blew up: `diverged`, whatever the runner said
                    if record["status"] != LOST:
                        store.append(record)
                        summary.ran += 1
                        summary.records.append(record)
                    progress.finish(record["cell"], record, took=record.get("wall_s"))
                    if record["status"] in (FAILED, LOST):
                        summary.failed.append(record)
                    elif record["status"] == DIVERGED:
                        summary.diverged.append(record)
                    elif record["status"] == SKIPPED:
                        summary.skipped_cells.append(record)
            summary.tracking = tracked  # the W&B summary run is the reports' (benchmark.reports.wandb_summary)
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM, wherever it landed: every record appended so far is whole
        kept = ResultsStore(out).latest()
        raise MatrixInterrupted(out, sum(c.key in kept for c in cells), signal_number(e)) from None
    return summary


def _check(launcher, parallel, devices):
    if launcher not in LAUNCHERS:
        raise ConfigError(f"unknown --launcher {launcher!r}; choose from: {', '.join(LAUNCHERS)}"
                          f"{closest(launcher, LAUNCHERS)}")
    for name, value in (("--parallel", parallel), ("--devices", devices)):
        if name == "--parallel" and value == packing.AUTO:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"bad {name} {value!r}: expected an integer >= 1{' or auto' if name == '--parallel' else ''}")
    if devices > 1 and parallel != 1 and launcher == "local":
        raise ConfigError("--devices N trains one cell on N devices; combine it with --parallel only on Ray or Slurm")
    if launcher == "ray":  # fail before any work when the optional extra is missing
        ray.import_ray()
    elif launcher == "slurm":
        slurm.import_submitit()


def _launch(launcher, jobs, parallel, on_start, out, devices, ray_address, slurm_cluster, callbacks):
    if launcher == "ray":
        return ray.launch(jobs, parallel, on_start, address=ray_address, devices=devices)
    if launcher == "slurm":
        return slurm.launch(jobs, parallel, on_start, out, devices=devices, cluster=slurm_cluster)
    return local.launch(jobs, parallel, on_start, callbacks)
