"""What a task's readers found, without training: the facts `data check` prints.

`describe(data)` reads a set-up data module (every split whole: build it with
`train.val_batches` and `test_batches` at 0) and returns {heading: value}, in print order:

- sequences (sentiment, ner): sources, label set and mapping or tag set, scheme (and repairs,
  where the reader counts them), examples per split, sequence length min/median/max, vocabulary;
- corpora (char_lm, word_lm): sources, tokens per split, tokens outside the vocabulary, vocabulary;
- windows (forecast): columns in and out, rows and windows per split;
- pixels (smnist): images per split, classes;
- anything else (copy, adding): generated, nothing to read.

Only attributes the readers set are read here, so a reader that starts exposing more (repair
counts, say) shows up by adding its name to READER_NOTES.
"""
from __future__ import annotations

import statistics

from tasks.data.corpus import LanguageModelData
from tasks.data.sequences import SequenceData

READER_NOTES = ("scheme", "repairs")  # SequenceData attributes a reader may set, printed when present


def describe(data) -> dict:
    if isinstance(data, SequenceData):
        return describe_sequences(data)
    if isinstance(data, LanguageModelData):
        return describe_corpus(data)
    if hasattr(data, "starts") and hasattr(data, "names"):
        return describe_windows(data)
    if isinstance(getattr(data, "splits", None), dict):
        return describe_pixels(data)
    return {"data": f"generated ({type(data).__name__}): nothing is read from files"}


def describe_sequences(data: SequenceData) -> dict:
    out = {}
    summary = getattr(data, "summary", None) or {}
    if summary.get("sources"):
        out["sources"] = summary["sources"]
    if getattr(data, "classes", None) is not None:
        mapping = summary.get("label_map") or {name: i for i, name in enumerate(data.classes)}
        out["labels"] = f"{len(data.classes)} classes; label -> id: " + ", ".join(f"{k} -> {v}" for k, v in mapping.items())
    if getattr(data, "tag_names", None) is not None:
        out["tags"] = f"{len(data.tag_names)}: {', '.join(data.tag_names)}"
    for note in READER_NOTES:
        if getattr(data, note, None) not in (None, {}, []):
            out[note] = getattr(data, note)
    out["examples"] = {split: len(seqs) for split, seqs in data.splits.items()}
    out["length (min / median / max)"] = {split: _spread(seqs.lengths.tolist()) for split, seqs in data.splits.items()}
    if getattr(data, "classes", None) is not None:
        out["label counts"] = {split: _counts(seqs.labels.tolist(), data.classes) for split, seqs in data.splits.items()}
    out["vocabulary"] = f"{len(data.vocab)} (from train, with <pad> and <unk>)"
    return out


def describe_corpus(data: LanguageModelData) -> dict:
    corpus = data.corpus
    return {"sources": dict(corpus.origin),
            "tokens": {split: corpus.split(split).numel() for split in ("train", "val", "test")},
            "outside the vocabulary (<unk>)": dict(corpus.oov),
            "vocabulary": f"{len(corpus.vocab)} (from train, with <unk>)"}


def describe_windows(data) -> dict:
    return {"columns": ", ".join(data.names),
            "inputs -> outputs": f"{len(data.inputs)} -> {len(data.outputs)} columns",
            "rows": dict(data.split_rows),
            "windows": {split: len(starts) for split, starts in data.starts.items()}}


def describe_pixels(data) -> dict:
    out = {"images": {split: len(labels) for split, (_, labels) in data.splits.items()}}
    if getattr(data, "classes", None) is not None:
        out["classes"] = len(data.classes)
    return out


def _spread(values: list) -> str:
    if not values:
        return "empty"
    return f"{min(values)} / {statistics.median(values):g} / {max(values)}"


def _counts(ids: list, classes: list) -> str:
    counts = {}
    for i in ids:
        counts[i] = counts.get(i, 0) + 1
    return ", ".join(f"{classes[i]}: {n}" for i, n in sorted(counts.items()))
