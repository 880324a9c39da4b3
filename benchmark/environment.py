"""What produced a result: library versions and the device, stored with every record."""
from __future__ import annotations

import platform
import socket
from importlib import metadata


def versions() -> dict:
    import torch
    out = {"python": platform.python_version()}
    for pkg in ("torch", "lightning", "torchmetrics", "datasets", "wandb", "rnnbench"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    out["cuda"] = torch.version.cuda
    out["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return out


def device_name(device) -> str:
    import torch
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    # The CPU model and the vector ISA torch's kernels use: float results (and so trained
    # metrics) can differ between CPUs with different kernels, so a record names both.
    return f"cpu: {_cpu_model()} ({torch.backends.cpu.get_cpu_capability()}), {torch.get_num_threads()} threads"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def host() -> str:
    return socket.gethostname()
