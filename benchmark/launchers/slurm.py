"""Slurm launcher through submitit: the cells as one job array, at most N running at once.

Job files (scripts, logs, pickled results) go under `<out>/slurm/`, which must be on a
filesystem the nodes share. Resources come from the environment, so a cluster's settings
stay out of the benchmark's configs:
RNNBENCH_SLURM_PARTITION, RNNBENCH_SLURM_TIMEOUT_MIN (default 240),
RNNBENCH_SLURM_CPUS (per cell, default 4), RNNBENCH_SLURM_GPUS (per cell, default 0; `--devices`
raises it). `cluster="debug"` runs the jobs in this process, for tests.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from benchmark.engine.records import lost_record
from benchmark.errors import ConfigError
from benchmark.launchers.worker import execute


def import_submitit():
    try:
        import submitit  # the optional extra rnnbench[slurm]: imported only when this launcher runs
    except ImportError:
        raise ConfigError("--launcher slurm needs submitit: pip install 'submitit>=1.5' (in the checkout: pip install "
                          "'.[slurm]')") from None
    return submitit


def make_executor(out_dir, parallel: int, devices: int = 1, cluster: str | None = None):
    submitit = import_submitit()
    executor = submitit.AutoExecutor(folder=Path(out_dir) / "slurm" / "%j", cluster=cluster)
    gpus = int(os.environ.get("RNNBENCH_SLURM_GPUS", "0"))
    params = {"timeout_min": int(os.environ.get("RNNBENCH_SLURM_TIMEOUT_MIN", "240")),
              "cpus_per_task": int(os.environ.get("RNNBENCH_SLURM_CPUS", "4")), "tasks_per_node": 1,
              "nodes": 1, "gpus_per_node": max(gpus, devices) if gpus else 0,
              "slurm_array_parallelism": parallel, "name": "rnnbench"}
    if os.environ.get("RNNBENCH_SLURM_PARTITION"):
        params["slurm_partition"] = os.environ["RNNBENCH_SLURM_PARTITION"]
    executor.update_parameters(**params)
    return executor


def launch(jobs, parallel: int, on_start, out_dir, devices: int = 1, cluster: str | None = None):
    submitit = import_submitit()
    executor = make_executor(out_dir, parallel, devices, cluster)
    cpus = int(os.environ.get("RNNBENCH_SLURM_CPUS", "4"))
    jobs = [replace(job, threads=job.threads or cpus, launcher="slurm") for job in jobs]
    submitted = executor.map_array(execute, jobs)
    by_id = {}
    for job, handle in zip(jobs, submitted):
        on_start(job.cell.name)
        by_id[handle.job_id] = job
    for handle in submitit.helpers.as_completed(submitted):
        job = by_id[handle.job_id]
        try:
            yield handle.result()
        except Exception as e:  # noqa: BLE001 - submitit's FailedJobError / UncompletedJobError (timeout, preempted)
            yield lost_record(job.cell, f"its Slurm job {handle.job_id} failed: {type(e).__name__}: "
                                   f"{str(e).strip().splitlines()[-1] if str(e).strip() else ''}")
