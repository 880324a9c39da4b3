"""Adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015; Bai et al. 2018, T = 600).

Each step carries a value drawn uniformly from [0, 1] and a marker; one marker falls in the
first half of the sequence, one in the second (`placement: halves`, Le et al. 2015), or both
anywhere (`placement: anywhere`, Bai et al. 2018). The target is the sum of the two marked
values. Always predicting 1 (the mean) scores the variance of the sum, 2/12 = 0.1667, under
either placement. `train_size` N > 0 trains on one fixed set of N sequences (Bai: 50,000)
instead of fresh ones every step.

Data: generated on the training device from the seed (tasks/data/synthetic.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanSquaredError, MetricCollection

from benchmark.config import show
from benchmark.errors import ConfigError
from tasks.base import TaskModule
from tasks.data.synthetic import adding_data

PREDICT_ONE_MSE = 2 / 12


@dataclass(frozen=True)
class AddingSettings:
    length: int = 200          # T
    placement: str = "halves"  # halves (one marker per half) | anywhere (Bai et al. 2018)
    train_size: int = 0        # 0 = fresh sequences every step; N = one fixed training set of N

    def __post_init__(self):
        if self.length < 2:
            raise ConfigError(f"bad adding.length {self.length}: expected an integer >= 2")
        if self.placement not in ("halves", "anywhere"):
            raise ConfigError(f"bad adding.placement {show(self.placement)}: expected halves or anywhere")
        if self.train_size < 0:
            raise ConfigError(f"bad adding.train_size {self.train_size}: expected 0 (fresh data) or a set size >= 1")


class AddingTask(TaskModule):
    name = "adding"
    kind = "many-to-one"
    description = "adding problem: sum the two marked values among T"
    Settings = AddingSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        return adding_data(settings, train, seed)

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
