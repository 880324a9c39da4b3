"""Data for synthetic tasks, generated on the training device from a seed.

No disk and no host round trip: each split has its own generator on the device, seeded
from the cell's seed, so the same seed gives the same batches on the same device.
Training draws fresh sequences every step; validation and test are fixed sets.
"""
from __future__ import annotations

import itertools
from typing import Callable

import lightning as L
import torch
from torch.utils.data import DataLoader, IterableDataset

SPLIT_OFFSET = {"train": 0, "val": 1_000_003, "test": 2_000_003}


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

    def __init__(self, make_batch: Callable, batch_size: int, seed: int, eval_batches: int):
        super().__init__()
        self.make_batch, self.batch_size, self.seed = make_batch, batch_size, seed
        self.eval_batches = eval_batches or 16

    def _device(self):
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    def _loader(self, split, batches):
        stream = _Stream(self.make_batch, self.batch_size, self.seed + SPLIT_OFFSET[split], batches, self._device)
        return DataLoader(stream, batch_size=None)

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch  # born on the device: skip Lightning's per-step walk over the batch (~1 ms)

    def train_dataloader(self):
        return self._loader("train", None)

    def val_dataloader(self):
        return self._loader("val", self.eval_batches)

    def test_dataloader(self):
        return self._loader("test", self.eval_batches)
