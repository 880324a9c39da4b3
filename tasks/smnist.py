"""Sequential and permuted MNIST (Le et al. 2015; Bai, Kolter & Koltun 2018), many-to-one.

The encoder reads a 28 x 28 digit one pixel a step, row by row (784 steps, one input: the
pixel scaled to [0, 1]), and a linear head maps its final state to the 10 classes. The class
depends on pixels hundreds of steps back, so it probes long memory on real data, beside the
synthetic copy and adding tasks. Permuted MNIST (`permute: true`) reads the pixels in one
fixed random order, drawn from `permutation_seed` alone, so every cell and every seed sees
the same order; it scatters neighbouring pixels across the sequence, making it harder.

Data: the official 60k train / 10k test split; the last `val_examples` of train are held out
for validation (tasks/data/mnist.py). Metric: accuracy. Baseline: the majority class of train.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from benchmark.config import show
from benchmark.errors import ConfigError
from tasks.base import TaskModule
from tasks.data.mnist import mnist_data


@dataclass(frozen=True)
class SmnistSettings:
    source: str = "local"             # local (files under the data dir) or hub (hub_repo)
    folder: str = "mnist"             # under the data dir (or absolute): IDX files or train/test.parquet
    hub_repo: str = "ylecun/mnist"    # Parquet on the hub: columns image (PNG) and label
    permute: bool = False             # permuted MNIST: one fixed pixel order
    permutation_seed: int = 0         # draws that order; independent of the cell's seed
    val_examples: int = 5000          # held out from the end of train; test is the official 10k
    max_train_examples: int = 0       # 0 = all; else a fixed random subset (same for every cell)

    def __post_init__(self):
        if self.source not in ("local", "hub"):
            raise ConfigError(f"bad smnist.source {show(self.source)}: expected local or hub")
        for name in ("folder", "hub_repo"):
            if not getattr(self, name).strip():
                raise ConfigError(f"bad smnist.{name} {show(getattr(self, name))}: expected a non-empty name")
        if self.val_examples < 1:
            raise ConfigError(f"bad smnist.val_examples {self.val_examples}: expected an integer >= 1")
        for name in ("max_train_examples", "permutation_seed"):
            if getattr(self, name) < 0:
                raise ConfigError(f"bad smnist.{name} {getattr(self, name)}: expected an integer >= 0")


class SmnistTask(TaskModule):
    name = "smnist"
    kind = "many-to-one"
    description = ("sequential MNIST: classify a digit read one pixel at a time (784 steps); "
                   "smnist.permute=true for permuted MNIST")
    Settings = SmnistSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        return mnist_data(settings, train, seed, data_dir)

    def build(self, data):
        self.num_classes = len(data.classes)
        self.make_encoder(1)
        self.head = nn.Linear(self.encoder.output_size, self.num_classes)

    def step(self, batch):
        x, y = batch
        _, state = self.encoder(x)
        logits = self.head(self.encoder.final(state))
        return F.cross_entropy(logits, y), logits.argmax(-1), y

    def make_metrics(self):
        return MetricCollection({"acc": MulticlassAccuracy(self.num_classes, average="micro")})

    def baselines(self, data):
        train, test = data.splits["train"][1], data.splits["test"][1]
        majority = torch.bincount(train, minlength=self.num_classes).argmax()
        return {"majority class (of train)": {"acc": float((test == majority).float().mean())}}
