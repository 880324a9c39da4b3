"""Named-entity recognition: CoNLL-2003 English (Tjong Kim Sang & De Meulder 2003), many-to-many.

One tag per word from the encoder's output at that word: a bidirectional encoder sees the
words on both sides, which is why bi-LSTMs became the standard tagger (Huang et al. 2015;
Lample et al. 2016). Word embeddings only (vocabulary from train, rare words -> `<unk>`);
no character features, no CRF, no pretrained vectors.

Data: CoNLL-style files, token first and tag last, IOB1 or IOB2 (`scheme`, decided from the
training file under `auto` and applied to every split: see tasks/data/conll.py, which reads
them and reports any tag it rewrites, such as a stray I- in an IOB2 file), or a hub data set
with a token column and a tag column (`source: hub`, tasks/data/tagged_hub.py).

Metric: entity-level exact-span precision / recall / F1 (conlleval's definition), micro over
all entity types plus F1 per type; not token accuracy, which the many `O` tags inflate.
Spans follow conlleval's rules, which read IOB1 and IOB2 alike (`SpanF1`, benchmark/metrics.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection

from benchmark.config import show
from benchmark.errors import ConfigError
from benchmark.metrics import IGNORE, SpanF1
from tasks.base import TaskModule
from tasks.data.conll import ner_data
from tasks.data.tagged_hub import hub_ner_data
from tasks.data.sequences import pad_batch


@dataclass(frozen=True)
class NerSettings:
    source: str = "local"             # local (CoNLL-style files) or hub (hub_repo: token and tag columns)
    train_file: str = "conll2003/train.txt"  # relative to the data dir (or absolute)
    val_file: str = "conll2003/valid.txt"
    test_file: str = "conll2003/test.txt"
    scheme: str = "auto"              # auto (from the train file), iob1 or iob2: every split is read in it
    hub_repo: str = "eriktks/conll2003"
    hub_config: str = ""
    hub_revision: str = "refs/convert/parquet"  # eriktks/conll2003 keeps a script: its Parquet export loads
    tokens_column: str = "tokens"
    tags_column: str = "ner_tags"     # ClassLabel ids (names from the feature) or tag strings
    tag_names: tuple = ()             # names of integer tags that are not a ClassLabel, in id order
    lowercase: bool = False
    min_freq: int = 2                 # train words seen fewer times become <unk>
    max_train_examples: int = 0       # sentences; 0 = all, else the first N (same for every cell)
    embedding_dim: int = 100
    dropout: float = 0.0              # on embeddings and encoder outputs (Lample et al. 2016 use 0.5)

    def __post_init__(self):
        if self.source not in ("local", "hub"):
            raise ConfigError(f"bad ner.source {show(self.source)}: expected local or hub")
        if self.scheme not in ("auto", "iob1", "iob2"):
            raise ConfigError(f"bad ner.scheme {show(self.scheme)}: expected auto, iob1 or iob2")
        for name in ("min_freq", "embedding_dim"):
            if getattr(self, name) < 1:
                raise ConfigError(f"bad ner.{name} {show(getattr(self, name))}: expected an integer >= 1")
        if self.max_train_examples < 0:
            raise ConfigError(f"bad ner.max_train_examples {self.max_train_examples}: expected >= 0")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"bad ner.dropout {self.dropout}: expected a number in [0, 1)")
        if not all(isinstance(t, str) and t for t in self.tag_names):
            raise ConfigError(f"bad ner.tag_names {show(list(self.tag_names))}: expected tag names in id order, "
                              f"e.g. [O, B-PER, I-PER], or [] when the tags are names or a ClassLabel")


class NerTask(TaskModule):
    name = "ner"
    kind = "many-to-many"
    description = "CoNLL-2003 NER: one tag per word, entity-level span F1"
    Settings = NerSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        if settings.source == "hub":
            return hub_ner_data(settings, train, seed)
        return ner_data(settings, train, seed, data_dir)

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
        # Published numbers are added beside runs on their own data by the reports
        # (configs/references.yaml), not here.
        return {"most frequent tag per word (of train)": most_frequent_tag_f1(data)}


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
