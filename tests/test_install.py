"""A normal install works outside the checkout: the wheel built from the tree git would commit,
installed with no access to the repository, lists its profiles and trains a smoke cell (what CI
checks; README, 'Set up')."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT


def _tree_files() -> list[str]:
    """The files git tracks or would track (untracked but not ignored: not yet committed work),
    as a clean clone would have them; build outputs and caches are ignored, so left out."""
    if shutil.which("git") is None:
        pytest.skip("git not found: the tree to build from is git's")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True)
    if listed.returncode:
        pytest.skip(f"{ROOT} is not a git checkout: {listed.stderr.strip()}")
    return [f for f in listed.stdout.split("\0") if f and (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(site folder, wheel) of the wheel built from a copy of the tree, installed with --target."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    for name in _tree_files():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    # --no-build-isolation: this environment's setuptools, no index needed; --no-deps: the
    # dependencies come from this environment (torch alone is gigabytes).
    built = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "wheel", src],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel, = (tmp / "wheel").glob("rnnbench-*.whl")
    done = subprocess.run([*pip, "install", "--no-deps", "--target", tmp / "site", wheel], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return tmp / "site", wheel


def _from_site(site: Path, *args, cwd: Path):
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    env.pop("RNNBENCH_CONFIG_DIR", None)  # the installed configs, not a folder of the user's
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_wheel_ships_every_config_file(installed):
    _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = [p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").rglob("*.yaml")]
    assert configs
    assert [c for c in configs if f"benchmark/{c}" not in names] == []


@pytest.mark.slow
def test_installed_wheel_lists_profiles_and_trains_a_cell_outside_the_checkout(installed, tmp_path):
    site, _ = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _from_site(site, "-c", "import benchmark, tasks, benchmark.config as c; "
                                   "print(benchmark.__file__, tasks.__file__, c.CONFIG_DIR, sep='\\n')", cwd=elsewhere)
    assert where.returncode == 0, where.stderr
    for path in where.stdout.split():
        assert Path(path).is_relative_to(site), where.stdout  # the install's, not the checkout's

    listed = _from_site(site, "-m", "benchmark", "list", cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("profiles")) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("  ")), len(lines))
    assert "smoke" in [line.strip() for line in lines[start:end]]  # the run profiles, read from the install

    out = tmp_path / "run"
    ran = _from_site(site, "-m", "benchmark", "run", "--tasks", "copy", "--models", "lstm", "--profile", "smoke",
                     "--set", "train.max_steps=5", "--out", out, "--wandb", "disabled", cwd=elsewhere)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert '"status": "ok"' in (out / "results.jsonl").read_text()
    assert "max_steps: 5" in (out / "config.yaml").read_text()
