"""A timing harness: warm-up calls, device synchronisation around each timed call, median of repeats.

GPU kernels run asynchronously, so a clock read right after a call measures the launch, not
the work: `sync` (torch.cuda.synchronize on CUDA) runs before the clock starts and before it
stops. Warm-up calls absorb one-off costs (allocator growth, cuDNN algorithm search,
torch.compile tracing) and are not timed. The median resists outliers from other processes.
"""
from __future__ import annotations

import functools
import statistics
import time
from dataclasses import dataclass
from typing import Callable

from benchmark.engine.environment import synchronize


@dataclass(frozen=True)
class Timing:
    median_s: float
    times_s: tuple
    warmup: int

    @property
    def repeats(self) -> int:
        return len(self.times_s)


def no_sync() -> None:
    """CPU work is done when the call returns."""


def device_sync(device) -> Callable[[], None]:
    return functools.partial(synchronize, device) if device.type == "cuda" else no_sync


def time_call(fn: Callable[[], object], warmup: int = 2, repeats: int = 5, sync: Callable[[], None] = no_sync,
              clock: Callable[[], float] = time.perf_counter) -> Timing:
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()  # nothing queued from before leaks into this timing
        start = clock()
        fn()
        sync()  # the work fn launched has finished
        times.append(clock() - start)
    return Timing(statistics.median(times), tuple(times), warmup)
