"""Training throughput and peak memory of one cell, measured without per-step device syncs.

Throughput counts time steps (tokens) processed by training batches over the time spent in
the training loop, validation excluded; the clock is read after a device synchronisation
at the start and end only. Peak memory is torch's max allocated bytes on CUDA; on the CPU,
where torch keeps no such counter, it is the growth of the process's resident set over the
cell (`peak_mem_kind` says which): the kernel's high-water mark (VmHWM), reset at the start
by writing 5 to /proc/self/clear_refs (Linux >= 4.0), so nothing runs beside training;
where that reset is not allowed, a background thread samples the resident set every 10 ms.
"""
from __future__ import annotations

import threading
import time

import lightning as L
import torch

from benchmark.host_memory import release_freed_memory


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _rss_high_water_bytes() -> int:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


class _RssHighWater:
    """Peak RSS growth from the kernel's own counter: no thread, no sampling gaps."""

    def __init__(self):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        self.base = _rss_bytes()

    def stop(self) -> int:
        return max(0, _rss_high_water_bytes() - self.base)


def _rss_meter():
    release_freed_memory()  # start from live memory, not what earlier cells freed
    try:
        return _RssHighWater()
    except (OSError, StopIteration):  # no /proc, or the reset is not permitted here
        return _RssSampler()


class _RssSampler:
    def __init__(self, interval=0.01):
        self.interval, self.base, self.peak = interval, _rss_bytes(), 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _rss_bytes() - self.base)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, _rss_bytes() - self.base)


class ThroughputMeter(L.Callback):
    def __init__(self):
        self.tokens = 0
        self.train_s = 0.0
        self._eval_s = 0.0
        self.peak_mem_bytes = None
        self.peak_mem_kind = None
        self._sampler = None

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
        _sync(trainer.strategy.root_device)
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.tokens += pl_module.tokens(batch)

    def on_validation_start(self, trainer, pl_module):
        if trainer.training:
            self._v0 = time.perf_counter()

    def on_validation_end(self, trainer, pl_module):
        if hasattr(self, "_v0"):
            self._eval_s += time.perf_counter() - self._v0
            del self._v0

    def on_train_end(self, trainer, pl_module):
        device = trainer.strategy.root_device
        _sync(device)
        self.train_s = time.perf_counter() - self._t0 - self._eval_s
        if device.type == "cuda":
            self.peak_mem_bytes, self.peak_mem_kind = torch.cuda.max_memory_allocated(device), "cuda_max_allocated"
        elif self._sampler is not None:
            self.peak_mem_bytes, self.peak_mem_kind = self._sampler.stop(), "cpu_rss_growth"
            self._sampler = None

    def teardown(self, trainer, pl_module, stage):
        if self._sampler is not None:  # training raised: stop the thread anyway
            self._sampler.stop()
            self._sampler = None

    @property
    def tokens_per_s(self) -> float | None:
        return self.tokens / self.train_s if self.train_s > 0 else None
