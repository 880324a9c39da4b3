"""The runner keeps going: a diverging cell is recorded as diverged, a killed run resumes."""
import io
import json
import os
import re
import signal

import pytest
import torch

from benchmark.launchers import run_matrix
from benchmark.config import parse_set
from benchmark.engine.cells import build_cells
from benchmark.engine.store import ResultsStore
from conftest import cli, ctrl_c_at, kill_after_records
from tasks.adding import AddingTask
from tasks.base import REGISTRY

FAST = ["train.max_steps=8", "adding.length=12", "copy.delay=5"]


@pytest.fixture
def diverging_task():
    class DivergingTask(AddingTask):
        name = "diverging"

        def step(self, batch):
            loss, pred, y = super().step(batch)
            return loss * torch.tensor(float("nan")), pred, y

    yield DivergingTask
    REGISTRY.pop("diverging")


def test_nan_loss_marks_only_its_cell_diverged(tmp_path, diverging_task):
    cells = build_cells(["diverging,adding"], ["lstm"], ["cudnn"], 1, "smoke", parse_set(FAST))
    summary = run_matrix(cells, tmp_path, stream=open(os.devnull, "w"))
    records = {r["task"]: r for r in ResultsStore(tmp_path).records()}
    assert records["diverging"]["status"] == "diverged"  # records.finalise: a NonFiniteLoss failure
    assert "NonFiniteLoss" in records["diverging"]["error"] and "train.lr" in records["diverging"]["reason"]
    assert records["adding"]["status"] == "ok"
    assert [r["task"] for r in summary.diverged] == ["diverging"] and not summary.failed
    # A diverged cell is kept, not re-run, unless asked (--retry-failed), as a failed one.
    assert run_matrix(cells, tmp_path, stream=open(os.devnull, "w")).ran == 0
    assert run_matrix(cells, tmp_path, retry_failed=True, stream=open(os.devnull, "w")).ran == 1


def test_failed_cell_makes_exit_status_nonzero(tmp_path):
    # A lr so large that training diverges (clipping off) fails cells; the run still ends with a table.
    run = cli("run", "--tasks", "adding", "--models", "rnn", "--out", tmp_path,
              "--set", "train.lr=1e30", "--set", "train.grad_clip=1e30", "--set", "train.max_steps=20",
              "--set", "train.log_every=1", "--set", "adding.length=12")
    assert run.returncode == 1
    assert "failed" in run.stderr and "adding/rnn" in run.stderr and "### adding" in run.stdout


def test_resume_after_sigkill(tmp_path):
    args = ["run", "--tasks", "copy,adding", "--models", "rnn,lstm,gru", "--out", tmp_path,
            "--set", "train.max_steps=60", "--set", "copy.delay=5", "--set", "adding.length=12"]
    results = tmp_path / "results.jsonl"
    _, lines = kill_after_records(args, results, records=2)
    before = [json.loads(line) for line in lines]
    assert 2 <= len(before) < 6, "kill should land mid-run"

    again = cli(*args, timeout=300)
    assert again.returncode == 0, again.stderr
    after = [json.loads(line) for line in results.read_text().splitlines()]
    assert after[: len(before)] == before  # finished cells kept as they were
    keys = [r["key"] for r in after]
    assert len(keys) == len(set(keys)) == 6  # each cell once: no duplicates, none lost
    assert all(r["status"] == "ok" for r in after)


def _one_cell(overrides):
    from benchmark.bench.overhead import make_cell
    return make_cell("copy", "lstm", 16, 12, overrides=parse_set(["copy.delay=5", "train.batch_size=8", *overrides]))


def test_logged_curves_carry_the_value_of_their_own_step(tmp_path):
    """A value logged on one step must not be written under a later step's number."""
    import csv

    import lightning as L
    from lightning.pytorch.utilities import grad_norm

    from benchmark.engine.runner import run_cell

    losses, norms = {}, {}

    class Watch(L.Callback):
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            losses[trainer.global_step - 1] = float(outputs["loss"])

        def on_before_optimizer_step(self, trainer, module, optimizer):
            norms[trainer.global_step] = float(grad_norm(module, norm_type=2)["grad_2.0_norm_total"])

    record = run_cell(_one_cell(["train.log_every=4"]), tmp_path, callbacks=[Watch()])
    assert record["status"] == "ok"
    rows = [r for r in csv.DictReader(open(next(tmp_path.glob("logs/*/metrics.csv")))) if r["train/loss"]]
    assert [int(r["step"]) for r in rows] == [3, 7, 11]
    for r in rows:
        assert float(r["train/loss"]) == pytest.approx(losses[int(r["step"])], rel=1e-6)
        assert float(r["train/grad_norm"]) == pytest.approx(norms[int(r["step"])], rel=1e-6)
    assert record["grad_norm"] == pytest.approx(norms[11], rel=1e-6)  # the last step's


def test_throughput_is_the_steady_state_after_a_separately_timed_first_step(tmp_path):
    from benchmark.engine.runner import run_cell
    record = run_cell(_one_cell([]), tmp_path)
    tokens_per_step = 8 * (5 + 20)
    assert record["train_steps"] == 12 and record["train_tokens"] == 12 * tokens_per_step
    assert 0 < record["warmup_step_s"] < record["train_s"]
    steady_s = record["train_s"] - record["warmup_step_s"]  # both rounded: to within 1 ms
    assert 11 * tokens_per_step / (steady_s + 1e-3) < record["train_tokens_per_s"] < 11 * tokens_per_step / (steady_s - 1e-3)


def _recall_cell(*sets):
    return build_cells(["copy"], ["lstm"], overrides=parse_set([
        "copy.delay=3", "copy.symbols=1", "model.hidden=32", "train.lr=0.01", "train.batch_size=32",
        "train.val_every=20", "train.val_batches=2", "train.test_batches=2", *sets]))[0]


@pytest.mark.parametrize("target", [0.99, 1.0])  # 1.0: met by equality, which EarlyStopping's own `>` misses
def test_stop_at_ends_training_at_the_first_validation_that_meets_the_target(tmp_path, target):
    import csv

    from benchmark.engine.runner import run_cell
    # Seeds 0-3 met recall_acc >= 0.99 (at 1.0) by step 100-120, in about 0.3 s each.
    record = run_cell(_recall_cell("train.max_steps=2000", f"train.stop_at=recall_acc>={target}"), tmp_path)
    assert record["status"] == "ok", record.get("error")
    assert record["reached_target"] and record["stopped_at_step"] == record["train_steps"] < 500
    assert record["stopped_at_step"] % 20 == 0 and record["metrics"]["val/recall_acc"] >= target
    assert "test/recall_acc" in record["metrics"]  # the test stage still ran
    rows = [r for r in csv.DictReader(open(tmp_path / record["curve"])) if r.get("val/recall_acc")]
    assert len(rows) == record["stopped_at_step"] // 20  # one row per validation: the learning curve
    assert float(rows[-1]["val/recall_acc"]) >= target > max(float(r["val/recall_acc"]) for r in rows[:-1])


def test_a_target_not_met_runs_every_step(tmp_path):
    from benchmark.engine.runner import run_cell
    record = run_cell(_recall_cell("train.max_steps=40", "train.stop_at=loss<=0.0"), tmp_path)
    assert record["status"] == "ok", record.get("error")
    assert record["train_steps"] == 40 and record["reached_target"] is False and record["stopped_at_step"] is None
    assert (tmp_path / record["curve"]).exists()
    unknown = run_cell(_recall_cell("train.max_steps=40", "train.stop_at=mse<=0.1"), tmp_path)
    assert unknown["status"] == "failed" and "train.stop_at" in unknown["error"] and "recall_acc" in unknown["error"]


@pytest.mark.parametrize("bad", ["acc>0.9", "recall_acc>=x", "val/recall_acc>=0.9"])
def test_bad_stop_at_names_the_setting(bad):
    from benchmark.config import ConfigError
    with pytest.raises(ConfigError, match="train.stop_at"):
        _recall_cell(f"train.stop_at={bad}")
    with pytest.raises(ConfigError, match="train.val_every"):
        _recall_cell("train.val_every=0", "train.stop_at=recall_acc>=0.9")


def test_ctrl_c_in_a_cell_stops_the_matrix_and_keeps_the_finished_cells(tmp_path, monkeypatch):
    from benchmark.errors import MatrixInterrupted
    from tasks.copy import CopyTask

    cells = build_cells(["copy"], ["rnn,lstm,gru"], ["cudnn"], 1, "smoke", parse_set([*FAST, "train.log_every=1"]))
    ctrl_c_at(monkeypatch, CopyTask, "lstm", step=3)
    with pytest.raises(MatrixInterrupted) as stopped:  # Lightning would have made it sys.exit(1)
        run_matrix(cells, tmp_path, stream=open(os.devnull, "w"))
    assert stopped.value.kept == 1 and stopped.value.folder == tmp_path.resolve()
    assert [r["model"] for r in ResultsStore(tmp_path).records()] == ["rnn"]  # no record of the interrupted cell
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Lightning left it ignored
    lstm_logs = next((tmp_path / "logs").glob("copy-lstm-*"))

    monkeypatch.undo()
    assert run_matrix(cells, tmp_path, stream=open(os.devnull, "w")).ran == 2  # resumed: lstm and gru
    records = ResultsStore(tmp_path).records()
    assert sorted(r["model"] for r in records) == ["gru", "lstm", "rnn"]
    # The interrupted cell's curve is kept beside the new one, which its record points to.
    earlier = lstm_logs.with_name(lstm_logs.name + ".prev1") / "metrics.csv"
    assert earlier.exists() and max(int(row["step"]) for row in _rows(earlier)) <= 3
    lstm = next(r for r in records if r["model"] == "lstm")
    assert tmp_path / lstm["curve"] == lstm_logs / "metrics.csv"
    assert max(int(row["step"]) for row in _rows(tmp_path / lstm["curve"])) >= 7  # the whole run, 8 steps


def test_a_cell_run_again_moves_its_earlier_logs_aside(tmp_path):
    from benchmark.engine.runner import rotate_log_folder, run_cell

    cell = _one_cell(["train.log_every=1", "train.max_steps=3"])
    first = run_cell(cell, tmp_path)
    curve = tmp_path / first["curve"]
    kept = curve.read_text()
    assert run_cell(cell, tmp_path)["curve"] == first["curve"]
    assert (curve.parent.with_name(curve.parent.name + ".prev1") / "metrics.csv").read_text() == kept
    assert run_cell(cell, tmp_path)["status"] == "ok"
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        curve.parent.name, curve.parent.name + ".prev1", curve.parent.name + ".prev2"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert rotate_log_folder(str(empty)) is None and empty.exists()  # nothing to keep: left in place


def _rows(path):
    import csv
    with open(path) as f:
        return list(csv.DictReader(f))


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_bar_inside_the_cell_a_log_one_line_per_cell(tmp_path):
    cells = build_cells(["copy"], ["rnn,lstm"], ["cudnn"], 1, "smoke",
                        parse_set([*FAST, "train.max_steps=40", "train.log_every=10"]))
    log = io.StringIO()
    run_matrix(cells, tmp_path / "log", stream=log)
    lines = log.getvalue().splitlines()
    assert len(lines) == 5 and lines[0].startswith("matrix: 2 cells")  # a start and an end line per cell
    assert lines[1] == "[1/2] copy/rnn/cudnn/seed0 ..." and lines[2].startswith("[1/2] copy/rnn/cudnn/seed0 ok in")
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()

    terminal = _Terminal()
    run_matrix(cells, tmp_path / "tty", stream=terminal)
    shown = terminal.getvalue()
    assert "copy/lstm/cudnn/seed0" in shown and "40/40" in shown and "steps/s" in shown
    assert re.search(r"loss \d\.\d+", shown)  # the loss of the last logging step
    # The per-cell lines are whole lines: the bar is erased before each is printed, not written through it.
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown).replace("\r", "\n").splitlines()
    assert "[1/2] copy/rnn/cudnn/seed0 ..." in plain
    assert any(re.fullmatch(r"\[2/2\] copy/lstm/cudnn/seed0 ok in \d+\.\ds \| ETA 0m00s", line) for line in plain)


def test_the_bar_reads_the_loss_only_on_logging_steps():
    from types import SimpleNamespace

    from rich.console import Console

    from benchmark.engine.progress import CellProgress

    class Metrics(dict):
        reads = 0

        def get(self, key, default=None):
            Metrics.reads += 1  # each read of a logged tensor's value may wait for the device
            return super().get(key, default)

    trainer = SimpleNamespace(max_steps=20, global_step=0, log_every_n_steps=5,
                              callback_metrics=Metrics({"train/loss": torch.tensor(0.25)}))
    bar = CellProgress(Console(file=_Terminal(), force_terminal=True), "copy/lstm")
    bar.on_train_start(trainer, None)
    for step in range(1, 21):
        trainer.global_step = step
        bar.on_train_batch_end(trainer, None, None, None, step - 1)
    assert Metrics.reads == 4
    assert bar.bar.tasks[0].completed == 20 and bar.bar.tasks[0].fields["loss"] == "loss 0.25"
    bar.on_train_end(trainer, None)
    assert bar.bar is None
