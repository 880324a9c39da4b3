"""Local launcher: cells one after another in this process, or N at a time in a process pool.

Pool workers are spawned (fresh interpreters: no inherited run lock, no forked CUDA state),
each with an equal share of the CPU threads, or one GPU each, round robin. A worker whose
runner died (kill -9) exits instead of finishing a cell nobody will record.

Order: a pool finishes when its last cell does, so a long cell started last leaves the other
workers idle. The next cell is one of a task not seen yet, else one of the task whose finished
cells took longest on average (`next_job`): longest first, learned as the run goes, which on
the smoke matrix's measured cell times ends the pool within a second of the best order (the
matrix's order, word_lm last: ~5 s later on 2 workers).

Ctrl-C: the runner alone decides. Workers start with SIGINT ignored (so a Ctrl-C that reaches
the whole terminal's process group cannot kill one while it boots, breaking the pool), then
take it only while a cell trains, once. On KeyboardInterrupt the runner interrupts every
worker's cell itself (a `kill -INT` of the runner reaches no worker), waits for them to end
their cells (W&B runs finished as interrupted), hands back any record that finished meanwhile
and raises the interrupt again. A second Ctrl-C stops the waiting and terminates the workers.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import replace

import torch

from benchmark.engine.environment import available_cpus
from benchmark.engine.records import lost_record
from benchmark.launchers import worker
from benchmark.launchers.worker import execute

STOP_GRACE_S = 60.0  # how long an interrupted worker may take to end its cell (W&B online uploads the rest)


def launch(jobs, parallel: int, on_start, callbacks=None):
    """`callbacks(cell_name)`: more Lightning callbacks for a cell trained in this process (the
    terminal's bar); with `parallel` > 1 cells train in other processes, and get none."""
    if parallel <= 1:
        for job in jobs:
            on_start(job.cell.name)
            yield execute(job, callbacks(job.cell.name) if callbacks else ())
        return
    yield from _launch_pool(jobs, parallel, on_start)


def _launch_pool(jobs, parallel, on_start):
    ctx = mp.get_context("spawn")
    gpus = torch.cuda.device_count()
    share = None if gpus else max(1, available_cpus() // parallel)  # the cores, split between workers
    pending = [replace(job, threads=job.threads or share) for job in jobs]
    took: dict[str, list[float]] = {}  # task -> wall seconds of its cells finished so far
    while pending:
        gpu_ids = ctx.Queue()
        for i in range(parallel):
            gpu_ids.put(i % gpus if gpus else None)
        with ProcessPoolExecutor(parallel, mp_context=ctx, initializer=_init_worker,
                                 initargs=(os.getpid(), gpu_ids)) as pool:
            running = {}
            broken = False
            try:
                while (pending and not broken) or running:
                    while pending and not broken and len(running) < parallel:
                        job = pending.pop(next_job(pending, took))
                        on_start(job.cell.name)
                        with _sigint_ignored():  # submit spawns the workers: they inherit "ignored"
                            running[pool.submit(execute, job)] = job
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        job = running.pop(future)
                        try:
                            record = future.result()
                            if record.get("wall_s") is not None:
                                took.setdefault(job.cell.task, []).append(record["wall_s"])
                            yield record
                        except BrokenProcessPool:  # a worker was killed: every cell in flight is lost
                            broken = True
                            yield lost_record(job.cell, "its worker process died (killed, or out of host memory)")
                        except Exception as e:  # noqa: BLE001 - e.g. a record that would not unpickle
                            yield lost_record(job.cell, f"its worker failed: {type(e).__name__}: {e}")
            except KeyboardInterrupt:
                yield from _stop(pool, running)  # cells that finished while the others stopped
                raise
            except GeneratorExit:  # the interrupt landed in the caller, which closed us: stop; a record that
                for _ in _stop(pool, running):  # finished meanwhile has nowhere to go, and its cell runs again
                    pass
                raise


def next_job(pending, took: dict) -> int:
    """Index in `pending` of the cell to start next: the first of a task with no finished cell
    (unknown: it may be long), else the first of the task with the longest mean cell time."""
    def expected(i):
        times = took.get(pending[i].cell.task)
        return (math.inf if not times else sum(times) / len(times)), -i
    return max(range(len(pending)), key=expected)


@contextmanager
def _sigint_ignored():
    """SIGINT ignored in this process for a moment: a child started meanwhile starts with it ignored.
    (A Ctrl-C in those few milliseconds is missed: press it again.)"""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop(pool, running: dict):
    """Interrupt the workers' cells, wait for them to end, and yield the records of those that
    finished anyway. Interrupted cells come back as KeyboardInterrupt and are not recorded."""
    workers = _workers(pool)
    if running:
        print(f"interrupting {len(running)} running cell(s); waiting for their workers to stop "
              f"(Ctrl-C again to kill them)", file=sys.stderr, flush=True)
    for process in workers:
        _signal(process, signal.SIGINT)
    try:
        wait(running, timeout=STOP_GRACE_S)
    except KeyboardInterrupt:
        pass
    if not all(future.done() for future in running):  # past the grace period, or a second Ctrl-C
        for process in workers:
            _signal(process, signal.SIGTERM)
    for future in running:
        if future.done() and not future.cancelled() and future.exception() is None:
            yield future.result()


def _workers(pool) -> list:
    # The executor's table of its processes; CPython has no public accessor for it. Failing that,
    # every live child of this process, which for the runner is the pool.
    table = getattr(pool, "_processes", None)
    return list(table.values()) if table else mp.active_children()


def _signal(process, signum) -> None:
    try:
        os.kill(process.pid, signum)
    except (ProcessLookupError, TypeError):  # gone already, or never started (pid None)
        pass


def _init_worker(parent_pid: int, gpu_ids) -> None:
    signal.signal(signal.SIGINT, _interrupt_cell)
    gpu = gpu_ids.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)  # the runner is gone: nobody would record this cell

    threading.Thread(target=watch, daemon=True).start()


_interrupted = False


def _interrupt_cell(signum, frame):
    """A worker's SIGINT: interrupt the cell in training, once. The runner forwards its Ctrl-C, and a
    terminal's also reaches the worker directly: the second must not cut short the first's cleanup
    (its W&B run's finish). Outside a cell, nothing to interrupt: the runner submits no more."""
    global _interrupted
    if worker.in_cell() and not _interrupted:
        _interrupted = True
        raise KeyboardInterrupt
