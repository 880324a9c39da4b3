"""Named-entity recognition: CoNLL-2003 English (Tjong Kim Sang & De Meulder 2003), many-to-many.

One tag per word from the encoder's output at that word: a bidirectional encoder sees the
words on both sides, which is why bi-LSTMs became the standard tagger (Huang et al. 2015;
Lample et al. 2016). Word embeddings only (vocabulary from train, rare words -> `<unk>`);
no character features, no CRF, no pretrained vectors.

Data: `<data_dir>/conll2003/{train,valid,test}.txt`, or any CoNLL-style file: one token a
line with the token first and the tag last (2 or 4 columns), a blank line between
sentences, `-DOCSTART-` lines ignored. Tag set: O, B- and I- of each entity type in train
(another type in valid/test is a DataError); IOB1 or IOB2 (`scheme`).

Metric: entity-level exact-span precision / recall / F1 (conlleval's definition), micro over
all entity types plus F1 per type; not token accuracy, which the many `O` tags inflate.
Spans follow conlleval's rules, which read IOB1 and IOB2 alike: `B-X` always starts a span,
`I-X` continues a span of type X and otherwise starts one (a "stray" `I-`, as IOB1 writes
every entity that does not touch another of its type). `scheme: iob2` additionally rejects
gold files with a stray `I-` (they are IOB1, not IOB2); `auto` picks iob1 if train has one.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric, MetricCollection

from tasks.base import TaskModule
from tasks.sources import DataError, cached, local_file, read_text
from tasks.token_sequences import IGNORE, SequenceData, Sequences, Vocab, pad_batch

SPLITS = ("train", "val", "test")
TAG = re.compile(r"^(O|[BI]-\S+)$")
DOCSTART = "-DOCSTART-"


@dataclass(frozen=True)
class NerSettings:
    train_file: str = "conll2003/train.txt"  # relative to the data dir (or absolute)
    val_file: str = "conll2003/valid.txt"
    test_file: str = "conll2003/test.txt"
    scheme: str = "auto"              # auto, iob1 or iob2 (see the module docstring)
    lowercase: bool = False
    min_freq: int = 2                 # train words seen fewer times become <unk>
    max_train_examples: int = 0       # sentences; 0 = all, else the first N (same for every cell)
    embedding_dim: int = 100
    dropout: float = 0.0              # on embeddings and encoder outputs (Lample et al. 2016 use 0.5)

    def __post_init__(self):
        from benchmark.config import ConfigError
        if self.scheme not in ("auto", "iob1", "iob2"):
            raise ConfigError(f"bad ner.scheme {self.scheme!r}: expected auto, iob1 or iob2")
        for name in ("min_freq", "embedding_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bad ner.{name} {getattr(self, name)!r}: expected an integer >= 1")
        if self.max_train_examples < 0:
            raise ConfigError(f"bad ner.max_train_examples {self.max_train_examples}: expected >= 0")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"bad ner.dropout {self.dropout}: expected a number in [0, 1)")


# --- spans and the metric -----------------------------------------------------------------
def entity_spans(tags) -> set[tuple[int, int, str]]:
    """Entities as (start, end exclusive, type), by conlleval's chunk rules (IOB1 and IOB2)."""
    spans, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, t = tag.partition("-")
        continues = prefix == "I" and kind == t
        if start is not None and not continues:
            spans.add((start, i, kind))
            start, kind = None, None
        if prefix in ("B", "I") and not continues:
            start, kind = i, t
    return spans


def stray_inside(tags) -> int | None:
    """Index of the first `I-X` that does not follow `B-X` or `I-X` (invalid in IOB2), or None."""
    prev = "O"
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            return i
        prev = tag
    return None


class SpanF1(Metric):
    """Entity-level exact-match precision, recall and F1 from tag ids.

    A predicted entity counts only if its start, end and type all match a gold one: a span
    with the wrong type or boundaries is both a false positive and a false negative."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, tag_names, ignore_index: int = IGNORE, per_type=("f1",)):
        super().__init__()
        self.tag_names, self.ignore_index, self.per_type = list(tag_names), ignore_index, tuple(per_type)
        self.types = sorted({t[2:] for t in self.tag_names if t[:2] in ("B-", "I-")})
        self.type_index = {t: i for i, t in enumerate(self.types)}
        for name in ("tp", "fp", "fn"):
            self.add_state(name, torch.zeros(len(self.types), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        counts = torch.zeros(3, len(self.types), dtype=torch.long)
        for p_row, t_row in zip(preds.tolist(), target.tolist()):
            keep = [i for i, t in enumerate(t_row) if t != self.ignore_index]
            gold = entity_spans([self.tag_names[t_row[i]] for i in keep])
            pred = entity_spans([self.tag_names[p_row[i]] for i in keep])
            for row, found in enumerate((gold & pred, pred - gold, gold - pred)):
                for _, _, kind in found:
                    counts[row, self.type_index[kind]] += 1
        self.tp += counts[0].to(self.tp.device)
        self.fp += counts[1].to(self.fp.device)
        self.fn += counts[2].to(self.fn.device)

    def compute(self) -> dict:
        out = _prf(self.tp.sum(), self.fp.sum(), self.fn.sum())
        for kind, i in self.type_index.items():
            values = _prf(self.tp[i], self.fp[i], self.fn[i])
            out.update({f"{m}_{kind}": values[m] for m in self.per_type})
        return out


def _prf(tp, fp, fn) -> dict:
    tp, fp, fn = (torch.as_tensor(v, dtype=torch.float32) for v in (tp, fp, fn))
    precision = tp / (tp + fp) if tp + fp > 0 else torch.tensor(0.0)
    recall = tp / (tp + fn) if tp + fn > 0 else torch.tensor(0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else torch.tensor(0.0)
    return {"precision": precision, "recall": recall, "f1": f1}


# --- files -----------------------------------------------------------------------------------
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


def detect_scheme(train: TaggedSentences) -> str:
    return "iob1" if any(stray_inside(t) is not None for t in train.tags) else "iob2"


def check_iob2(part: TaggedSentences) -> None:
    for tags, lines in zip(part.tags, part.lines):
        i = stray_inside(tags)
        if i is not None:
            raise DataError(f"{part.path}:{lines[i]}: {tags[i]!r} does not continue a {tags[i][2:]} entity, which "
                            f"IOB2 requires; the file looks like IOB1: set ner.scheme=iob1 (or auto)")


def encode_splits(raw: dict[str, TaggedSentences], settings: NerSettings) -> dict:
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


def load_ner(settings: NerSettings, data_dir) -> dict:
    files = {s: local_file(data_dir, getattr(settings, f"{s}_file"), "ner") for s in SPLITS}
    key = dataclasses.asdict(settings)
    for model_only in ("embedding_dim", "dropout"):
        key.pop(model_only)
    build = lambda: encode_splits({s: read_conll(p, settings.lowercase) for s, p in files.items()}, settings)  # noqa: E731
    return cached("ner", list(files.values()), key, build)


# --- the task --------------------------------------------------------------------------------
class NerTask(TaskModule):
    name = "ner"
    kind = "many-to-many"
    description = "CoNLL-2003 NER: one tag per word, entity-level span F1"
    Settings = NerSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        loaded = load_ner(settings, data_dir)
        return SequenceData(loaded["splits"], train, seed, vocab=loaded["vocab"], tag_names=loaded["tag_names"],
                            scheme=loaded["scheme"])

    def build(self, data):
        s = self.settings
        self.tag_names = list(data.tag_names)
        self.embed = nn.Embedding(len(data.vocab), s.embedding_dim, padding_idx=0)
        self.drop = nn.Dropout(s.dropout)
        self.make_encoder(s.embedding_dim)
        self.head = nn.Linear(self.encoder.output_size, len(self.tag_names))

    def step(self, batch):
        x, lengths, tags = batch
        out, _ = self.encoder(self.drop(self.embed(x)), lengths=lengths)
        logits = self.head(self.drop(out))
        loss = F.cross_entropy(logits.flatten(0, 1), tags.flatten(), ignore_index=IGNORE)  # padding masked
        return loss, logits.argmax(-1), tags

    def make_metrics(self):
        return MetricCollection({"span": SpanF1(self.tag_names)})

    def baselines(self, data):
        return {"most frequent tag per word (of train)": most_frequent_tag_f1(data),
                "ref: Lample et al. 2016 LSTM-CRF (ours: no CRF, no char or pretrained emb.)": {"f1": 0.9094}}


def most_frequent_tag_f1(data) -> dict:
    """Tag each test word with its most frequent train tag (unseen words: O), scored by span F1."""
    train, test = data.splits["train"], data.splits["test"]
    counts = torch.zeros(len(data.vocab), len(data.tag_names))
    counts.index_put_((train.ids, train.labels), torch.ones(len(train.ids)), accumulate=True)
    counts[:, 0] += 1e-3  # ties and unseen words go to O (tag id 0)
    best = counts.argmax(1)
    metric = SpanF1(data.tag_names)
    x, _, tags = pad_batch([(test.ids[test.offsets[i]:test.offsets[i + 1]], test.label(i)) for i in range(len(test))])
    metric.update(best[x], tags)
    return {k: float(v) for k, v in metric.compute().items()}
