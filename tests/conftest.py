import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"  # the project's shared data sets, beside the checkout

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def cli(*args, timeout=300, env=None):
    """Run `python -m benchmark ARGS` as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "benchmark", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def kill_after_records(args, results: Path, records: int = 1, env=None, new_session=False, timeout=240):
    """Start `python -m benchmark ARGS`, SIGKILL it once `results` holds `records` lines
    (or it ended, or `timeout` passed), and return the lines left behind."""
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", *map(str, args)], cwd=ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=new_session)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if results.exists() and len(results.read_text().splitlines()) >= records:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc, results.read_text().splitlines() if results.exists() else []


@pytest.fixture
def data_dir():
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA
