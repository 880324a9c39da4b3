"""Majority bit (a plug-in task): which of 0 and 1 is more frequent in a random binary sequence.

Many-to-one: each of the L steps (`majority.length`, odd, so there is no tie) carries one bit,
fed as -1 or +1; the target is the majority bit, read from the final state. The answer is the
sign of the running sum, so a model must count to L/2 and remember the count to the end;
guessing scores accuracy 1/2 and loss ln 2, the baseline printed beside the models.

Data: generated on the training device from the cell's seed by rnnbench's generated-data module
(tasks/data/synthetic.py), so the same seed gives the same sequences.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from benchmark.errors import ConfigError
from tasks.base import TaskModule
from tasks.data.synthetic import GeneratedData


@dataclass(frozen=True)
class MajoritySettings:
    length: int = 21       # L, odd
    train_size: int = 0    # 0 = fresh sequences every step; N = one fixed training set of N

    def __post_init__(self):
        if not isinstance(self.length, int) or self.length < 1 or self.length % 2 == 0:
            raise ConfigError(f"bad majority.length {self.length!r}: expected an odd integer >= 1 (no ties)")
        if self.train_size < 0:
            raise ConfigError(f"bad majority.train_size {self.train_size}: expected 0 (fresh data) or a set size >= 1")


def make_majority_batch(batch_size: int, gen: torch.Generator, device, *, length: int) -> tuple:
    """x: (batch, length, 1) of -1/+1; y: (batch,) the majority bit, 1 where +1 is more frequent."""
    bits = torch.randint(0, 2, (batch_size, length), generator=gen, device=device)
    y = (2 * bits.sum(1) > length).long()
    return (2 * bits - 1).float().unsqueeze(-1), y


class MajorityTask(TaskModule):
    name = "majority"
    kind = "many-to-one"
    description = "majority bit of L random bits (plug-in example)"
    Settings = MajoritySettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        # a partial over a module-level function, not a lambda: multi-process DDP pickles it
        make = functools.partial(make_majority_batch, length=settings.length)
        return GeneratedData(make, train.batch_size, seed, train.val_batches, train.test_batches, settings.train_size)

    def build(self, data):
        self.make_encoder(1)
        self.head = nn.Linear(self.encoder.output_size, 2)

    def step(self, batch):
        x, y = batch
        _, state = self.encoder(x)
        logits = self.head(self.encoder.final(state))
        return F.cross_entropy(logits, y), logits.argmax(-1), y

    def make_metrics(self):
        return MetricCollection({"acc": MulticlassAccuracy(2, average="micro")})

    def baselines(self, data):
        return {"guess": {"loss": math.log(2), "acc": 0.5}}
