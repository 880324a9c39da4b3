"""RUN.md beside a run's outputs: the exact command, device, library versions and date."""
from __future__ import annotations

import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from benchmark.engine.environment import device, device_name, host, versions


def write_run_note(out_dir, profile: str) -> Path:
    dev = device()
    argv = [Path(sys.argv[0]).name if sys.argv[0].endswith("__main__.py") else sys.argv[0], *sys.argv[1:]]
    command = "python -m benchmark " + shlex.join(argv[1:]) if argv[0] == "__main__.py" else shlex.join(argv)
    lines = ["# How these results were produced", "",
             f"- command: `{command}`",
             f"- profile: {profile} (sizes in configs/measurements.yaml)",
             f"- device: {device_name(dev)}{' (CPU only: no GPU was used)' if dev.type == 'cpu' else ''}",
             f"- host: {host()}",
             f"- date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in versions().items() if v is not None), ""]
    path = Path(out_dir) / "RUN.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path
