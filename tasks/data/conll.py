"""CoNLL-style tagged sentences, for ner (default CoNLL-2003 English).

Data: `<data_dir>/conll2003/{train,valid,test}.txt`, or any CoNLL-style file: one token a
line with the token first and the tag last (2 or 4 columns), a blank line between
sentences, `-DOCSTART-` lines ignored. Tag set: O, B- and I- of each entity type in train
(another type in valid/test is a DataError); IOB1 or IOB2 (`scheme`).

Spans are read as conlleval does (benchmark/metrics.py), which reads IOB1 and IOB2 alike;
`scheme: iob2` additionally rejects gold files with a stray `I-` (an `I-X` that does not
continue an X entity: they are IOB1, not IOB2); `auto` picks iob1 if train has one.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import DataError
from tasks.data.sequences import SequenceData, Sequences, Vocab
from tasks.data.sources import cached, local_file, read_text

SPLITS = ("train", "val", "test")
TAG = re.compile(r"^(O|[BI]-\S+)$")
DOCSTART = "-DOCSTART-"


@dataclass
class TaggedSentences:
    tokens: list   # token lists
    tags: list     # tag lists
    lines: list    # line number of each token, for errors
    path: Path


def read_conll(path: Path, lowercase: bool = False) -> TaggedSentences:
    out = TaggedSentences([], [], [], path)
    tokens, tags, lines = [], [], []

    def close():
        if tokens:
            out.tokens.append(list(tokens))
            out.tags.append(list(tags))
            out.lines.append(list(lines))
            tokens.clear(), tags.clear(), lines.clear()

    for number, line in enumerate(read_text(path).splitlines(), start=1):
        cols = line.split()
        if not cols or cols[0] == DOCSTART:
            close()
            continue
        if len(cols) < 2:
            raise DataError(f"{path}:{number}: expected a token and a tag (token first, tag last), found {line!r}")
        if not TAG.match(cols[-1]):
            raise DataError(f"{path}:{number}: bad tag {cols[-1]!r}: expected O, B-TYPE or I-TYPE (IOB1/IOB2)")
        tokens.append(cols[0].lower() if lowercase else cols[0])
        tags.append(cols[-1])
        lines.append(number)
    close()
    if not out.tokens:
        raise DataError(f"{path}: no sentences; expected CoNLL lines 'token ... tag' with blank lines between sentences")
    return out


def stray_inside(tags) -> int | None:
    """Index of the first `I-X` that does not follow `B-X` or `I-X` (invalid in IOB2), or None."""
    prev = "O"
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            return i
        prev = tag
    return None


def detect_scheme(train: TaggedSentences) -> str:
    return "iob1" if any(stray_inside(t) is not None for t in train.tags) else "iob2"


def check_iob2(part: TaggedSentences) -> None:
    for tags, lines in zip(part.tags, part.lines):
        i = stray_inside(tags)
        if i is not None:
            raise DataError(f"{part.path}:{lines[i]}: {tags[i]!r} does not continue a {tags[i][2:]} entity, which "
                            f"IOB2 requires; the file looks like IOB1: set ner.scheme=iob1 (or auto)")


def encode_splits(raw: dict[str, TaggedSentences], settings) -> dict:
    """settings: ner's (max_train_examples, scheme, min_freq, train_file)."""
    train = raw["train"]
    if settings.max_train_examples:
        n = settings.max_train_examples
        train = TaggedSentences(train.tokens[:n], train.tags[:n], train.lines[:n], train.path)
        raw = {**raw, "train": train}
    scheme = detect_scheme(raw["train"]) if settings.scheme == "auto" else settings.scheme
    if scheme == "iob2":
        for part in raw.values():
            check_iob2(part)
    vocab = Vocab.build(train.tokens, settings.min_freq)
    # Tags: O plus B- and I- of every entity type in train (IOB1 train files may lack some B- tags).
    types = sorted({t[2:] for tags in train.tags for t in tags if t != "O"})
    tag_names = ["O", *[f"{p}-{k}" for k in types for p in "BI"]]
    index = {t: i for i, t in enumerate(tag_names)}
    splits = {}
    for split, part in raw.items():
        for tags, lines in zip(part.tags, part.lines):
            for tag, line in zip(tags, lines):
                if tag not in index:
                    raise DataError(f"{part.path}:{line}: tag {tag!r}: entity type never occurs in train "
                                    f"({settings.train_file}); tags: {', '.join(tag_names)}")
        splits[split] = Sequences.from_lists([vocab.encode(t) for t in part.tokens],
                                             [[index[t] for t in tags] for tags in part.tags])
    return {"splits": splits, "vocab": vocab.itos, "tag_names": tag_names, "scheme": scheme}


def load_ner(settings, data_dir) -> dict:
    """Encoded splits, vocabulary, tag names and scheme; cached, keyed by the files and the
    settings (a dataclass: ner's) that shape them."""
    files = {s: local_file(data_dir, getattr(settings, f"{s}_file"), "ner") for s in SPLITS}
    key = dataclasses.asdict(settings)
    for model_only in ("embedding_dim", "dropout"):
        key.pop(model_only)
    build = lambda: encode_splits({s: read_conll(p, settings.lowercase) for s, p in files.items()}, settings)  # noqa: E731
    return cached("ner", list(files.values()), key, build)


def ner_data(settings, train, seed: int, data_dir) -> SequenceData:
    loaded = load_ner(settings, data_dir)
    return SequenceData(loaded["splits"], train, seed, vocab=loaded["vocab"], tag_names=loaded["tag_names"],
                        scheme=loaded["scheme"])
