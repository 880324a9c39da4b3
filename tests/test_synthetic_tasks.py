"""Generators of the synthetic tasks: shapes, determinism, and the baselines they quote."""
import math

import torch

from tasks.adding import PREDICT_ONE_MSE
from tasks.copy import memoryless_loss
from tasks.data.synthetic import BLANK, DELIM, RECALL, make_adding_batch, make_copy_batch


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_copy_layout():
    x, y = make_copy_batch(16, 30, _gen(0), "cpu")
    assert x.shape == y.shape == (16, 30 + 2 * RECALL)
    assert torch.all((x[:, :RECALL] >= 1) & (x[:, :RECALL] <= 8))
    assert torch.all(x[:, RECALL + 30 - 1] == DELIM)
    assert torch.all(x[:, RECALL:RECALL + 29] == BLANK) and torch.all(x[:, -RECALL:] == BLANK)
    assert torch.equal(y[:, -RECALL:], x[:, :RECALL])
    assert torch.all(y[:, :-RECALL] == BLANK)


def test_generators_are_deterministic_per_seed():
    for make in (lambda g: make_copy_batch(8, 12, g, "cpu"), lambda g: make_adding_batch(8, 12, g, "cpu")):
        a, b, c = make(_gen(3)), make(_gen(3)), make(_gen(4))
        assert all(torch.equal(p, q) for p, q in zip(a, b))
        assert not torch.equal(a[0], c[0])


def test_copy_memoryless_baseline_formula():
    assert math.isclose(memoryless_loss(100), 10 * math.log(8) / 120)
    # The formula is the cross-entropy of the best memoryless predictor: blanks, then uniform.
    x, y = make_copy_batch(64, 25, _gen(1), "cpu")
    logits = torch.full((64, 45, 9), -1e9)
    logits[:, :-RECALL, BLANK] = 0
    logits[:, -RECALL:, 1:] = 0
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
    assert math.isclose(ce.item(), memoryless_loss(25), rel_tol=1e-6)


def test_adding_layout_and_target():
    x, y = make_adding_batch(32, 20, _gen(0), "cpu")
    assert x.shape == (32, 20, 2) and y.shape == (32,)
    marks = x[..., 1]
    assert torch.all(marks[:, :10].sum(1) == 1) and torch.all(marks[:, 10:].sum(1) == 1)
    torch.testing.assert_close(y, (x[..., 0] * marks).sum(1))


def test_adding_predict_one_baseline_is_measured():
    _, y = make_adding_batch(200_000, 10, _gen(2), "cpu")
    assert abs(((y - 1) ** 2).mean().item() - PREDICT_ONE_MSE) < 0.003


def test_recall_is_copy_with_one_symbol():
    from tasks.copy import copy_lag
    x, y = make_copy_batch(16, 7, _gen(0), "cpu", symbols=1)
    assert x.shape == y.shape == (16, 7 + 2)
    assert torch.all(x[:, 7] == DELIM) and torch.all(x[:, 1:7] == BLANK) and torch.all(x[:, 8] == BLANK)
    assert torch.equal(y[:, -1], x[:, 0]) and torch.all(y[:, :-1] == BLANK)
    assert copy_lag(7, 1) == 8 == x.shape[1] - 1  # held from the first step to the last
    assert math.isclose(memoryless_loss(7, 1), math.log(8) / 9)
    # The default is today's ten symbols, batch for batch.
    assert all(torch.equal(a, b) for a, b in zip(make_copy_batch(4, 5, _gen(2), "cpu"),
                                                  make_copy_batch(4, 5, _gen(2), "cpu", symbols=RECALL)))


def _copy_cell(*sets, seed=0):
    from benchmark.config import parse_set
    from benchmark.engine.cells import build_cells
    return build_cells(["copy"], ["lstm"], seeds=[seed], overrides=parse_set([
        "copy.delay=4", "copy.symbols=1", "model.hidden=32", "train.lr=0.01", "train.batch_size=32",
        "train.val_batches=2", "train.test_batches=4", *sets]))[0]


def test_an_lstm_learns_the_recall_task(tmp_path):
    # Seeds 0-2 all reach 1.0 by step 200 (under a second on a CPU core); 300 leaves a margin.
    from benchmark.engine.runner import run_cell
    record = run_cell(_copy_cell("train.max_steps=300"), tmp_path)
    assert record["status"] == "ok", record.get("error")
    assert record["metrics"]["test/recall_acc"] >= 0.99
    assert record["baselines"]["memoryless"]["loss"] == memoryless_loss(4, 1)


def test_the_test_split_has_its_own_batch_count(tmp_path):
    import lightning as L

    from benchmark.engine.runner import run_cell
    counted = {"val": 0, "test": 0}

    class Count(L.Callback):
        def on_validation_batch_end(self, *args):
            counted["val"] += 1

        def on_test_batch_end(self, *args):
            counted["test"] += 1

    cell = _copy_cell("train.max_steps=3", "train.val_batches=2", "train.test_batches=5")
    assert run_cell(cell, tmp_path, callbacks=[Count()])["status"] == "ok"
    assert counted == {"val": 2, "test": 5}
