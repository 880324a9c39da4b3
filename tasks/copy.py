"""Copy memory (Arjovsky et al. 2016; Bai et al. 2018).

Input: S symbols (`copy.symbols`, 10 by default) drawn from 8 categories, T-1 blanks, a
delimiter, S more blanks (length T + 2S). Target: blanks until the delimiter's S steps have
passed, then the S symbols. Each symbol is held T + S steps (`copy_lag`). A model with no
memory can do no better than blanks then a uniform guess: S ln 8 / (T + 2S) nats per step,
the baseline printed beside the loss, and recall accuracy 1/8. `copy.symbols: 1` is the
lag-only recall task: one symbol, held T + 1 steps.

`encoding: scalar` is Bai et al. 2018's form (locuslab/TCN copy_memory): each step is one
real number (the digit, 0 for blank, 9 for the marker) rather than a one-hot vector, and the
marker is repeated over the S + 1 last steps. `train_size` N > 0 trains on one fixed set of
N sequences (Bai: 10,000) instead of fresh ones every step.

Data: generated on the training device from the seed (tasks/data/synthetic.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from benchmark.config import show
from benchmark.errors import ConfigError
from tasks.base import TaskModule
from tasks.data.synthetic import CATEGORIES, RECALL, VOCAB, copy_data


@dataclass(frozen=True)
class CopySettings:
    delay: int = 100       # T
    symbols: int = RECALL  # S: symbols to recall; 1 = the lag-only recall task
    encoding: str = "onehot"  # onehot | scalar (Bai et al. 2018: digit values, marker on the last S+1 steps)
    train_size: int = 0    # 0 = fresh sequences every step; N = one fixed training set of N

    def __post_init__(self):
        if self.encoding not in ("onehot", "scalar"):
            raise ConfigError(f"bad copy.encoding {show(self.encoding)}: expected onehot or scalar")
        if self.train_size < 0:
            raise ConfigError(f"bad copy.train_size {self.train_size}: expected 0 (fresh data) or a set size >= 1")
        if self.delay < 1:
            raise ConfigError(f"bad copy.delay {self.delay}: expected an integer >= 1")
        if self.symbols < 1:
            raise ConfigError(f"bad copy.symbols {self.symbols}: expected an integer >= 1")


def copy_lag(delay: int, symbols: int = RECALL) -> int:
    """Steps each symbol is held: from its input step to its recall step, T + S."""
    return delay + symbols


def memoryless_loss(delay: int, symbols: int = RECALL) -> float:
    return symbols * math.log(CATEGORIES) / (delay + 2 * symbols)


class CopyTask(TaskModule):
    name = "copy"
    kind = "causal"
    description = "copy memory: recall S symbols (default 10) after T blanks"
    Settings = CopySettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        return copy_data(settings, train, seed)

    def build(self, data):
        self.scalar = self.settings.encoding == "scalar"
        self.make_encoder(1 if self.scalar else VOCAB)
        self.head = nn.Linear(self.encoder.output_size, CATEGORIES + 1)

    def step(self, batch):
        x, y = batch
        out, _ = self.encoder(x.unsqueeze(-1).float() if self.scalar else F.one_hot(x, VOCAB).float())
        logits = self.head(out)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        recall = self.settings.symbols
        return loss, logits[:, -recall:].argmax(-1), y[:, -recall:]

    def make_metrics(self):
        # Recall accuracy: the share of the S recalled symbols reproduced exactly.
        return MetricCollection({"recall_acc": MulticlassAccuracy(CATEGORIES + 1, average="micro")})

    def baselines(self, data):
        return {"memoryless": {"loss": memoryless_loss(self.settings.delay, self.settings.symbols), "recall_acc": 1 / CATEGORIES}}
