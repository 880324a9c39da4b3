"""Selective copy (Gu & Dao 2023, "Mamba", section 3.1): copy the data tokens, skip the noise.

D data tokens (`selective_copy.tokens`, drawn from `vocab` symbols) sit at random steps among
`length` steps of a noise token; a marker follows, then D steps at which the model must emit
the data tokens in their order. Unlike copy, where the symbols always come first, the model
must decide from each token's content what to keep: a time-invariant filter cannot, which is
the task's point against LTI state-space models. Gu & Dao use 16 tokens among 4,096 steps.

Accuracy (`recall_acc`) is per emitted token; a model with no memory guesses one of the
`vocab` symbols: 1/vocab, ln(vocab) nats per emitted token (`baselines`). The loss counts the
D emitted tokens only.

Data: generated on the training device from the seed (tasks/data/recall.py).
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
from tasks.data.recall import selective_copy_data


@dataclass(frozen=True)
class SelectiveCopySettings:
    tokens: int = 16    # D: data tokens to copy (Gu & Dao: 16)
    length: int = 256   # steps holding the data tokens and the noise, before the marker (Gu & Dao: 4,096)
    vocab: int = 16     # data symbols (Gu & Dao: 16); noise and the marker are two more

    def __post_init__(self):
        for name in ("tokens", "vocab"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bad selective_copy.{name} {getattr(self, name)}: expected an integer >= 1")
        if self.length < self.tokens:
            raise ConfigError(f"bad selective_copy.length {self.length}: the {self.tokens} data tokens need "
                              f"length >= {self.tokens}")


class SelectiveCopyTask(TaskModule):
    name = "selective_copy"
    kind = "causal"
    description = "selective copy: emit the D data tokens scattered among noise, in order"
    Settings = SelectiveCopySettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        return selective_copy_data(settings, train, seed)

    def build(self, data):
        symbols = self.settings.vocab + 2  # noise, the data symbols, the marker
        self.make_encoder(symbols)
        self.head = nn.Linear(self.encoder.output_size, symbols)

    def step(self, batch):
        x, y = batch
        d = self.settings.tokens
        out, _ = self.encoder(F.one_hot(x, self.settings.vocab + 2).float())
        logits = self.head(out[:, -d:])
        target = y[:, -d:]
        return F.cross_entropy(logits.flatten(0, 1), target.flatten()), logits.argmax(-1), target

    def make_metrics(self):
        return MetricCollection({"recall_acc": MulticlassAccuracy(self.settings.vocab + 2, average="micro")})

    def baselines(self, data):
        v = self.settings.vocab
        return {"memoryless": {"loss": math.log(v), "recall_acc": 1 / v}}
