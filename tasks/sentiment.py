"""Sentiment: SST-2 binary (Socher et al. 2013; GLUE, Wang et al. 2018), many-to-one.

The encoder reads a sentence of word embeddings (vocabulary from train only, rare words ->
`<unk>`); the last layer's final hidden state (both directions for bidirectional models)
goes through a linear head. Sentences vary in length: `lengths` go to the encoder (packed
for cudnn, masked for scratch), so the final state is the one at the sentence's last word,
and batches are bucketed by length to keep padding small.

Data: local `<data_dir>/sst2/{train,dev,test}.tsv` (GLUE train with its phrases; the
sentence-level dev set; the labeled SST test set), or any TSV/CSV with a label column and a
text column. `source: hub` loads `stanfordnlp/sst2` instead, whose test split is unlabeled
(label -1): there the test metrics are computed on the validation split, and say so.
Metric: accuracy. Reference: Tai et al. 2015, 2-layer LSTM 86.3% with pretrained GloVe
vectors (ours starts from random embeddings).
"""
from __future__ import annotations

import csv
import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from tasks.base import TaskModule
from tasks.sources import DataError, cached, load_hub, local_file, read_text
from tasks.token_sequences import SequenceData, Sequences, Vocab

HUB_REPO = "stanfordnlp/sst2"
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SentimentSettings:
    source: str = "local"             # local (files under the data dir) or hub (stanfordnlp/sst2)
    train_file: str = "sst2/train.tsv"  # relative to the data dir (or absolute); .tsv or .csv
    val_file: str = "sst2/dev.tsv"
    test_file: str = "sst2/test.tsv"
    label_column: str = "label"
    # Header names tried in order in each file: SST-2's train says `sentence`, dev/test `content`.
    text_columns: tuple = ("sentence", "content")
    lowercase: bool = True
    min_freq: int = 2                 # train words seen fewer times become <unk>
    max_train_examples: int = 0       # 0 = all; else a fixed random subset (same for every cell)
    embedding_dim: int = 128
    dropout: float = 0.0              # on embeddings and on the final state (Zaremba et al. 2014 style)

    def __post_init__(self):
        from benchmark.config import ConfigError
        if self.source not in ("local", "hub"):
            raise ConfigError(f"bad sentiment.source {self.source!r}: expected local or hub")
        if not self.text_columns or not all(isinstance(c, str) for c in self.text_columns):
            raise ConfigError(f"bad sentiment.text_columns {self.text_columns!r}: expected a list of column names")
        for name in ("min_freq", "embedding_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bad sentiment.{name} {getattr(self, name)!r}: expected an integer >= 1")
        if self.max_train_examples < 0:
            raise ConfigError(f"bad sentiment.max_train_examples {self.max_train_examples}: expected >= 0")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"bad sentiment.dropout {self.dropout}: expected a number in [0, 1)")


@dataclass
class LabeledTexts:
    texts: list      # token lists
    labels: list     # label strings
    lines: list      # line numbers in the source file, for errors
    where: str       # the source file (or hub split)


def read_labeled_file(path: Path, label_column: str, text_columns, lowercase: bool) -> LabeledTexts:
    """A header row, then one example a row; tab-separated for .tsv (no quoting), else CSV."""
    text = read_text(path)
    tsv = path.suffix.lower() in (".tsv", ".txt")
    reader = csv.reader(text.splitlines(), delimiter="\t" if tsv else ",",
                        quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
    header = next(reader, None)
    if header is None:
        raise DataError(f"{path}: empty file; expected a header row with {label_column!r} and a text column")
    if label_column not in header:
        raise DataError(f"{path}:1: no label column {label_column!r} in header {header}; set sentiment.label_column")
    text_column = next((c for c in text_columns if c in header), None)
    if text_column is None:
        raise DataError(f"{path}:1: none of the text columns {list(text_columns)} in header {header}; "
                        f"set sentiment.text_columns")
    li, ti = header.index(label_column), header.index(text_column)
    out = LabeledTexts([], [], [], str(path))
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(li, ti):
            raise DataError(f"{path}:{line}: expected {len(header)} columns ({', '.join(header)}), found {len(row)}")
        tokens = (row[ti].lower() if lowercase else row[ti]).split()
        if not tokens or not row[li].strip():
            raise DataError(f"{path}:{line}: empty {'text' if not tokens else 'label'}")
        out.texts.append(tokens)
        out.labels.append(row[li].strip())
        out.lines.append(line)
    if not out.texts:
        raise DataError(f"{path}: no examples after the header; an empty split cannot be trained or evaluated")
    return out


def read_hub(lowercase: bool) -> dict[str, LabeledTexts]:
    hint = "put SST-2 at DATA_DIR/sst2/{train,dev,test}.tsv and use sentiment.source=local"
    ds = load_hub(HUB_REPO, None, "sentiment", hint)
    out = {}
    # The hub's test split is unlabeled (label -1): test metrics come from the validation split.
    for split, hub_split in (("train", "train"), ("val", "validation"), ("test", "validation")):
        rows = ds[hub_split]
        texts = [(t.lower() if lowercase else t).split() for t in rows["sentence"]]
        out[split] = LabeledTexts(texts, [str(v) for v in rows["label"]], list(range(1, len(texts) + 1)),
                                  f"{HUB_REPO}:{hub_split}")
    return out


def class_names(labels) -> list[str]:
    names = set(labels)
    numeric = all(n.lstrip("-").isdigit() for n in names)
    return sorted(names, key=int) if numeric else sorted(names)


def encode_splits(raw: dict[str, LabeledTexts], settings: SentimentSettings) -> dict:
    train = raw["train"]
    if settings.max_train_examples and settings.max_train_examples < len(train.texts):
        keep = sorted(random.Random(0).sample(range(len(train.texts)), settings.max_train_examples))
        train = LabeledTexts(*[[col[i] for i in keep] for col in (train.texts, train.labels, train.lines)], train.where)
        raw = {**raw, "train": train}
    vocab = Vocab.build(train.texts, settings.min_freq)  # from train only
    classes = class_names(train.labels)
    index = {c: i for i, c in enumerate(classes)}
    splits = {}
    for split, part in raw.items():
        for label, line in zip(part.labels, part.lines):
            if label not in index:
                raise DataError(f"{part.where}:{line}: label {label!r} never occurs in train (labels: {classes})")
        splits[split] = Sequences.from_lists([vocab.encode(t) for t in part.texts], [index[v] for v in part.labels])
    return {"splits": splits, "vocab": vocab.itos, "classes": classes}


def load_sentiment(settings: SentimentSettings, data_dir) -> dict:
    """Encoded splits, vocabulary and class names; cached, keyed by the files and settings."""
    key = dataclasses.asdict(settings)
    for model_only in ("embedding_dim", "dropout"):
        key.pop(model_only)
    if settings.source == "hub":
        return cached("sentiment-hub", [], key, lambda: encode_splits(read_hub(settings.lowercase), settings))
    files = {s: local_file(data_dir, getattr(settings, f"{s}_file"), "sentiment") for s in SPLITS}
    build = lambda: encode_splits(  # noqa: E731
        {s: read_labeled_file(p, settings.label_column, settings.text_columns, settings.lowercase)
         for s, p in files.items()}, settings)
    return cached("sentiment", list(files.values()), key, build)


class SentimentTask(TaskModule):
    name = "sentiment"
    kind = "many-to-one"
    description = "SST-2 sentence sentiment (binary): final state -> class"
    Settings = SentimentSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        loaded = load_sentiment(settings, data_dir)
        return SequenceData(loaded["splits"], train, seed, vocab=loaded["vocab"], classes=loaded["classes"])

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
        rows = {"majority class (of train)": {"acc": float((test == majority).float().mean())}}
        if self.settings.train_file == SentimentSettings.train_file and self.num_classes == 2:  # SST-2 itself
            rows["ref: Tai et al. 2015 2-layer LSTM (GloVe init; ours: random init)"] = {"acc": 0.863}
        return rows
