"""Faults of a whole run: a full disk, a read-only folder, a file where --out should be, too many
threads, a model too big for host memory. Each asserts the exit status, that the message is one
line naming the thing and the fix (no traceback), and that every finished cell survived."""
import json
import os
import resource
import subprocess
import sys

import pytest

from conftest import ROOT, cli

pytestmark = pytest.mark.faults

FAST = ["--set", "train.max_steps=3", "--set", "model.hidden=8", "--set", "copy.delay=4", "--set",
        "train.log_every=1"]


def _one_error_line(err: str, *needles) -> str:
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_full_disk_keeps_every_finished_cell_whole_and_says_so_in_one_line(tmp_path):
    """A file-size limit (ulimit -f) in the child stands in for a full disk: the write past it fails
    with EFBIG, as one past a full disk fails with ENOSPC; cli.main ignores SIGXFSZ, so the process
    is told, not killed."""
    out = tmp_path / "run"
    first = cli("run", "--tasks", "copy", "--models", "lstm", "--out", out, *FAST, env={"OMP_NUM_THREADS": "1"})
    assert first.returncode == 0, first.stderr
    results = out / "results.jsonl"
    size = results.stat().st_size
    limit = size + 200  # room for part of a second record, not all of it: the torn write the bug left

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    run = subprocess.run([sys.executable, "-m", "benchmark", "run", "--tasks", "copy", "--models", "lstm,gru",
                          "--out", str(out), *FAST], cwd=ROOT, capture_output=True, text=True, timeout=180,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=limited)
    assert run.returncode == 1, run.stderr
    _one_error_line(run.stderr, str(results), "kept")
    assert results.stat().st_size == size  # nothing torn: the failed append left no partial line
    assert [r["cell"] for r in _lines(results)] == ["copy/lstm/cudnn/seed0"]
    again = cli("run", "--tasks", "copy", "--models", "lstm,gru", "--out", out, *FAST, env={"OMP_NUM_THREADS": "1"})
    assert again.returncode == 0, again.stderr  # space back: the same command resumes
    assert [r["cell"] for r in _lines(results)] == ["copy/lstm/cudnn/seed0", "copy/gru/cudnn/seed0"]


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder this process cannot write. chmod 0o555 binds a normal user; root (containers, this
    project's VM) ignores it, so as root the folder is a tmpfs mounted read-only (EROFS)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder, "Permission denied"
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"root, and no read-only tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield folder, "Read-only file system"
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_read_only_results_folder_is_one_line_naming_it(read_only_folder):
    folder, reason = read_only_folder
    run = cli("run", "--tasks", "copy", "--models", "lstm", "--out", folder, *FAST, timeout=120,
              env={"OMP_NUM_THREADS": "1"})
    assert run.returncode == 1, run.stderr
    _one_error_line(run.stderr, reason, str(folder), "--out")


def test_out_naming_a_file_is_a_config_error(tmp_path):
    (tmp_path / "f").write_text("mine\n")
    run = cli("run", "--tasks", "copy", "--out", tmp_path / "f", timeout=60)
    assert run.returncode == 2
    _one_error_line(run.stderr, "--out", "is a file")
    assert (tmp_path / "f").read_text() == "mine\n"


@pytest.mark.parametrize("threads", ["100000", str((len(os.sched_getaffinity(0))) + 1)])
def test_more_threads_than_make_sense_are_refused_before_training(tmp_path, threads):
    run = cli("run", "--tasks", "copy", "--models", "lstm", "--threads", threads, "--out", tmp_path, timeout=60)
    assert run.returncode == 2
    _one_error_line(run.stderr, "--threads", threads)
    assert not (tmp_path / "results.jsonl").exists()


def test_a_model_too_big_for_host_memory_fails_its_cell_with_advice(tmp_path):
    run = cli("run", "--tasks", "copy", "--models", "lstm,rnn", "--out", tmp_path, *FAST,
              "--set", "copy.model.hidden=2000000", timeout=120, env={"OMP_NUM_THREADS": "1"})
    assert run.returncode == 1, run.stderr  # a failed cell, the matrix went on
    assert "Traceback" not in run.stderr
    failed = [r for r in _lines(tmp_path / "results.jsonl") if r["status"] == "failed"]
    assert failed and all("host memory: lower train.batch_size or model.hidden" in r["error"] for r in failed)
