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
