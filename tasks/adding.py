"""Adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015; Bai et al. 2018, T = 600).

Each step carries a value drawn uniformly from [0, 1] and a marker; one marker falls in the
first half of the sequence, one in the second. The target is the sum of the two marked
values. Always predicting 1 (the mean) scores the variance of the sum, 2/12 = 0.1667.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanSquaredError, MetricCollection

from tasks.base import TaskModule
from tasks.synthetic import GeneratedData

PREDICT_ONE_MSE = 2 / 12


@dataclass(frozen=True)
class AddingSettings:
    length: int = 200  # T

    def __post_init__(self):
        if self.length < 2:
            from benchmark.config import ConfigError
            raise ConfigError(f"bad adding.length {self.length}: expected an integer >= 2")


def make_adding_batch(batch_size: int, length: int, gen: torch.Generator, device) -> tuple:
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


class AddingTask(TaskModule):
    name = "adding"
    kind = "many-to-one"
    description = "adding problem: sum the two marked values among T"
    Settings = AddingSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        make = lambda b, g, d: make_adding_batch(b, settings.length, g, d)  # noqa: E731
        return GeneratedData(make, train.batch_size, seed, train.val_batches)

    def build(self, data):
        self.make_encoder(2)
        self.head = nn.Linear(self.encoder.output_size, 1)

    def step(self, batch):
        x, y = batch
        _, state = self.encoder(x)
        pred = self.head(self.encoder.final(state)).squeeze(-1)
        return F.mse_loss(pred, y), pred, y

    def make_metrics(self):
        return MetricCollection({"mse": MeanSquaredError()})

    def baselines(self, data):
        return {"predict 1": {"mse": PREDICT_ONE_MSE}}
