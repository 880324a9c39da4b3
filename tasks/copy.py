"""Copy memory (Arjovsky et al. 2016; Bai et al. 2018).

Input: 10 symbols drawn from 8 categories, T-1 blanks, a delimiter, 10 more blanks
(length T + 20). Target: blanks until the delimiter's 10 steps have passed, then the 10
symbols. A model with no memory can do no better than blanks then a uniform guess:
10 ln 8 / (T + 20) nats per step, the baseline printed beside the loss.

Data: generated on the training device from the seed (tasks/data/synthetic.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from benchmark.errors import ConfigError
from tasks.base import TaskModule
from tasks.data.synthetic import CATEGORIES, RECALL, VOCAB, copy_data


@dataclass(frozen=True)
class CopySettings:
    delay: int = 100  # T

    def __post_init__(self):
        if self.delay < 1:
            raise ConfigError(f"bad copy.delay {self.delay}: expected an integer >= 1")


def memoryless_loss(delay: int) -> float:
    return RECALL * math.log(CATEGORIES) / (delay + 2 * RECALL)


class CopyTask(TaskModule):
    name = "copy"
    kind = "causal"
    description = "copy memory: recall 10 symbols after T blanks"
    Settings = CopySettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        return copy_data(settings, train, seed)

    def build(self, data):
        self.make_encoder(VOCAB)
        self.head = nn.Linear(self.encoder.output_size, CATEGORIES + 1)

    def step(self, batch):
        x, y = batch
        out, _ = self.encoder(F.one_hot(x, VOCAB).float())
        logits = self.head(out)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        return loss, logits[:, -RECALL:].argmax(-1), y[:, -RECALL:]

    def make_metrics(self):
        # Recall accuracy: the share of the 10 recalled symbols reproduced exactly.
        return MetricCollection({"recall_acc": MulticlassAccuracy(CATEGORIES + 1, average="micro")})

    def baselines(self, data):
        return {"memoryless": {"loss": memoryless_loss(self.settings.delay), "recall_acc": 1 / CATEGORIES}}
