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
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def host() -> str:
    return socket.gethostname()
