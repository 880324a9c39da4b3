"""Labeled texts, for sentiment (default SST-2): tables, class files, class folders, or the hub.

Forms (files are read through `datasets`' generic loaders, tasks/data/tables.py):
- a table, `train_file` / `val_file` / `test_file`: TSV or CSV with a header row, JSON Lines or
  Parquet; `label_column` names the label, the first of `text_columns` the file has names the
  text (SST-2's train says `sentence`, its dev and test `content`);
- class files, `class_files: {label: file}`: one example a line, one file per class; they hold
  the training examples, in place of `train_file`;
- class folders: a `*_file` that is a folder, with one subfolder per class and one document a
  file (IMDb's aclImdb/train/{neg,pos}); `classes` picks the subfolders (aclImdb's train/ also
  holds unsup/, the unlabeled reviews);
- the hub, `source: hub`: `hub_repo` (stanfordnlp/sst2 by default; stanfordnlp/imdb,
  cornell-movie-review-data/rotten_tomatoes, ...), `hub_config`, `hub_revision`, and the same
  column settings.

Labels: integers (also written as digits in a text file) keep their values as class ids, so
class k is the label k; other labels get ids in sorted order; the hub's ClassLabel names keep
their ids. The mapping travels with the data (`classes`, `summary["label_map"]`) into every
record's `data` and the output of `data check`.

Splits: `split: [train, val, test]` fractions cut the training examples into all three, and
`[train, val]` into train and validation (test from `test_file`); `val_file` / `test_file` are
then not read. The cut is shuffled with a fixed seed (SPLIT_SEED), so every cell and every
seed sees the same split. On the hub, a missing validation split is cut from train (`split`, or
90/10), and a test split without labels (label -1, as SST-2's) is replaced by the validation
split; the summary says which split came from where. Vocabulary from train only; rare words ->
`<unk>`.
"""
from __future__ import annotations

import dataclasses
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from benchmark.errors import DataError
from tasks.data import hub
from tasks.data.sequences import SequenceData, Sequences, Vocab
from tasks.data.sources import cached, local_file
from tasks.data.tables import read_documents, read_lines, read_table

TASK = "sentiment"
SPLITS = ("train", "val", "test")
SPLIT_SEED = 0          # the cut of `split`: one fixed shuffle for every cell and seed
HUB_CUT = (0.9, 0.1)    # train/validation, for a hub data set without a validation split
INTEGER = re.compile(r"^-?\d+$")


@dataclass
class LabeledTexts:
    texts: list                    # raw strings
    labels: list                   # labels as read (int or str)
    rows: list                     # each example's row in its source, for `locate`
    locate: Callable[[int], str]   # row -> "file:line" (or "file row N", "folder/pos/1_7.txt")
    source: str                    # what was read, for the summary and `data check`

    def where(self, i: int) -> str:
        return self.locate(self.rows[i])

    def take(self, indices, source: str) -> "LabeledTexts":
        return LabeledTexts([self.texts[i] for i in indices], [self.labels[i] for i in indices],
                            [self.rows[i] for i in indices], self.locate, source)


# --- local forms ----------------------------------------------------------------------------
def read_table_texts(path: Path, settings, setting: str) -> LabeledTexts:
    table = read_table(path, setting)
    columns = ", ".join(table.columns)
    if settings.label_column not in table.columns:
        raise DataError(f"{table.header_where()}: no label column {settings.label_column!r} (columns: {columns}); "
                        f"set sentiment.label_column to one of them")
    text = next((c for c in settings.text_columns if c in table.columns), None)
    if text is None:
        raise DataError(f"{table.header_where()}: none of the text columns {list(settings.text_columns)} "
                        f"(columns: {columns}); set sentiment.text_columns")
    if not len(table):
        raise DataError(f"{path}: no examples after the header; an empty split cannot be trained or evaluated")
    texts = ["" if t is None else str(t) for t in table.column(text)]
    empty = next((i for i, t in enumerate(texts) if not t.strip()), None)
    if empty is not None:  # pandas pads a short row with empty cells: say what a row needs
        raise DataError(f"{table.where(empty)}: no text in column {text!r} (expected {len(table.columns)} columns: "
                        f"{columns})")
    return LabeledTexts(texts, table.column(settings.label_column), list(range(len(table))), table.where,
                        f"{path} ({table.form}, columns {columns}; text {text!r}, label {settings.label_column!r})")


def read_class_files(files: dict) -> LabeledTexts:
    """{label: path}: one example a line (blank lines skipped), the file's label for each."""
    texts, labels, places = [], [], []
    for label, path in files.items():
        before = len(texts)
        for number, line in enumerate(read_lines(path), 1):
            if line.strip():
                texts.append(line)
                labels.append(label)
                places.append(f"{path}:{number}")
        if len(texts) == before:
            raise DataError(f"{path}: no examples (sentiment.class_files: one example a line)")
    names = ", ".join(f"{label}: {path}" for label, path in files.items())
    return LabeledTexts(texts, labels, list(range(len(texts))), places.__getitem__,
                        f"class files ({names}; one example a line)")


def class_folders(folder: Path, classes) -> dict[str, list[Path]]:
    """{class: its files}: a folder's subfolders (or the `classes` among them), sorted."""
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    wanted = list(classes) or found
    missing = [c for c in wanted if c not in found]
    if missing or not wanted:
        raise DataError(f"{folder}: {'no subfolder ' + repr(missing[0]) if missing else 'no subfolders'} "
                        f"(subfolders: {', '.join(found) or 'none'}); a folder of examples holds one subfolder "
                        f"per class, one document a file; set sentiment.classes to the class subfolders")
    out = {}
    for name in wanted:
        out[name] = sorted(p for p in (folder / name).iterdir() if p.is_file() and not p.name.startswith("."))
        if not out[name]:
            raise DataError(f"{folder / name}: no files; each class subfolder holds one document a file")
    return out


def read_class_folders(folder: Path, classes) -> LabeledTexts:
    texts, labels, places = [], [], []
    per_class = class_folders(folder, classes)
    for name, files in per_class.items():
        texts += read_documents(files)
        labels += [name] * len(files)
        places += [str(f) for f in files]
    counts = ", ".join(f"{name}/: {len(files)}" for name, files in per_class.items())
    return LabeledTexts(texts, labels, list(range(len(texts))), places.__getitem__,
                        f"{folder} (class folders, one document a file: {counts})")


def local_sources(settings, data_dir) -> dict:
    """{split: a path, or {label: path} for class files} of the splits read from files: train,
    and val / test unless `split` cuts them from train."""
    cut = {0: (), 2: ("val",), 3: ("val", "test")}[len(settings.split)]
    out = {}
    for split in SPLITS:
        if split in cut:
            continue
        if split == "train" and settings.class_files:
            out[split] = {label: local_file(data_dir, f, TASK) for label, f in settings.class_files}
        else:
            out[split] = local_file(data_dir, getattr(settings, f"{split}_file"), TASK)
    return out


def source_files(source, classes) -> list[Path]:
    """Every file a source reads, for the cache key: adding a document to a class folder is a change."""
    if isinstance(source, dict):
        return list(source.values())
    if source.is_dir():
        return [f for files in class_folders(source, classes).values() for f in files]
    return [source]


def read_source(source, settings, split: str) -> LabeledTexts:
    if isinstance(source, dict):
        return read_class_files(source)
    if source.is_dir():
        return read_class_folders(source, settings.classes)
    return read_table_texts(source, settings, f"sentiment.{split}_file")


def cut_splits(train: LabeledTexts, fractions, cut: tuple) -> dict[str, LabeledTexts]:
    """Train cut into train plus the `cut` splits by `fractions` (train's first), after one
    fixed shuffle; each part keeps its source order."""
    order = list(range(len(train.texts)))
    random.Random(SPLIT_SEED).shuffle(order)
    sizes = [round(len(order) * f) for f in fractions[1:]]
    if min(sizes, default=1) < 1 or len(order) - sum(sizes) < 1:
        raise DataError(f"{train.source}: {len(order)} examples are too few to cut into {list(fractions)} "
                        f"(a split would be empty); give more examples or set sentiment.split")
    out, start = {}, 0
    stated = "/".join(f"{f:g}" for f in fractions)
    for split, size, fraction in zip(cut, sizes, fractions[1:]):
        out[split] = train.take(sorted(order[start:start + size]),
                                f"cut from train: {fraction:g} of it (split {stated}, seed {SPLIT_SEED})")
        start += size
    out["train"] = train.take(sorted(order[start:]), f"{train.source}, less the {'/'.join(cut)} cut")
    return out


def read_local(sources: dict, settings) -> dict[str, LabeledTexts]:
    raw = {split: read_source(source, settings, split) for split, source in sources.items()}
    cut = tuple(s for s in SPLITS[1:] if s not in raw)
    return {**raw, **cut_splits(raw["train"], settings.split, cut)} if cut else raw


# --- the hub ----------------------------------------------------------------------------------
def read_hub(settings) -> tuple[dict[str, LabeledTexts], list | None]:
    """The hub data set's splits as LabeledTexts, and its ClassLabel names (None without)."""
    name = hub.hub_name(settings.hub_repo, settings.hub_config, settings.hub_revision)
    hint = "put the data in local files (sentiment.train_file, val_file, test_file) and use sentiment.source=local"
    ds = hub.load(settings, TASK, hint)
    roles = hub.pick_splits(ds, name)
    train = _hub_part(ds, "train", settings, name)
    names = hub.class_names(ds["train"].features[settings.label_column])
    parts = {"train": train}
    cut = {2: ("val",), 3: ("val", "test")}.get(len(settings.split), ())
    if "val" not in cut and roles["val"]:
        parts["val"] = _hub_part(ds, roles["val"], settings, name)
    if "test" not in cut:
        test = _hub_part(ds, roles["test"], settings, name) if roles["test"] else None
        if test is not None and _labeled(test):
            parts["test"] = test
        elif "val" in parts:  # SST-2: its test labels are hidden (-1); validation stands in, as published work does
            why = "has no test split" if test is None else "test split is unlabeled (label -1)"
            parts["test"] = dataclasses.replace(
                parts["val"], source=f"{parts['val'].source}; the data set {why}, so test = validation")
    need = tuple(s for s in SPLITS[1:] if s not in parts)
    if need:
        if settings.split and len(settings.split) != 1 + len(need):
            raise DataError(f"{name}: no labeled test split and no validation split to stand in for it; set "
                            f"sentiment.split to three fractions (train, val, test) to cut both from train")
        fractions = settings.split or (HUB_CUT if need == ("val",) else (0.8, 0.1, 0.1))
        parts.update(cut_splits(train, fractions, need))
    return parts, names


def _hub_part(ds, split: str, settings, name: str) -> LabeledTexts:
    rows, where = ds[split], f"{name} split {split}"
    text = hub.first_column(rows, settings.text_columns, where, "sentiment.text_columns")
    hub.require_column(rows, settings.label_column, where, "sentiment.label_column")
    texts = ["" if t is None else str(t) for t in rows[text]]
    return LabeledTexts(texts, rows[settings.label_column], list(range(len(texts))),
                        lambda row: f"{where} row {row + 1}",
                        f"{where} (columns {', '.join(rows.column_names)}; text {text!r}, "
                        f"label {settings.label_column!r})")


def _labeled(part: LabeledTexts) -> bool:
    return any(label not in (-1, None) for label in part.labels)


# --- labels, vocabulary, tensors ----------------------------------------------------------------
def label_key(value, where: str, named=frozenset()):
    """A label as read -> the key it is counted under: an int for integer labels (7, 7.0, "7",
    "7.0"), else its text. A number that is no whole number (0.5, NaN, inf; as a number or as
    text) is a DataError, not a class of its own, unless it is one of the labels `named` in the
    settings (sentiment.class_files' names)."""
    if value is None or not str(value).strip():
        raise DataError(f"{where}: empty label")
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if isinstance(value, float):
        number = value
    elif INTEGER.match(text):
        return int(text)
    else:
        try:
            number = float(text)
        except ValueError:
            return text  # a name: pos, neg, ...
    if math.isfinite(number) and number.is_integer():
        return int(number)
    if text in named:
        return text
    what = "not a number (NaN)" if math.isnan(number) else "infinite" if math.isinf(number) else "not a whole number"
    raise DataError(f"{where}: label {text!r} is {what}; numeric labels are class ids (0, 1, 2, ...): fix the value, "
                    f"or write every label of the file as a name (e.g. negative/positive)")


def label_mapping(train: LabeledTexts, names: list | None, named=frozenset()) -> tuple[list[str], dict]:
    """(classes: id -> name, {key: id}) from the training labels (see the module's docstring)."""
    if names:  # the hub's ClassLabel: its ids, its names
        return list(names), {i: i for i in range(len(names))}
    keys = {label_key(v, train.where(i), named) for i, v in enumerate(train.labels)}
    integers = all(isinstance(k, int) for k in keys)
    if integers and min(keys) >= 0:  # integers keep their values: class k is label k
        return [str(i) for i in range(max(keys) + 1)], {k: k for k in keys}
    ordered = sorted(keys) if integers else sorted({str(k) for k in keys})  # negative integers: numeric order
    return [str(k) for k in ordered], {k: i for i, k in enumerate(ordered)}


def encode_splits(raw: dict[str, LabeledTexts], settings, names: list | None = None) -> dict:
    """settings: sentiment's (lowercase, max_train_examples, min_freq)."""
    tokens = {split: _tokens(part, settings.lowercase) for split, part in raw.items()}
    train = raw["train"]
    if settings.max_train_examples and settings.max_train_examples < len(train.texts):
        keep = sorted(random.Random(0).sample(range(len(train.texts)), settings.max_train_examples))
        raw = {**raw, "train": train.take(keep, f"{train.source}, {len(keep)} sampled (max_train_examples)")}
        tokens["train"] = [tokens["train"][i] for i in keep]
    # class_files name their labels: any label among those names is that class, even a number such as 0.5.
    named = frozenset(str(label) for label, _ in getattr(settings, "class_files", None) or ())
    classes, index = label_mapping(raw["train"], names, named)
    text_keys = not all(isinstance(k, int) for k in index)
    vocab = Vocab.build(tokens["train"], settings.min_freq)  # from train only
    splits = {}
    for split, part in raw.items():
        ids = []
        for i, value in enumerate(part.labels):
            key = label_key(value, part.where(i), named)
            key = str(key) if text_keys else key
            if key not in index:
                raise DataError(f"{part.where(i)}: label {str(value)!r} never occurs in train (labels: {classes})")
            ids.append(index[key])
        splits[split] = Sequences.from_lists([vocab.encode(t) for t in tokens[split]], ids)
    summary = {"sources": {split: raw[split].source for split in SPLITS}, "classes": classes,
               "label_map": {classes[i]: i for i in sorted(set(index.values()))}}
    return {"splits": splits, "vocab": vocab.itos, "classes": classes, "summary": summary}


def _tokens(part: LabeledTexts, lowercase: bool) -> list[list[str]]:
    out = []
    for i, text in enumerate(part.texts):
        words = (text.lower() if lowercase else text).split()
        if not words:
            raise DataError(f"{part.where(i)}: empty text")
        out.append(words)
    return out


def load_sentiment(settings, data_dir) -> dict:
    """Encoded splits, vocabulary, class names and a summary of what was read; cached, keyed by
    the files and the settings (a dataclass: sentiment's)."""
    key = dataclasses.asdict(settings)
    for model_only in ("embedding_dim", "dropout"):
        key.pop(model_only)
    if settings.source == "hub":
        def build_hub():
            parts, names = read_hub(settings)
            return encode_splits(parts, settings, names)
        return cached("sentiment-hub", [], key, build_hub, ENCODED)
    sources = local_sources(settings, data_dir)
    files = [f for source in sources.values() for f in source_files(source, settings.classes)]
    return cached("sentiment", files, key, lambda: encode_splits(read_local(sources, settings), settings), ENCODED)


# What encode_splits returns, as the cache checks an entry (sources.cached).
ENCODED = {"splits": dict[str, Sequences], "vocab": list[str], "classes": list[str], "summary": dict}


def sentiment_data(settings, train, seed: int, data_dir) -> SequenceData:
    loaded = load_sentiment(settings, data_dir)
    return SequenceData(loaded["splits"], train, seed, vocab=loaded["vocab"], classes=loaded["classes"],
                        summary=loaded["summary"])
