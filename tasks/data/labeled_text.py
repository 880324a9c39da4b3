"""Labeled sentences, for sentiment (default SST-2): TSV/CSV files, or SST-2 from the hub.

Data: local `<data_dir>/sst2/{train,dev,test}.tsv` (GLUE train with its phrases; the
sentence-level dev set; the labeled SST test set), or any TSV/CSV with a label column and a
text column. `source: hub` loads `stanfordnlp/sst2` instead, whose test split is unlabeled
(label -1): there the test metrics are computed on the validation split, and say so.
Vocabulary from train only; rare words -> `<unk>`.
"""
from __future__ import annotations

import csv
import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import DataError
from tasks.data.sequences import SequenceData, Sequences, Vocab
from tasks.data.sources import cached, load_hub, local_file, read_text

HUB_REPO = "stanfordnlp/sst2"
SPLITS = ("train", "val", "test")


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


def encode_splits(raw: dict[str, LabeledTexts], settings) -> dict:
    """settings: sentiment's (max_train_examples, min_freq)."""
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


def load_sentiment(settings, data_dir) -> dict:
    """Encoded splits, vocabulary and class names; cached, keyed by the files and the
    settings (a dataclass: sentiment's)."""
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


def sentiment_data(settings, train, seed: int, data_dir) -> SequenceData:
    loaded = load_sentiment(settings, data_dir)
    return SequenceData(loaded["splits"], train, seed, vocab=loaded["vocab"], classes=loaded["classes"])
