"""CUDA MPS (Multi-Process Service) while several cells share a GPU in worker processes.

Without MPS the GPU time-slices between processes: one context's kernels at a time. Under
MPS the workers' kernels run concurrently, which is what small RNN cells that leave most
of the GPU idle need. The local launcher starts the daemon for the run when cells share a
GPU and `nvidia-cuda-mps-control` exists and none is running, and stops it afterwards; a
daemon someone else started is used and left alone. Workers are spawned after the start,
so their contexts connect to it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager

import torch

BINARY = "nvidia-cuda-mps-control"


def decide(parallel: int, cuda: bool, binary: str | None, running: bool) -> tuple[str, str]:
    """("start" | "use" | "none", why); pure, so tests feed it fake machines."""
    if parallel <= 1:
        return "none", "one cell at a time"
    if not cuda:
        return "none", "not used: no CUDA device (cells share CPU cores, not a GPU)"
    if running:
        return "use", "a daemon is already running: the workers use it, and it stays"
    if binary is None:
        return "none", f"not used: no {BINARY} on PATH; the GPU time-slices between the workers"
    return "start", f"started for this run ({binary} -d); stopped at its end"


def _pipe_dir() -> str:
    return os.environ.get("CUDA_MPS_PIPE_DIRECTORY", "/tmp/nvidia-mps")


def daemon_running() -> bool:
    return os.path.exists(os.path.join(_pipe_dir(), "control"))


@contextmanager
def for_run(parallel: int, say=print):
    """MPS around a run of `parallel` worker processes on this machine's GPUs."""
    binary = shutil.which(BINARY)
    action, why = decide(parallel, torch.cuda.is_available(), binary, daemon_running())
    if parallel > 1:
        say(f"MPS: {why}")
    if action == "start" and subprocess.run([binary, "-d"], capture_output=True).returncode != 0:
        say("MPS: the daemon did not start; the GPU time-slices between the workers")
        action = "none"
    try:
        yield action
    finally:
        if action == "start":
            subprocess.run([binary], input="quit\n", text=True, capture_output=True)
