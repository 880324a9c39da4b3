"""Data for the Chomsky-hierarchy tasks (tasks/chomsky.py; Delétang et al. 2023), generated on the
training device from a seed.

Each batch draws one length, uniformly from 1..max_length, and then its strings over {0, 1}
(the paper's {a, b}), all of that length: lengths vary from batch to batch, never inside one,
so no padding enters a state. A generator returns (x, y): x (batch, length) symbols, y the
labels, (batch,) for a one-output task and (batch, length) for a string-output task.
"""
from __future__ import annotations

import functools

import torch

from tasks.data.synthetic import GeneratedData


def _strings(batch_size: int, length: int, gen, device) -> torch.Tensor:
    return torch.randint(0, 2, (batch_size, length), generator=gen, device=device)


def parity_check(batch_size: int, gen, device, *, length: int) -> tuple:
    """Regular: is the number of 1s (the paper's b's) even? y: 1 for even, 0 for odd."""
    x = _strings(batch_size, length, gen, device)
    return x, (x.sum(1) % 2 == 0).long()


def reverse_string(batch_size: int, gen, device, *, length: int) -> tuple:
    """Deterministic context-free: the string reversed, one symbol per output step."""
    x = _strings(batch_size, length, gen, device)
    return x, x.flip(1)


GENERATORS = {"parity_check": parity_check, "reverse_string": reverse_string}


def up_to(batch_size: int, gen, device, *, make, max_length: int) -> tuple:
    """A batch of `make` at one length drawn uniformly from 1..max_length."""
    length = int(torch.randint(1, max_length + 1, (1,), generator=gen, device=device).item())
    return make(batch_size, gen, device, length=length)


def formal_data(task: str, settings, train, seed: int) -> GeneratedData:
    make = functools.partial(up_to, make=GENERATORS[task], max_length=settings.max_train_length)
    return GeneratedData(make, train.batch_size, seed, train.val_batches, train.test_batches)
