"""Sentiment: SST-2 binary (Socher et al. 2013; GLUE, Wang et al. 2018), many-to-one.

The encoder reads a sentence of word embeddings (vocabulary from train only, rare words ->
`<unk>`); the last layer's final hidden state (both directions for bidirectional models)
goes through a linear head. Sentences vary in length: `lengths` go to the encoder (packed
for cudnn, masked for scratch), so the final state is the one at the sentence's last word,
and batches are bucketed by length to keep padding small.

Data (tasks/data/labeled_text.py): SST-2's TSV files; any TSV/CSV, JSON Lines or Parquet file
with a label and a text column; one text file per class; a folder per class (IMDb's aclImdb);
or a labeled-text data set from the hub (default `stanfordnlp/sst2`, whose test split is
unlabeled, so there test metrics come from the validation split). String labels get ids in
sorted order, recorded with the run.
Metric: accuracy. Reference: Tai et al. 2015, 2-layer LSTM 86.3% with pretrained GloVe
vectors (ours starts from random embeddings).
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
from tasks.data.labeled_text import sentiment_data


@dataclass(frozen=True)
class SentimentSettings:
    source: str = "local"             # local (files under the data dir) or hub (hub_repo)
    # Each relative to the data dir (or absolute): a table (.tsv/.txt, .csv, .jsonl/.json, .parquet)
    # or a folder with one subfolder per class, one document a file (tasks/data/labeled_text.py).
    train_file: str = "sst2/train.tsv"
    val_file: str = "sst2/dev.tsv"
    test_file: str = "sst2/test.tsv"
    label_column: str = "label"
    # Header names tried in order in each file: SST-2's train says `sentence`, dev/test `content`;
    # `text` is the hub's IMDb and rotten_tomatoes.
    text_columns: tuple = ("sentence", "content", "text")
    class_files: dict | None = None   # {label: file}, one example a line: the training examples, not train_file
    classes: tuple = ()               # class subfolders to read from a folder; () = all (aclImdb: [neg, pos])
    split: tuple = ()                 # [train, val, test] or [train, val] fractions cut from train (fixed seed)
    hub_repo: str = "stanfordnlp/sst2"  # source hub: any labeled-text data set (stanfordnlp/imdb, ...)
    hub_config: str = ""
    hub_revision: str = ""
    lowercase: bool = True
    min_freq: int = 2                 # train words seen fewer times become <unk>
    max_train_examples: int = 0       # 0 = all; else a fixed random subset (same for every cell)
    embedding_dim: int = 128
    dropout: float = 0.0              # on embeddings and on the final state (Zaremba et al. 2014 style)

    def __post_init__(self):
        if self.source not in ("local", "hub"):
            raise ConfigError(f"bad sentiment.source {show(self.source)}: expected local or hub")
        if not self.text_columns or not all(isinstance(c, str) for c in self.text_columns):
            raise ConfigError(f"bad sentiment.text_columns {show(self.text_columns)}: expected a list of column names")
        for name in ("min_freq", "embedding_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bad sentiment.{name} {show(getattr(self, name))}: expected an integer >= 1")
        if self.max_train_examples < 0:
            raise ConfigError(f"bad sentiment.max_train_examples {self.max_train_examples}: expected >= 0")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"bad sentiment.dropout {self.dropout}: expected a number in [0, 1)")
        if not all(isinstance(c, str) and c for c in self.classes):
            raise ConfigError(f"bad sentiment.classes {show(list(self.classes))}: expected class subfolder names, "
                              f"e.g. [neg, pos], or [] for all")
        # Kept as sorted (label, file) pairs: a frozen settings object stays hashable, and the
        # order of a YAML mapping cannot change the cache key.
        object.__setattr__(self, "class_files", class_file_pairs(self.class_files))
        check_split(self.split)
        cut = {0: (), 2: ("val",), 3: ("val", "test")}[len(self.split)]
        for split in ("train", "val", "test"):
            needed = split not in cut and not (split == "train" and self.class_files)
            if needed and self.source == "local" and not (isinstance(getattr(self, f"{split}_file"), str)
                                                          and getattr(self, f"{split}_file")):
                raise ConfigError(f"sentiment.{split}_file is empty: give a file or folder, or cut that split from "
                                  f"train with sentiment.split (e.g. [0.8, 0.1, 0.1])")


def class_file_pairs(value) -> tuple:
    if not value:
        return ()
    # A mapping from YAML, or the sorted pairs a built Settings holds (a record's, read back).
    if isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, (list, tuple)):
        pairs = [tuple(p) if isinstance(p, (list, tuple)) else (p,) for p in value]
    else:  # 5, "pos.txt": no pairs at all
        pairs = []
    if len(pairs) < 2 or not all(len(p) == 2 and isinstance(p[1], str) and p[1] for p in pairs):
        raise ConfigError(f"bad sentiment.class_files {show(value)}: expected a mapping of two or more labels to "
                          f"files, e.g. {{positive: pos.txt, negative: neg.txt}}")
    return tuple(sorted(((label, file) for label, file in pairs), key=lambda p: str(p[0])))


def check_split(split) -> None:
    numbers = all(isinstance(f, (int, float)) and not isinstance(f, bool) and f > 0 for f in split)
    if split and (len(split) not in (2, 3) or not numbers or abs(sum(split) - 1) > 1e-6):
        raise ConfigError(f"bad sentiment.split {show(list(split))}: expected [train, val] or [train, val, test] "
                          f"fractions > 0 that sum to 1, e.g. [0.8, 0.1, 0.1]; [] reads val_file and test_file")


class SentimentTask(TaskModule):
    name = "sentiment"
    kind = "many-to-one"
    description = "SST-2 sentence sentiment (binary): final state -> class"
    Settings = SentimentSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        return sentiment_data(settings, train, seed, data_dir)

    @classmethod
    def data_files(cls, settings):
        # Only the files read count: class_files replace train_file, and `split` cuts val/test from train.
        found = super().data_files(settings)
        cut = {0: (), 2: ("val",), 3: ("val", "test")}[len(settings.split)]
        unread = {f"{s}_file" for s in cut} | ({"train_file"} if settings.class_files else set())
        return {k: v for k, v in found.items() if k not in unread}

    def build(self, data):
        s = self.settings
        self.num_classes = len(data.classes)
        self.embed = nn.Embedding(len(data.vocab), s.embedding_dim, padding_idx=0)
        self.drop = nn.Dropout(s.dropout)
        self.make_encoder(s.embedding_dim)
        self.head = nn.Linear(self.encoder.output_size, self.num_classes)

    def step(self, batch):
        x, lengths, y = batch
        _, state = self.encoder(self.drop(self.embed(x)), lengths=lengths)
        logits = self.head(self.drop(self.encoder.final(state)))
        return F.cross_entropy(logits, y), logits.argmax(-1), y

    def make_metrics(self):
        return MetricCollection({"acc": MulticlassAccuracy(self.num_classes, average="micro")})

    def baselines(self, data):
        train, test = data.splits["train"].labels, data.splits["test"].labels
        majority = torch.bincount(train, minlength=self.num_classes).argmax()
        # Published numbers (Tai et al. 2015) come from configs/references.yaml, beside runs on SST-2 itself.
        return {"majority class (of train)": {"acc": float((test == majority).float().mean())}}
