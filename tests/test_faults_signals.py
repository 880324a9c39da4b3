"""Faults: SIGTERM, SIGINT, SIGHUP and SIGKILL at several points of a short run, as a scheduler,
a container, a terminal or the OOM killer sends them. Each run is a real `python -m benchmark`
process; each test asserts the exit status, the message and that every finished cell survived
(and, after a resume, that nothing ran twice).

The matrix is `adding` (20 steps: finishes in seconds) then `copy` (100,000 steps: still
training when the signal comes), so "after a finished cell" is reached by waiting for its
record and "mid-training" by waiting for the copy cell's start line.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, cli

pytestmark = pytest.mark.faults

SETS = ["model.hidden=8", "copy.delay=4", "adding.length=8", "train.log_every=5", "adding.train.max_steps=20"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TIMEOUT = 90


def run_args(out, tasks="adding,copy", extra=(), steps=100_000):
    args = ["run", "--tasks", tasks, "--models", "lstm", "--out", str(out), *extra]
    for s in [*SETS, f"train.max_steps={steps}"]:
        args += ["--set", s]
    return args


def start(out, tasks="adding,copy", extra=()):
    args = run_args(out, tasks, extra)
    log = open(out.parent / f"{out.name}.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=ROOT, env=ENV, stdout=log,
                            stderr=subprocess.STDOUT)
    return proc, log


def wait_for(proc, log, predicate, what):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        log.seek(0)
        if predicate(log.read()):
            return
        assert proc.poll() is None, f"the run ended before {what}:\n{_text(log)}"
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"no {what} within {TIMEOUT} s:\n{_text(log)}")


def stop(proc, log, signum):
    proc.send_signal(signum)
    try:
        rc = proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the run did not end within {TIMEOUT} s of signal {signum}:\n{_text(log)}")
    return rc, _text(log)


def _text(log):
    log.seek(0)
    return log.read()


def records(out):
    path = out / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def copy_training(text):
    return "copy/lstm" in text


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)])
def test_a_signal_after_a_finished_cell_keeps_it_and_resume_runs_only_the_rest(tmp_path, signum, status):
    out = tmp_path / "run"
    proc, log = start(out)
    wait_for(proc, log, lambda t: len(records(out)) == 1 and copy_training(t), "finished adding cell")
    time.sleep(1.0)  # into the copy cell's training steps
    rc, text = stop(proc, log, signum)
    assert rc == status, text
    name = signal.Signals(signum).name
    last = text.strip().splitlines()[-1]
    assert last.startswith(f"interrupted: 1 cell kept in {out}"), text
    assert (f" by {name};" in last) == (signum != signal.SIGINT), last
    assert "Traceback" not in text
    kept = records(out)
    assert [r["cell"] for r in kept] == ["adding/lstm/cudnn/seed0"] and kept[0]["status"] == "ok"
    if signum != signal.SIGTERM:
        return  # the resume is the same for every signal: checked once
    before = (out / "results.jsonl").read_text()
    again = cli(*run_args(out, steps=20), timeout=120, env={"OMP_NUM_THREADS": "1"})
    assert again.returncode == 0, again.stderr
    assert "1 already done or n/a, 1 to run" in again.stdout
    after = (out / "results.jsonl").read_text()
    assert after.startswith(before)  # the kept record as it was, byte for byte


@pytest.mark.parametrize("point", ["while torch loads", "mid-training"])
def test_sigterm_of_a_serial_run_is_never_status_0(tmp_path, point):
    """The bug: Lightning turned SIGTERM into a SystemExit with no code, and the run ended 0, silently."""
    out = tmp_path / "run"
    proc, log = start(out, tasks="copy")
    if point == "mid-training":
        wait_for(proc, log, copy_training, "copy cell start")
        time.sleep(1.0)
    else:
        time.sleep(1.0)  # the interpreter is up, torch and Lightning still importing (seconds)
    rc, text = stop(proc, log, signal.SIGTERM)
    assert rc == 143, text
    assert "Traceback" not in text
    assert text.strip().splitlines()[-1].startswith("interrupted"), text
    assert records(out) == []  # the cell in training is not recorded: it runs again on resume


def test_sigterm_of_a_parallel_run_stops_its_workers(tmp_path):
    out = tmp_path / "run"
    proc, log = start(out, extra=["--parallel", "2"])
    wait_for(proc, log, lambda t: len(records(out)) == 1, "finished adding cell")
    rc, text = stop(proc, log, signal.SIGTERM)
    assert rc == 143, text
    assert "interrupted: 1 cell kept in" in text and "Traceback" not in text
    assert [r["cell"] for r in records(out)] == ["adding/lstm/cudnn/seed0"]


@pytest.mark.parametrize("after_records", [0, 1])
def test_sigkill_leaves_whole_records_and_resume_completes(tmp_path, after_records):
    """kill -9 (the OOM killer's signal) cannot be handled: what must hold is the store."""
    out = tmp_path / "run"
    tasks = "adding,copy" if after_records else "copy"
    proc, log = start(out, tasks)
    wait_for(proc, log, lambda t: len(records(out)) == after_records and copy_training(t), "the copy cell")
    time.sleep(1.0)
    rc, _ = stop(proc, log, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    kept = records(out)  # every line parses: nothing torn
    assert len(kept) == after_records
    again = cli(*run_args(out, tasks, steps=20), timeout=120, env={"OMP_NUM_THREADS": "1"})
    assert again.returncode == 0, again.stderr
    cells = [r["cell"] for r in records(out)]
    assert sorted(cells) == ["adding/lstm/cudnn/seed0", "copy/lstm/cudnn/seed0"][1 - after_records:]  # each once
