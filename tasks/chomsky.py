"""Chomsky-hierarchy tasks (Delétang et al. 2023, "Neural Networks and the Chomsky Hierarchy";
google-deepmind/neural_networks_chomsky_hierarchy), named as in the paper.

- `parity_check` (regular): is the number of b's in a string over {a, b} even? One output,
  read from the final state; chance 1/2.
- `reverse_string` (deterministic context-free): the string, then as many empty steps, at
  which the model emits the string reversed (the paper's empty-target scheme); chance 1/2 a
  symbol. A finite-state reader cannot do it for every length: it needs a stack.

Strings are drawn with a length uniform in 1..`max_train_length` per batch (the paper: 1..40).
Validation and test draw from the same lengths: these are in-distribution scores. Accuracy
(`acc`) is per output symbol, so per string for parity_check.

Data: generated on the training device from the seed (tasks/data/formal.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from benchmark.errors import ConfigError
from tasks.base import TaskModule
from tasks.data.formal import GENERATORS, formal_data

SYMBOLS = 3  # the two letters and the empty step of the output phase
EMPTY = 2


@dataclass(frozen=True)
class ChomskySettings:
    max_train_length: int = 40  # training strings have lengths 1..N (Delétang et al.: 40)
    TASK: ClassVar[str] = ""    # the task whose settings these are, for messages

    def __post_init__(self):
        if self.max_train_length < 1:
            raise ConfigError(f"bad {self.TASK}.max_train_length {self.max_train_length}: expected an integer >= 1")


@dataclass(frozen=True)
class ParityCheckSettings(ChomskySettings):
    TASK: ClassVar[str] = "parity_check"


@dataclass(frozen=True)
class ReverseStringSettings(ChomskySettings):
    TASK: ClassVar[str] = "reverse_string"


class ChomskyTask(TaskModule):
    """What the tasks share: binary strings in, two classes out, accuracy, chance 1/2."""

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        return formal_data(cls.name, settings, train, seed)

    def build(self, data):
        self.make_encoder(SYMBOLS)
        self.head = nn.Linear(self.encoder.output_size, 2)

    def batch_at(self, length, batch_size, gen, device):
        return GENERATORS[self.name](batch_size, gen, device, length=length)

    def make_metrics(self):
        return MetricCollection({"acc": MulticlassAccuracy(2, average="micro")})

    def baselines(self, data):
        return {"chance": {"acc": 0.5, "unseen_acc": 0.5}}  # at every length, seen or not


class ParityCheck(ChomskyTask):
    name = "parity_check"
    kind = "many-to-one"
    description = "parity check (regular; Deletang et al. 2023): is the number of b's even?"
    Settings = ParityCheckSettings

    def step(self, batch):
        x, y = batch
        _, state = self.encoder(F.one_hot(x, SYMBOLS).float())
        logits = self.head(self.encoder.final(state))
        return F.cross_entropy(logits, y), logits.argmax(-1), y


class ReverseString(ChomskyTask):
    name = "reverse_string"
    kind = "causal"
    description = "reverse string (deterministic context-free; Deletang et al. 2023): emit it reversed"
    Settings = ReverseStringSettings

    def step(self, batch):
        x, y = batch
        empty = torch.full_like(x, EMPTY)
        out, _ = self.encoder(F.one_hot(torch.cat([x, empty], 1), SYMBOLS).float())
        logits = self.head(out[:, x.shape[1]:])
        return F.cross_entropy(logits.flatten(0, 1), y.flatten()), logits.argmax(-1), y

    def tokens(self, batch) -> int:
        return 2 * batch[0].numel()
