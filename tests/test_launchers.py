"""Launchers: local pool, Ray and Slurm (submitit) all fill one results store; resume crosses launchers."""
import json
import os
import signal
import sys

import pytest

from benchmark.config import ConfigError
from benchmark.launchers import run_matrix
from benchmark.config import parse_set
from benchmark.engine.cells import build_cells
from benchmark.engine.store import ResultsStore
from conftest import cli, kill_after_records

FAST = ["train.max_steps=6", "train.log_every=2", "adding.length=8", "copy.delay=4", "model.hidden=8"]
QUIET = open(os.devnull, "w")


def overlapped(records) -> bool:
    spans = sorted((r["worker"]["began"], r["worker"]["ended"]) for r in records)
    return any(b0 < a1 for (_, a1), (b0, _) in zip(spans, spans[1:]))


def test_local_pool_runs_cells_side_by_side_into_one_store(tmp_path):
    cells = build_cells(["copy,adding"], ["rnn,lstm"], ["cudnn"], 1, "smoke", parse_set(FAST))
    summary = run_matrix(cells, tmp_path, parallel=2, stream=QUIET)
    records = ResultsStore(tmp_path).records()
    assert summary.ran == 4 and len({r["key"] for r in records}) == len(records) == 4
    assert all(r["status"] == "ok" for r in records)
    # Cells ran in pool workers, never more than two at once. (Which worker takes which cell
    # is up to the scheduler: under load one worker may take all four before the other boots.)
    pids = {r["worker"]["pid"] for r in records}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    spans = [(r["worker"]["began"], r["worker"]["ended"]) for r in records]
    assert max(sum(b <= t < e for b, e in spans) for t, _ in spans) <= 2
    assert {r["threads"] for r in records} == {max(1, len(os.sched_getaffinity(0)) // 2)}  # CPU threads split


def test_missing_extras_say_what_to_install(monkeypatch, tmp_path):
    cells = build_cells(["adding"], ["rnn"], ["cudnn"], 1, "smoke", parse_set(FAST))
    for module, launcher in (("ray", "ray"), ("submitit", "slurm")):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
        with pytest.raises(ConfigError, match=rf"\.\[{launcher}\]"):
            run_matrix(cells, tmp_path, launcher=launcher, stream=QUIET)
    assert not (tmp_path / "results.jsonl").exists()


def test_slurm_jobs_through_submitit(tmp_path):
    pytest.importorskip("submitit")
    from benchmark.launchers.slurm import make_executor
    executor = make_executor(tmp_path, parallel=3, cluster="local")
    assert executor.cluster == "local" and executor._executor.parameters["timeout_min"] == 240
    cells = build_cells(["adding"], ["rnn,gru"], ["cudnn"], 1, "smoke", parse_set(FAST))
    summary = run_matrix(cells, tmp_path, launcher="slurm", slurm_cluster="debug", stream=QUIET)
    records = ResultsStore(tmp_path).records()
    assert summary.ran == 2 and {r["status"] for r in records} == {"ok"}
    assert {r["worker"]["launcher"] for r in records} == {"slurm"}


@pytest.mark.slow
def test_ray_runs_four_cells_two_at_a_time_into_one_store(tmp_path):
    pytest.importorskip("ray")
    # Cells long enough (a few seconds) that the second Ray worker is up, importing torch and
    # Lightning, before the first has finished all four: under load that boot took longer.
    cells = build_cells(["copy,adding"], ["rnn,lstm"], ["cudnn"], 1, "smoke", parse_set([*FAST, "train.max_steps=300"]))
    summary = run_matrix(cells, tmp_path, launcher="ray", parallel=2, stream=QUIET)
    records = ResultsStore(tmp_path).records()
    assert summary.ran == 4 and len({r["key"] for r in records}) == len(records) == 4
    assert all(r["status"] == "ok" and r["worker"]["launcher"] == "ray" for r in records)
    assert overlapped(records)  # two in flight
    spans = [(r["worker"]["began"], r["worker"]["ended"]) for r in records]
    assert max(sum(b <= t < e for b, e in spans) for t, _ in spans) <= 2  # never more than two


@pytest.mark.slow
def test_sigkill_of_a_ray_run_then_resume_locally(tmp_path):
    pytest.importorskip("ray")
    args = ["run", "--tasks", "copy,adding", "--models", "rnn,lstm", "--out", str(tmp_path), "--launcher", "ray",
            *[x for p in ["train.max_steps=30", "adding.length=10", "copy.delay=4", "model.hidden=8"]
              for x in ("--set", p)]]
    results = tmp_path / "results.jsonl"
    proc, before = kill_after_records(args, results, new_session=True)
    assert 1 <= len(before) < 4, "kill should land mid-run"
    again = cli(*args[:-2 * 4 - 2], *args[-2 * 4:], timeout=300)  # the same matrix, local launcher this time
    assert again.returncode == 0, again.stderr
    after = results.read_text().splitlines()
    assert after[: len(before)] == before
    keys = [json.loads(line)["key"] for line in after]
    assert len(keys) == len(set(keys)) == 4
    os.killpg(proc.pid, signal.SIGKILL) if _alive_group(proc.pid) else None  # anything Ray left behind


def _alive_group(pgid) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.mark.parametrize("who", ["runner", "terminal"])
def test_ctrl_c_of_a_parallel_run_stops_its_workers_and_stores_no_half_record(tmp_path, who):
    """`runner`: `kill -INT` of the runner alone (its workers hear nothing); `terminal`: Ctrl-C, which
    the terminal sends to the whole process group, workers and all."""
    import subprocess
    import time

    from conftest import ROOT
    sets = ["train.max_steps=1000000", "train.val_every=0", "adding.length=10", "copy.delay=4", "model.hidden=8"]
    args = ["run", "--tasks", "copy,adding", "--models", "rnn,lstm", "--out", str(tmp_path), "--parallel", "2",
            *[x for p in sets for x in ("--set", p)]]
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 180
        while time.time() < deadline and len(list((tmp_path / "logs").glob("*"))) < 2:  # both workers training
            time.sleep(0.2)
        time.sleep(1.0)
        workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        os.killpg(proc.pid, signal.SIGINT) if who == "terminal" else proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)  # nothing hangs
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if _alive_group(proc.pid) else None
    assert proc.returncode == 130, err
    assert "interrupted: 0 cells kept in" in err and "run the same command to resume" in err
    assert "Traceback" not in err  # no worker died noisily
    assert not (tmp_path / "results.jsonl").exists() or all(  # cells run for minutes: none finished, none stored
        json.loads(line)["status"] == "ok" for line in (tmp_path / "results.jsonl").read_text().splitlines())
    time.sleep(1.0)
    assert len(workers) >= 2 and not [pid for pid in workers if _running(pid)]  # the workers exited


def _running(pid) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False
