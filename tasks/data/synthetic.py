"""Data for synthetic tasks, generated on the training device from a seed.

No disk and no host round trip: each split has its own generator on the device, seeded
from the cell's seed, so the same seed gives the same batches on the same device.
Training draws fresh sequences every step; validation and test are fixed sets.

- `make_copy_batch`: copy memory (tasks/copy.py says what is asked of the model);
- `make_adding_batch`: the adding problem (tasks/adding.py).

A data module holds its batch maker as a `functools.partial` over a module-level function,
not a local lambda: multi-process DDP pickles the data module, and a lambda cannot be pickled.
"""
from __future__ import annotations

import functools
import itertools
from typing import Callable

import lightning as L
import torch
from torch.utils.data import DataLoader, IterableDataset

from tasks.data.loader import replica

SPLIT_OFFSET = {"train": 0, "val": 1_000_003, "test": 2_000_003}
RANK_OFFSET = 3_000_017  # training rank r of a multi-process cell draws from seed + r * RANK_OFFSET

BLANK, DELIM, CATEGORIES, RECALL = 0, 9, 8, 10
VOCAB = 10  # blank, 8 symbols, delimiter
EVAL_BATCHES = 16  # batches in a generated validation or test set unless train.val_batches/test_batches say


class _Stream(IterableDataset):
    def __init__(self, make_batch, batch_size, seed, batches, device_fn):
        self.make_batch, self.batch_size, self.seed = make_batch, batch_size, seed
        self.batches, self.device_fn = batches, device_fn

    def __iter__(self):
        device = self.device_fn()
        gen = torch.Generator(device=device).manual_seed(self.seed)
        steps = itertools.count() if self.batches is None else range(self.batches)
        for _ in steps:
            yield self.make_batch(self.batch_size, gen, device)


class GeneratedData(L.LightningDataModule):
    """make_batch(batch_size, generator, device) -> tuple of tensors on `device`."""

    def __init__(self, make_batch: Callable, batch_size: int, seed: int, val_batches: int, test_batches: int):
        super().__init__()
        self.make_batch, self.batch_size, self.seed = make_batch, batch_size, seed
        # A generated split has no natural length: 0 (train.val_batches/test_batches' "whole
        # split") means EVAL_BATCHES batches.
        self.val_batches = val_batches or EVAL_BATCHES
        self.test_batches = test_batches or EVAL_BATCHES

    def _device(self):
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def _loader(self, split, batches, rank: int = 0):
        seed = self.seed + SPLIT_OFFSET[split] + rank * RANK_OFFSET
        return DataLoader(_Stream(self.make_batch, self.batch_size, seed, batches, self._device), batch_size=None)

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch  # born on the device: skip Lightning's per-step walk over the batch (~1 ms)

    def train_dataloader(self):
        # Each training process its own fresh sequences (rank 0 those of one device); every
        # process scores the same fixed validation and test sets.
        return self._loader("train", None, rank=replica(self)[0])

    def val_dataloader(self):
        return self._loader("val", self.val_batches)

    def test_dataloader(self):
        return self._loader("test", self.test_batches)


# --- copy memory ------------------------------------------------------------------------------
def make_copy_batch(batch_size: int, delay: int, gen: torch.Generator, device, symbols: int = RECALL) -> tuple:
    """x: `symbols` symbols of CATEGORIES, delay-1 blanks, a delimiter, `symbols` blanks;
    y: blanks, then the symbols at the last `symbols` steps (each held delay + symbols steps)."""
    drawn = torch.randint(1, CATEGORIES + 1, (batch_size, symbols), generator=gen, device=device)
    x = torch.full((batch_size, delay + 2 * symbols), BLANK, dtype=torch.long, device=device)
    x[:, :symbols] = drawn
    x[:, symbols + delay - 1] = DELIM
    y = torch.full_like(x, BLANK)
    y[:, -symbols:] = drawn
    return x, y


def _copy_batch(batch_size: int, gen: torch.Generator, device, *, delay: int, symbols: int) -> tuple:
    return make_copy_batch(batch_size, delay, gen, device, symbols)


def copy_data(settings, train, seed: int) -> GeneratedData:
    """settings: the copy task's (`delay`, `symbols`); train: batch_size, val_batches, test_batches."""
    make = functools.partial(_copy_batch, delay=settings.delay, symbols=settings.symbols)
    return GeneratedData(make, train.batch_size, seed, train.val_batches, train.test_batches)


# --- adding problem ---------------------------------------------------------------------------
def make_adding_batch(batch_size: int, length: int, gen: torch.Generator, device) -> tuple:
    """x: (batch, length, 2), a value in [0, 1] and a marker at each step, one marker in each
    half; y: the sum of the two marked values."""
    values = torch.rand(batch_size, length, generator=gen, device=device)
    half = length // 2
    first = torch.randint(0, half, (batch_size,), generator=gen, device=device)
    second = torch.randint(half, length, (batch_size,), generator=gen, device=device)
    marks = torch.zeros_like(values)
    rows = torch.arange(batch_size, device=device)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = torch.stack([values, marks], dim=-1)
    return x, (values * marks).sum(1)


def _adding_batch(batch_size: int, gen: torch.Generator, device, *, length: int) -> tuple:
    return make_adding_batch(batch_size, length, gen, device)


def adding_data(settings, train, seed: int) -> GeneratedData:
    """settings: the adding task's (`length`); train: batch_size, val_batches, test_batches."""
    make = functools.partial(_adding_batch, length=settings.length)
    return GeneratedData(make, train.batch_size, seed, train.val_batches, train.test_batches)
