"""Local launcher: cells one after another in this process, or N at a time in a process pool.

Pool workers are spawned (fresh interpreters: no inherited run lock, no forked CUDA state),
each with an equal share of the CPU threads, or one GPU each, round robin. A worker whose
runner died (kill -9) exits instead of finishing a cell nobody will record.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

import torch

from benchmark.engine.records import lost_record
from benchmark.launchers.worker import execute


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def launch(jobs, parallel: int, on_start):
    if parallel <= 1:
        for job in jobs:
            on_start(job.cell.name)
            yield execute(job)
        return
    yield from _launch_pool(jobs, parallel, on_start)


def _launch_pool(jobs, parallel, on_start):
    ctx = mp.get_context("spawn")
    gpus = torch.cuda.device_count()
    share = None if gpus else max(1, available_cpus() // parallel)  # the cores, split between workers
    pending = [replace(job, threads=job.threads or share) for job in jobs]
    while pending:
        gpu_ids = ctx.Queue()
        for i in range(parallel):
            gpu_ids.put(i % gpus if gpus else None)
        with ProcessPoolExecutor(parallel, mp_context=ctx, initializer=_init_worker,
                                 initargs=(os.getpid(), gpu_ids)) as pool:
            running = {}
            broken = False
            while (pending and not broken) or running:
                while pending and not broken and len(running) < parallel:
                    job = pending.pop(0)
                    on_start(job.cell.name)
                    running[pool.submit(execute, job)] = job
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:  # a worker was killed: every cell in flight is lost
                        broken = True
                        yield lost_record(job.cell, "its worker process died (killed, or out of host memory)")
                    except Exception as e:  # noqa: BLE001 - e.g. a record that would not unpickle
                        yield lost_record(job.cell, f"its worker failed: {type(e).__name__}: {e}")


def _init_worker(parent_pid: int, gpu_ids) -> None:
    gpu = gpu_ids.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)  # the runner is gone: nobody would record this cell

    threading.Thread(target=watch, daemon=True).start()
