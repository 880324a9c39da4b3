"""The DataLoader every real-data split goes through, and how a cell's data is shared out
when several processes train it (`--devices N`, DDP).

Several processes: training data is sharded (each rank its own batches, the same number on
every rank, as DDP needs); evaluation is not: every rank scores the whole split, so the
metrics, reduced across ranks by torchmetrics, equal one device's. The data modules shard
themselves (the Trainer runs with `use_distributed_sampler=False`), because a length-bucketing
batch sampler and truncated-BPTT streams cannot take Lightning's DistributedSampler.
"""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader, DistributedSampler


def replica(datamodule) -> tuple[int, int]:
    """(rank of this process, processes training the cell): (0, 1) on one device."""
    trainer = datamodule.trainer
    return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)


def loader(dataset, batch_size: int = 1, shuffle: bool = False, seed: int | None = None,
           replica: tuple[int, int] = (0, 1), **kwargs):
    """A DataLoader for a real-data task's split: batches in pinned (page-locked) host memory
    when a GPU is present, so Lightning's copies to it (non_blocking=True for CUDA) overlap
    with compute; a shuffle seeded from `seed`, so the order follows the cell's seed; with
    several processes, a shuffled split sharded by `replica` (rank, processes).
    Other DataLoader arguments (collate_fn, batch_sampler, drop_last) pass through."""
    rank, world = replica
    if shuffle and world > 1:
        kwargs["sampler"] = DistributedSampler(dataset, world, rank, shuffle=True, seed=seed or 0,
                                               drop_last=kwargs.get("drop_last", False))
        shuffle = False
    elif shuffle and seed is not None:
        kwargs.setdefault("generator", torch.Generator().manual_seed(seed))
    kwargs.setdefault("pin_memory", torch.cuda.is_available())
    return DataLoader(dataset, batch_size, shuffle=shuffle, **kwargs)
