import os
import subprocess
import sys
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


@pytest.fixture
def data_dir():
    if not DATA.is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA
