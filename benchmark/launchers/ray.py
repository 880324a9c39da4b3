"""Ray launcher: each cell a Ray task with its share of CPUs (or of a GPU), N in flight at a time.

`--ray-address` joins an existing cluster; otherwise a local one starts with this machine's
CPUs and stops at the end. Workers return records to this runner, which appends them, so
the results store needs no shared filesystem. A task whose worker dies is retried once by
Ray; if it dies again the cell is left unrecorded and runs on the next `run`.
For a remote cluster the workers need this package importable (install it on the nodes, or
pass a runtime_env through RAY_RUNTIME_ENV_* / `ray job submit`).
"""
from __future__ import annotations

import logging
from dataclasses import replace

from benchmark.engine.environment import available_cpus
from benchmark.engine.records import lost_record
from benchmark.errors import ConfigError
from benchmark.launchers.packing import ray_gpus_per_task
from benchmark.launchers.worker import execute


def import_ray():
    try:
        import ray  # the optional extra rnnbench[ray]: imported only when this launcher runs
    except ImportError:
        raise ConfigError("--launcher ray needs Ray: pip install 'ray>=2.9' (in the checkout: pip install '.[ray]')") from None
    return ray


def launch(jobs, parallel: int, on_start, address: str | None = None, devices: int = 1):
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        local = {} if address else {"num_cpus": available_cpus(), "include_dashboard": False}
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, **local)
    try:
        resources = ray.cluster_resources()
        # 1/k of a GPU per task where k cells share one, so Ray packs them (launchers/packing.py)
        gpus = ray_gpus_per_task(devices, resources.get("GPU", 0), parallel)
        cpus = max(1, int(resources.get("CPU", 1) // parallel))
        task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=1)(execute)
        pending = [replace(job, threads=job.threads or (None if gpus else cpus), launcher="ray") for job in jobs]
        running = {}
        while pending or running:
            while pending and len(running) < parallel:
                job = pending.pop(0)
                on_start(job.cell.name)
                running[task.remote(job)] = job
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                job = running.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as e:
                    yield lost_record(job.cell, f"its Ray task failed: {type(e).__name__}: {str(e).splitlines()[0]}")
    finally:
        if started_here:
            ray.shutdown()
