"""Multi-query associative recall, MQAR (Arora et al. 2023, "Zoology"; HazyResearch/zoology).

A sequence opens with K key-value pairs (`mqar.pairs`), k1 v1 ... kK vK, keys from the first
half of the vocabulary and values from the second, each distinct; Q of the keys (`queries`,
0 = all K) come back later among random tokens, at power-law gaps (`power_a`), and at each the
model must emit that key's value. Fresh pairs every sequence: the answer is in the context,
never in the weights, so this measures recall from the state, of K bindings at once, where
copy and lag recall measure one span. Its memory axis is K at a fixed length.

Accuracy (`recall_acc`) is the share of queries answered with the right value; chance is a
uniform guess among the vocab/2 values (`baselines`). Loss: cross-entropy at the queries only.

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
from tasks.data.recall import IGNORE, mqar_data, query_slots


@dataclass(frozen=True)
class MqarSettings:
    vocab: int = 8192      # zoology's default; keys from [1, vocab/2), values from [vocab/2, vocab)
    pairs: int = 4         # K: key-value pairs in the context (the memory axis; zoology: 4 at length 64)
    length: int = 64       # steps in a sequence: the 2K context steps and the query region after it
    queries: int = 0       # Q: keys asked for; 0 = every key (zoology asks for all K)
    power_a: float = 0.01  # query gaps drawn with probability ~ a * g^(a - 1): mostly short, some long
    embedding_dim: int = 64

    def __post_init__(self):
        for name in ("pairs", "embedding_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bad mqar.{name} {getattr(self, name)}: expected an integer >= 1")
        if self.vocab // 2 - 1 < self.pairs:
            raise ConfigError(f"bad mqar.vocab {self.vocab}: {self.pairs} distinct keys need vocab >= "
                              f"{2 * (self.pairs + 1)} (keys come from its first half)")
        if not 0 <= self.queries <= self.pairs:
            raise ConfigError(f"bad mqar.queries {self.queries}: expected 0 (every key) up to mqar.pairs ({self.pairs})")
        if query_slots(self.length, self.pairs) < (self.queries or self.pairs):
            need = 2 * self.pairs + 2 * (self.queries or self.pairs)
            raise ConfigError(f"bad mqar.length {self.length}: {self.pairs} pairs and {self.queries or self.pairs} "
                              f"queries need length >= {need}")
        if not 0 < self.power_a <= 1:
            raise ConfigError(f"bad mqar.power_a {self.power_a}: expected a number in (0, 1]")


class MqarTask(TaskModule):
    name = "mqar"
    kind = "causal"
    description = "multi-query associative recall: K key-value pairs, then queries of the keys"
    Settings = MqarSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        return mqar_data(settings, train, seed)

    def build(self, data):
        s = self.settings
        self.embed = nn.Embedding(s.vocab, s.embedding_dim)
        self.make_encoder(s.embedding_dim)
        self.head = nn.Linear(self.encoder.output_size, s.vocab)

    def step(self, batch):
        x, y = batch
        out, _ = self.encoder(self.embed(x))
        asked = y != IGNORE
        logits = self.head(out[asked])  # the queries only: the vocab-wide head on K of L steps
        return F.cross_entropy(logits, y[asked]), logits.argmax(-1), y[asked]

    def tokens(self, batch) -> int:
        return batch[0].numel()

    def make_metrics(self):
        return MetricCollection({"recall_acc": MulticlassAccuracy(self.settings.vocab, average="micro")})

    def baselines(self, data):
        values = self.settings.vocab - self.settings.vocab // 2
        return {"chance (uniform value)": {"loss": math.log(values), "recall_acc": 1 / values}}
