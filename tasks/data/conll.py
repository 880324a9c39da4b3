"""CoNLL-style tagged sentences, for ner (default CoNLL-2003 English).

Data: `<data_dir>/conll2003/{train,valid,test}.txt`, or any CoNLL-style file: one token a
line with the token first and the tag last (2 or 4 columns), a blank line between
sentences, `-DOCSTART-` lines ignored, byte-order marks dropped (also at the start of a line:
files joined with `cat` keep each part's). Tag set: O, B- and I- of each entity type in train
(another type in valid/test is a DataError).

Scheme: IOB1 or IOB2 (`scheme`), decided once, from the whole training file under `auto`
(IOB1 if it has an `I-X` that does not continue an X chunk, a "stray" I-, else IOB2), and
applied to every split: each file's chunks, read as conlleval reads them (an `I-X` that does
not continue an X chunk starts one; benchmark/metrics.py `entity_spans`), are written in that
scheme. So a stray I- in an IOB2 file becomes B- (it never fails a run), an IOB2 file under
IOB1 gets I- where IOB1 has no B-, and the spans, hence entity-level F1, are unchanged. Every
rewritten tag is counted and reported per file (stderr and the record's `data_notes`).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import DataError
from benchmark.metrics import entity_spans
from tasks.data.sequences import SequenceData, Sequences, Vocab
from tasks.data.sources import BOM, cached, local_file, note, read_text

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

    text = read_text(path, "CoNLL lines 'token ... tag', a blank line between sentences")
    for number, line in enumerate(text.splitlines(), start=1):
        cols = line.replace(BOM, " ").split()  # a BOM is not whitespace to str.split
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


def in_scheme(tags, scheme: str) -> list[str]:
    """The same chunks (conlleval's reading) written in `scheme`: IOB2 begins every chunk with
    B-; IOB1 only one that directly follows a chunk of its own type, others begin with I-."""
    out = ["O"] * len(tags)
    prev_end, prev_kind = None, None
    for start, end, kind in sorted(entity_spans(tags)):
        begins = scheme == "iob2" or (start == prev_end and kind == prev_kind)
        out[start:end] = [f"{'B' if begins else 'I'}-{kind}"] + [f"I-{kind}"] * (end - start - 1)
        prev_end, prev_kind = end, kind
    return out


def apply_scheme(part: TaggedSentences, scheme: str, why: str) -> tuple[TaggedSentences, str | None]:
    """`part` with its tags written in `scheme`, and a note counting the tags rewritten (None if none)."""
    tags, changed = [], []
    for sentence, lines in zip(part.tags, part.lines):
        written = in_scheme(sentence, scheme)
        changed += [line for old, new, line in zip(sentence, written, lines) if old != new]
        tags.append(written)
    if not changed:
        return part, None
    where = ", ".join(map(str, changed[:5])) + (", ..." if len(changed) > 5 else "")
    if scheme == "iob2":
        what = (f"{len(changed)} I- tag(s) continuing no chunk (line(s) {where}), read as starting one, as conlleval "
                f"does, and written B-: {why}. Fix those tags, or set ner.scheme=iob1 if the files are IOB1")
    else:
        what = (f"{len(changed)} B- tag(s) of chunks that follow no chunk of their type (line(s) {where}), written "
                f"as I- (the same chunks in IOB1): {why}. Set ner.scheme=iob2 to keep the B- tags")
    return TaggedSentences(part.tokens, tags, part.lines, part.path), f"{part.path}: {what}"


def encode_splits(raw: dict[str, TaggedSentences], settings) -> dict:
    """settings: ner's (max_train_examples, scheme, min_freq, train_file)."""
    if settings.scheme == "auto":  # from the whole training file: a subset must not change it
        scheme = detect_scheme(raw["train"])
        source = raw["train"].path  # a file (Path), or a hub split named by a string
        why = (f"{getattr(source, 'name', source)} is {scheme.upper()} (ner.scheme=auto), and every split is read in "
               f"the training file's scheme")
    else:
        scheme = settings.scheme
        why = f"ner.scheme={scheme} reads every split as {scheme.upper()}"
    raw = dict(raw)
    if settings.max_train_examples:
        n, train = settings.max_train_examples, raw["train"]
        raw["train"] = TaggedSentences(train.tokens[:n], train.tags[:n], train.lines[:n], train.path)
    notes = []
    for split, part in raw.items():
        raw[split], said = apply_scheme(part, scheme, why)
        notes += [said] if said else []
    train = raw["train"]
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
    return {"splits": splits, "vocab": vocab.itos, "tag_names": tag_names, "scheme": scheme, "notes": notes}


def load_ner(settings, data_dir) -> dict:
    """Encoded splits, vocabulary, tag names and scheme; cached, keyed by the files and the
    settings (a dataclass: ner's) that shape them."""
    files = {s: local_file(data_dir, getattr(settings, f"{s}_file"), "ner") for s in SPLITS}
    key = dataclasses.asdict(settings)
    for model_only in ("embedding_dim", "dropout"):
        key.pop(model_only)
    build = lambda: encode_splits({s: read_conll(p, settings.lowercase) for s, p in files.items()}, settings)  # noqa: E731
    return cached("ner", list(files.values()), key, build, ENCODED)


# What encode_splits returns, as the cache checks an entry (sources.cached).
ENCODED = {"splits": dict[str, Sequences], "vocab": list[str], "tag_names": list[str], "scheme": str,
           "notes": list[str]}


def ner_data(settings, train, seed: int, data_dir) -> SequenceData:
    loaded = load_ner(settings, data_dir)
    for message in loaded["notes"]:  # after the cache: a cached load still reports its rewrites
        note(message)
    return SequenceData(loaded["splits"], train, seed, vocab=loaded["vocab"], tag_names=loaded["tag_names"],
                        scheme=loaded["scheme"], notes=loaded["notes"])
