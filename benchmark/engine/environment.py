"""What produced a result: the device, library versions, host and date, stored with every
record and every measurement; and the device calls every timer needs. torch is imported by the
functions that ask it, so reports that only read results (`package_versions`, `code_commit`)
load none."""
from __future__ import annotations

import os
import platform
import socket
import subprocess
from pathlib import Path
from datetime import datetime, timezone
from importlib import metadata

from benchmark.errors import ConfigError


DEFAULT_THREADS = 1  # torch intra-op threads per training process; chosen by measurement (README, "Threads")


def threads_for(requested: int | None) -> int | None:
    """`--threads`: None (not given) -> DEFAULT_THREADS; 0 -> None, torch's own default (all cores)
    in one process, an equal share of the cores for each of several workers; N -> N."""
    return DEFAULT_THREADS if requested is None else requested or None


def cpu_set() -> set[int]:
    """The CPUs this process may run on (its affinity mask: a container's or taskset's share)."""
    return set(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))


def available_cpus() -> int:
    """How many cores this process may run on (`cpu_set`)."""
    return len(cpu_set())


def use_threads(requested: int | None) -> int:
    """Set this process's torch intra-op threads from `--threads`; the number in force."""
    import torch

    threads = threads_for(requested)
    cores = available_cpus()
    if threads and threads > cores:  # each would wait on the others (README, 'Threads'); torch itself accepts it
        raise ConfigError(f"bad --threads {threads}: this machine has {cores} cores, and more threads than cores "
                          f"thrash; use at most {cores}, or 0 for torch's default")
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def device() -> torch.device:
    """Where measurements and plain loops run: the GPU when there is one (as Lightning's "auto")."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def synchronize(dev) -> None:
    """Wait for the device's queued work: GPU kernels run asynchronously, so a clock read
    without this measures the launch, not the work. CPU work is done when a call returns."""
    if dev.type == "cuda":
        import torch

        torch.cuda.synchronize(dev)


def provenance(dev, seed: int) -> dict:
    return {"device": device_name(dev), "accelerator": dev.type, "host": host(), "seed": seed,
            "versions": versions(), "code_commit": code_commit(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def code_commit() -> str | None:
    """The git commit of this code, '+modified' when the code or the measurement sizes differ from
    it (benchmark/, tasks/, configs/); None outside a git checkout (an installed wheel)."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if head.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "benchmark", "tasks", "configs"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+modified" if dirty else "")


def package_versions() -> dict:
    """Python's and the installed packages' versions, from their metadata (no torch import)."""
    out = {"python": platform.python_version()}
    for pkg in ("torch", "lightning", "torchmetrics", "scipy", "datasets", "wandb", "rnnbench"):
        out[pkg] = package_version(pkg)
    return out


def package_version(package: str) -> str | None:
    """An installed package's version from its metadata; None when it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict:
    """package_versions and the CUDA and cuDNN torch was built with."""
    import torch

    out = package_versions()
    out["cuda"] = torch.version.cuda
    out["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return out


def device_name(dev) -> str:
    import torch

    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    # The CPU model and the vector ISA torch's kernels use: float results (and so trained
    # metrics) can differ between CPUs with different kernels, so a record names both.
    return f"cpu: {cpu_model()} ({torch.backends.cpu.get_cpu_capability()}), {torch.get_num_threads()} threads"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def host() -> str:
    return socket.gethostname()
