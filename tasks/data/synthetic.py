"""Data for synthetic tasks, generated on the training device from a seed.

No disk and no host round trip: each split has its own generator on the device, seeded
from the cell's seed, so the same seed gives the same batches on the same device.
Training draws fresh sequences every step, or (`train_size` N > 0, as Bai et al. 2018's
scripts) cycles through one fixed set of N sequences in seeded, shuffled epochs;
validation and test are fixed sets.

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

from benchmark.errors import ConfigError
from tasks.data.loader import replica

SPLIT_OFFSET = {"train": 0, "val": 1_000_003, "test": 2_000_003}
RANK_OFFSET = 3_000_017  # training rank r of a multi-process cell draws from seed + r * RANK_OFFSET

BLANK, DELIM, CATEGORIES, RECALL = 0, 9, 8, 10
VOCAB = 10  # blank, 8 symbols, delimiter
EVAL_BATCHES = 16  # batches in a generated validation or test set unless train.val_batches/test_batches say


class _Stream(IterableDataset):
    def __init__(self, make_batch, batch_size, seed, batches, device_fn, pool: int = 0):
        self.make_batch, self.batch_size, self.seed = make_batch, batch_size, seed
        self.batches, self.device_fn, self.pool = batches, device_fn, pool

    def __iter__(self):
        device = self.device_fn()
        gen = torch.Generator(device=device).manual_seed(self.seed)
        if self.pool:
            yield from self._epochs(gen, device)
            return
        steps = itertools.count() if self.batches is None else range(self.batches)
        for _ in steps:
            yield self.make_batch(self.batch_size, gen, device)

    def _epochs(self, gen, device):
        """A fixed set of `pool` sequences, drawn once, then shuffled batches of it for ever
        (a partial last batch of an epoch is dropped: every step sees batch_size sequences)."""
        chunks = [self.make_batch(min(self.batch_size, self.pool - i), gen, device)
                  for i in range(0, self.pool, self.batch_size)]
        data = [torch.cat(parts) for parts in zip(*chunks)]
        while True:
            order = torch.randperm(self.pool, generator=gen, device=device)
            for i in range(0, self.pool - self.batch_size + 1, self.batch_size):
                index = order[i:i + self.batch_size]
                yield tuple(t[index] for t in data)


class GeneratedData(L.LightningDataModule):
    """make_batch(batch_size, generator, device) -> tuple of tensors on `device`."""

    def __init__(self, make_batch: Callable, batch_size: int, seed: int, val_batches: int, test_batches: int,
                 train_size: int = 0):
        super().__init__()
        if 0 < train_size < batch_size:
            raise ConfigError(f"bad train_size {train_size}: a fixed training set needs at least train.batch_size "
                              f"({batch_size}) sequences")
        self.make_batch, self.batch_size, self.seed, self.train_size = make_batch, batch_size, seed, train_size
        # A generated split has no natural length: 0 (train.val_batches/test_batches' "whole
        # split") means EVAL_BATCHES batches.
        self.val_batches = val_batches or EVAL_BATCHES
        self.test_batches = test_batches or EVAL_BATCHES

    def _device(self):
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def _loader(self, split, batches, rank: int = 0):
        seed = self.seed + SPLIT_OFFSET[split] + rank * RANK_OFFSET
        pool = self.train_size if split == "train" else 0
        return DataLoader(_Stream(self.make_batch, self.batch_size, seed, batches, self._device, pool), batch_size=None)

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
def make_copy_batch(batch_size: int, delay: int, gen: torch.Generator, device, symbols: int = RECALL,
                    marker_steps: int = 1) -> tuple:
    """x: `symbols` symbols of CATEGORIES, delay-1 blanks, a delimiter, `symbols` blanks;
    y: blanks, then the symbols at the last `symbols` steps (each held delay + symbols steps).
    marker_steps = symbols + 1 repeats the delimiter over the recall steps instead of blanks, as
    Bai et al. 2018's copy memory does (locuslab/TCN copy_memory/utils.py)."""
    drawn = torch.randint(1, CATEGORIES + 1, (batch_size, symbols), generator=gen, device=device)
    x = torch.full((batch_size, delay + 2 * symbols), BLANK, dtype=torch.long, device=device)
    x[:, :symbols] = drawn
    x[:, symbols + delay - 1:symbols + delay - 1 + marker_steps] = DELIM
    y = torch.full_like(x, BLANK)
    y[:, -symbols:] = drawn
    return x, y


def _copy_batch(batch_size: int, gen: torch.Generator, device, *, delay: int, symbols: int,
                marker_steps: int) -> tuple:
    return make_copy_batch(batch_size, delay, gen, device, symbols, marker_steps)


def copy_data(settings, train, seed: int) -> GeneratedData:
    """settings: the copy task's (`delay`, `symbols`, `encoding`, `train_size`); train: batch_size,
    val_batches, test_batches."""
    marker_steps = settings.symbols + 1 if settings.encoding == "scalar" else 1
    make = functools.partial(_copy_batch, delay=settings.delay, symbols=settings.symbols, marker_steps=marker_steps)
    return GeneratedData(make, train.batch_size, seed, train.val_batches, train.test_batches, settings.train_size)


# --- adding problem ---------------------------------------------------------------------------
def make_adding_batch(batch_size: int, length: int, gen: torch.Generator, device, anywhere: bool = False) -> tuple:
    """x: (batch, length, 2), a value in [0, 1] and a marker at each step, one marker in each
    half (or, `anywhere`, two distinct steps drawn from the whole sequence, as Bai et al. 2018's
    locuslab/TCN adding_problem/utils.py); y: the sum of the two marked values."""
    values = torch.rand(batch_size, length, generator=gen, device=device)
    if anywhere:
        # Two distinct positions, uniform over pairs: the first of a random permutation's scores.
        first, second = torch.rand(batch_size, length, generator=gen, device=device).topk(2, dim=1).indices.unbind(1)
    else:
        half = length // 2
        first = torch.randint(0, half, (batch_size,), generator=gen, device=device)
        second = torch.randint(half, length, (batch_size,), generator=gen, device=device)
    marks = torch.zeros_like(values)
    rows = torch.arange(batch_size, device=device)
    marks[rows, first] = 1.0
    marks[rows, second] = 1.0
    x = torch.stack([values, marks], dim=-1)
    return x, (values * marks).sum(1)


def _adding_batch(batch_size: int, gen: torch.Generator, device, *, length: int, anywhere: bool) -> tuple:
    return make_adding_batch(batch_size, length, gen, device, anywhere)


def adding_data(settings, train, seed: int) -> GeneratedData:
    """settings: the adding task's (`length`, `placement`, `train_size`); train: batch_size,
    val_batches, test_batches."""
    make = functools.partial(_adding_batch, length=settings.length, anywhere=settings.placement == "anywhere")
    return GeneratedData(make, train.batch_size, seed, train.val_batches, train.test_batches, settings.train_size)
