"""Training throughput and peak memory of one cell, measured without per-step device syncs.

Throughput counts time steps (tokens) processed by training batches over the time spent in
the training loop, validation excluded, in the steady state: the first step is timed apart
(`warmup_s`), as speed benchmarks discard warm-up iterations, because it pays one-time
costs: first touch of the activations' memory (this meter hands freed heap back to the OS
at the start so that its memory figure is the cell's own; ~50 ms for copy/lstm/h=256 on a
CPU), cuDNN plan selection, lazy CUDA set-up. The clock stops at the last optimiser step:
the final validation and the loop's wind-down are not training. It is read after a device
synchronisation at the start, after the first step and at the end only.

Peak memory is torch's max allocated bytes on CUDA; on the CPU, where torch keeps no such
counter, it is the process's peak resident set during the cell (`peak_mem_kind`
"cpu_rss_peak"): the kernel's high-water mark (VmHWM), reset at the cell's start by writing 5
to /proc/self/clear_refs (Linux >= 4.0), so nothing runs beside training; where that reset is
not allowed, a background thread samples the resident set every 10 ms. No baseline is
subtracted: the growth over the cell's start (records before: `cpu_rss_growth`) depended on
which cell ran first in the process (the first pays the allocator's and libraries' warm-up),
while the peak resident set of a cell does not.

Contention: `cpu_wait_share` is the share of its threads' runnable time over the training
loop that the process spent waiting in the kernel's run queue for a CPU (Linux schedstat of
every thread: time waiting / (time on a CPU + time waiting)). 0 on an idle machine; ~0.5 when
each of its threads shares a core with one other busy thread. Above CONTENDED the record says
`contended`, its tokens/s are not the machine's, and tables mark the row.

With several processes (`--devices N`, ddp_spawn) the meter runs in each rank and Lightning
returns only rank 0's `callback_metrics` to the process that records the cell, so the figures
travel there, as `meter/...` entries (`published`).
"""
from __future__ import annotations

import glob
import threading
import time

import lightning as L
import torch

from benchmark.engine.environment import synchronize
from benchmark.engine.host_memory import release_freed_memory

def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _rss_high_water_bytes() -> int:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


class _RssHighWater:
    """Peak RSS from the kernel's own counter, reset at the start: no thread, no sampling gaps."""

    def __init__(self):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        _rss_high_water_bytes()  # no VmHWM line (StopIteration): sample instead

    def stop(self) -> int:
        return _rss_high_water_bytes()


def _rss_meter():
    release_freed_memory()  # start from live memory, not what earlier cells freed
    try:
        return _RssHighWater()
    except (OSError, StopIteration):  # no /proc, or the reset is not permitted here
        return _RssSampler()


class _RssSampler:
    """Peak RSS sampled every `interval` s, where VmHWM cannot be reset (it would be the process's lifetime peak)."""

    def __init__(self, interval=0.01):
        self.interval, self.peak = interval, _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _rss_bytes())

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, _rss_bytes())


PEAK_MEM_KIND = {"cuda": "cuda_max_allocated", "cpu": "cpu_rss_peak"}  # what peak_mem_bytes counts, by device
CONTENDED = 0.1  # cpu_wait_share above which a cell's throughput counts as measured on a busy CPU
PREFIX = "meter/"


def run_queue_ns() -> tuple[int, int] | None:
    """(ns on a CPU, ns waiting for one) summed over this process's threads; None without schedstat."""
    on_cpu = waiting = 0
    for path in glob.glob("/proc/self/task/*/schedstat"):
        try:
            with open(path) as f:
                fields = f.read().split()
        except OSError:  # the thread ended meanwhile
            continue
        on_cpu, waiting = on_cpu + int(fields[0]), waiting + int(fields[1])
    return (on_cpu, waiting) if on_cpu else None


def published(callback_metrics) -> dict:
    """The meter's figures from `trainer.callback_metrics` (see the module docstring)."""
    return {k[len(PREFIX):]: float(v) for k, v in callback_metrics.items() if k.startswith(PREFIX)}


class ThroughputMeter(L.Callback):
    def __init__(self):
        self.tokens = 0         # all training steps
        self.train_s = 0.0      # the whole training loop, validation excluded
        self.warmup_s = None    # the first step
        self._steady_tokens = 0
        self._eval_s = 0.0
        self._t0 = self._end = None
        self.peak_mem_bytes = None
        self.cpu_wait_share = None
        self._sampler = None
        self._queue0 = self._queue_end = None

    def setup(self, trainer, pl_module, stage):
        device = trainer.strategy.root_device
        if stage != "fit":
            return
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        elif hasattr(torch.backends, "mps") and device.type == "mps":
            pass
        else:
            self._sampler = _rss_meter()

    def on_train_start(self, trainer, pl_module):
        self._t0 = self._now(trainer)
        self._queue0 = run_queue_ns()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        tokens = pl_module.tokens(batch)
        self.tokens += tokens
        if self.warmup_s is None:  # the steady state starts after the first step
            self.warmup_s = self._now(trainer) - self._t0
        else:
            self._steady_tokens += tokens
        if trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps:
            self._end = self._now(trainer)  # the last optimiser step
            self._queue_end = run_queue_ns()

    def _now(self, trainer) -> float:
        synchronize(trainer.strategy.root_device)
        return time.perf_counter()

    def on_validation_start(self, trainer, pl_module):
        if trainer.training and self._end is None:  # validation inside the timed loop
            self._v0 = time.perf_counter()

    def on_validation_end(self, trainer, pl_module):
        if hasattr(self, "_v0"):
            self._eval_s += time.perf_counter() - self._v0
            del self._v0

    def on_train_end(self, trainer, pl_module):
        device = trainer.strategy.root_device
        if self._end is None:  # stopped before max_steps (max_epochs, a callback)
            self._end = self._now(trainer)
        self.train_s = self._end - self._t0 - self._eval_s
        queue = self._queue_end or run_queue_ns()
        if queue and self._queue0:
            on_cpu, waiting = (b - a for a, b in zip(self._queue0, queue))
            self.cpu_wait_share = waiting / (on_cpu + waiting) if on_cpu + waiting > 0 else None
        if device.type == "cuda":
            self.peak_mem_bytes = torch.cuda.max_memory_allocated(device)
        elif self._sampler is not None:
            self.peak_mem_bytes = self._sampler.stop()
            self._sampler = None
        figures = {"tokens": self.tokens, "train_s": self.train_s, "warmup_s": self.warmup_s,
                   "tokens_per_s": self.tokens_per_s, "peak_mem_bytes": self.peak_mem_bytes,
                   "cpu_wait_share": self.cpu_wait_share, "grad_norm": pl_module.last_grad_norm,
                   "steps": trainer.global_step}
        trainer.callback_metrics.update({PREFIX + k: torch.tensor(v, dtype=torch.float64)
                                         for k, v in figures.items() if v is not None})

    def teardown(self, trainer, pl_module, stage):
        if self._sampler is not None:  # training raised: stop the thread anyway
            self._sampler.stop()
            self._sampler = None

    @property
    def tokens_per_s(self) -> float | None:
        """Steady-state tokens/s (steps 2..N); over the whole loop when it ran one step."""
        if self._steady_tokens:
            steady_s = self.train_s - self.warmup_s
            return self._steady_tokens / steady_s if steady_s > 0 else None
        return self.tokens / self.train_s if self.train_s > 0 else None
