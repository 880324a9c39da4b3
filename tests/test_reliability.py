"""Faults: a second runner is refused, kill -9 resumes, torn records re-run, OOM and NaN stay in their cell."""
import json
import os
import time

import pytest
import torch

from benchmark.launchers import run_matrix
from benchmark.engine.lock import RunLock
from benchmark.config import parse_set
from benchmark.engine.cells import build_cells
from benchmark.engine.records import base_record
from benchmark.engine.runner import run_cell
from benchmark.engine.store import ResultsStore
from conftest import cli, kill_after_records
from tasks.adding import AddingTask

FAST = ["train.max_steps=6", "train.log_every=2", "adding.length=8", "copy.delay=4", "model.hidden=8"]
QUIET = open(os.devnull, "w")


def test_second_runner_on_a_folder_is_refused_but_workers_may_append(tmp_path):
    with RunLock(tmp_path):
        run = cli("run", "--tasks", "adding", "--models", "rnn", "--out", tmp_path, *_sets(FAST), timeout=120)
        assert run.returncode == 2
        assert run.stderr.strip().count("\n") == 0 and "in use by another run" in run.stderr
        (cell,) = build_cells(["adding"], ["rnn"], ["cudnn"], 1, "smoke", parse_set(FAST))
        ResultsStore(tmp_path).append({**base_record(cell), "status": "ok"})  # a worker's append needs no run lock
    assert ResultsStore(tmp_path).latest()[cell.key]["status"] == "ok"
    with RunLock(tmp_path):  # released on exit: the next run gets it
        pass


def test_sigkill_of_a_parallel_run_then_resume(tmp_path):
    args = ["run", "--tasks", "copy,adding", "--models", "rnn,lstm,gru", "--out", str(tmp_path),
            "--parallel", "2", *_sets(["train.max_steps=40", "adding.length=10", "copy.delay=4", "model.hidden=8"])]
    results = tmp_path / "results.jsonl"
    kill_after_records(args, results, env={"OMP_NUM_THREADS": "1"}, timeout=180)
    time.sleep(2.5)  # orphaned pool workers notice their runner is gone and exit without a record
    before = results.read_text().splitlines()
    assert 1 <= len(before) < 6, "kill should land mid-run"
    again = cli(*args, timeout=300, env={"OMP_NUM_THREADS": "1"})
    assert again.returncode == 0, again.stderr
    after = results.read_text().splitlines()
    assert after[: len(before)] == before  # finished cells kept as they were
    keys = [json.loads(line)["key"] for line in after]
    assert len(keys) == len(set(keys)) == 6


def test_torn_record_is_reported_and_its_cell_runs_again(tmp_path):
    cells = build_cells(["adding"], ["rnn,lstm"], ["cudnn"], 1, "smoke", parse_set(FAST))
    run_matrix(cells, tmp_path, stream=QUIET)
    path = tmp_path / "results.jsonl"
    lines = path.read_text().splitlines()
    path.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # power loss mid-write of the 2nd
    table = cli("table", tmp_path, "--format", "json", timeout=60)
    assert table.returncode == 0 and "not a complete record" in table.stderr
    assert [r["model"] for r in json.loads(table.stdout)] == ["rnn"]
    assert run_matrix(cells, tmp_path, stream=QUIET).ran == 1  # only the torn cell
    raw = path.read_text().splitlines()
    assert len(raw) == 2 and json.loads(raw[1])["model"] == "lstm"  # the torn tail cut, ours a line of its own
    assert (tmp_path / "results.jsonl.torn").read_text() == lines[1][: len(lines[1]) // 2] + "\n"  # kept aside
    assert {r["model"] for r in ResultsStore(tmp_path).current() if r["status"] == "ok"} == {"rnn", "lstm"}


@pytest.mark.parametrize("fault", ["oom", "oom-runtime", "nan"])
def test_a_faulty_cell_fails_alone(tmp_path, monkeypatch, fault):
    original = AddingTask.step

    def step(self, batch):
        if self.model_cfg.variant == "rnn":
            if fault == "oom":
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            if fault == "oom-runtime":
                raise RuntimeError("CUDA error: out of memory")
            loss, pred, y = original(self, batch)
            return loss * float("nan"), pred, y
        return original(self, batch)

    monkeypatch.setattr(AddingTask, "step", step)
    cells = build_cells(["adding"], ["rnn,lstm"], ["cudnn"], 1, "smoke", parse_set(FAST))
    summary = run_matrix(cells, tmp_path, stream=QUIET)
    records = {r["model"]: r for r in ResultsStore(tmp_path).current()}
    assert records["lstm"]["status"] == "ok"  # the next cell ran
    if fault == "nan":  # a loss that blew up is `diverged` (issue 25), its error kept beside the reason
        assert records["rnn"]["status"] == "diverged" and [r["model"] for r in summary.diverged] == ["rnn"]
        assert not summary.failed
        assert "NonFiniteLoss" in records["rnn"]["error"] and records["rnn"]["reason"].startswith("training diverged")
    else:
        assert records["rnn"]["status"] == "failed" and [r["model"] for r in summary.failed] == ["rnn"]
        assert "out of memory" in records["rnn"]["error"] and "train.batch_size" in records["rnn"]["error"]


def test_same_cell_and_seed_give_the_same_metrics(tmp_path):
    (cell,) = build_cells(["adding"], ["gru"], ["cudnn"], 1, "smoke", parse_set(FAST))
    first, second = (run_cell(cell, tmp_path / str(i)) for i in range(2))
    assert first["status"] == second["status"] == "ok"
    assert first["metrics"] == second["metrics"] and first["grad_norm"] == second["grad_norm"]
    (other,) = build_cells(["adding"], ["gru"], ["cudnn"], 2, "smoke", parse_set(FAST))[1:]
    assert run_cell(other, tmp_path / "2")["metrics"] != first["metrics"]  # the seed does matter


def test_bad_devices_and_parallel_are_config_errors(tmp_path):
    for flag in (["--devices", "0"], ["--parallel", "0"]):
        run = cli("run", "--tasks", "adding", "--models", "rnn", "--out", tmp_path, *flag, timeout=60)
        assert run.returncode == 2 and "an integer >= 1" in run.stderr and flag[0] in run.stderr


def _sets(pairs):
    return [x for pair in pairs for x in ("--set", pair)]
