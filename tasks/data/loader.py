"""The DataLoader every real-data split goes through."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader


def loader(dataset, batch_size: int = 1, shuffle: bool = False, seed: int | None = None, **kwargs):
    """A DataLoader for a real-data task's split: batches in pinned (page-locked) host memory
    when a GPU is present, so Lightning's copies to it (non_blocking=True for CUDA) overlap
    with compute; a shuffle seeded from `seed`, so the order follows the cell's seed.
    Other DataLoader arguments (collate_fn, batch_sampler, drop_last) pass through."""
    if shuffle and seed is not None:
        kwargs.setdefault("generator", torch.Generator().manual_seed(seed))
    kwargs.setdefault("pin_memory", torch.cuda.is_available())
    return DataLoader(dataset, batch_size, shuffle=shuffle, **kwargs)
