"""torch.profiler's host and device time per training step, for a matrix cell and a plain loop alike.

The window covers steps 2..N (the first pays one-time costs, as every throughput here leaves
it out), each step marked with a `record_function`, so validation and set-up stay outside.
Host time is the wall time the Python thread spends inside a step (on a CPU that includes
the arithmetic itself); device time is the GPU kernels' own time over the window, per step.
On a GPU their gap is what host-side Python, Lightning and kernel launches cost: a step whose
device time is far below its host time leaves the GPU idle. Without a GPU device time is n/a.
"""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

import lightning as L
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from benchmark.engine.environment import synchronize

STEP = "rnnbench.train_step"


@contextlib.contextmanager
def quiet_profiler():
    """Around a profiler's start and stop: its own chatter silenced. Kineto writes lines such as
    "USDT:... SyncActivityProfilerHandler.cpp:52] profiler_start" straight to file descriptor 2
    (no environment variable turns them off), and torch warns through Python: both are dropped
    here, for these calls only (the steps profiled in between keep stderr)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no descriptor 2 to redirect: the warnings filter is all
            yield
            return
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            os.close(null)


class StepWindow:
    def __init__(self, device):
        self.device, self.steps, self._mark = device, 0, None
        cuda = [ProfilerActivity.CUDA] if device.type == "cuda" else []
        self.prof = profile(activities=[ProfilerActivity.CPU, *cuda])

    def begin(self, step: int) -> None:
        """Before training step `step` (0-based); the window opens after the first."""
        if step < 1:
            return
        if step == 1:
            synchronize(self.device)  # the first step's kernels stay outside
            with quiet_profiler():
                self.prof.start()
        self._mark = record_function(STEP)
        self._mark.__enter__()

    def end(self) -> None:
        if self._mark is not None:
            self._mark.__exit__(None, None, None)
            self._mark, self.steps = None, self.steps + 1

    def per_step_ms(self) -> tuple[float, float | None]:
        """(host ms, device ms or None) per profiled step."""
        if not self.steps:
            raise ValueError("the profiled window held no step: give --steps >= 2")
        synchronize(self.device)
        with quiet_profiler():
            self.prof.stop()
        events = self.prof.key_averages()
        host_us = next(e.cpu_time_total for e in events if e.key == STEP)
        device_us = sum(e.self_device_time_total for e in events) if self.device.type == "cuda" else None
        return host_us / self.steps / 1e3, None if device_us is None else device_us / self.steps / 1e3


class ProfileSteps(L.Callback):
    """A cell's training steps inside a StepWindow."""

    def __init__(self, window: StepWindow):
        self.window = window

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.window.begin(trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.window.end()


def describe(host_ms: float, device_ms: float | None, device: torch.device) -> str:
    if device_ms is None:
        return f"host {host_ms:.2f} ms/step, device n/a ({device.type}: no GPU kernels)"
    return f"host {host_ms:.2f} ms/step, device {device_ms:.2f} ms/step (device/host {device_ms / host_ms:.2f})"
