"""Text corpora for language modelling: tokens, a vocabulary from the training split, and
the batches truncated BPTT reads.

- A `Corpus` holds each split as one long 1-D tensor of token ids; the vocabulary comes
  from the training split alone (first-occurrence order) plus `<unk>`, to which unseen
  validation/test tokens map, so nothing about held-out text shapes the model's inputs.
- `batchify` lays a split out as the classic `batch_size` contiguous streams (Zaremba et
  al. 2014; pytorch/examples word_language_model): row b is the b-th slice of the text, and
  chunk i+1 of a row continues chunk i, so a hidden state carried from one batch to the
  next has read exactly the text that precedes the new chunk.
- `BpttChunks` cuts those streams into (input, next-token target) chunks of `bptt` steps.
- `LanguageModelData` is the LightningDataModule both LM tasks share; char_text.py and
  word_text.py read their files into a Corpus.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import lightning as L
import torch
from torch.utils.data import Dataset

from benchmark.errors import DataError
from tasks.data.loader import loader, replica

EOS, UNK = "<eos>", "<unk>"
SPLITS = ("train", "val", "test")


@dataclass
class Corpus:
    vocab: list[str]                 # id -> token
    train: torch.Tensor              # 1-D int64 token ids
    val: torch.Tensor
    test: torch.Tensor
    origin: dict[str, str] = field(default_factory=dict)  # split -> file (or hub id) it came from
    oov: dict[str, int] = field(default_factory=dict)     # split -> tokens mapped to <unk>

    def split(self, name: str) -> torch.Tensor:
        return getattr(self, name)


def word_tokens(text: str, origin: str) -> list[str]:
    """Whitespace tokens with `<eos>` closing every line (Mikolov's PTB convention)."""
    tokens = []
    for line in text.splitlines():
        tokens.extend(line.split())
        tokens.append(EOS)
    if len(tokens) == tokens.count(EOS):
        raise DataError(f"{origin}: no tokens (empty split); expected text, one sentence a line")
    return tokens


def char_tokens(text: str, origin: str) -> list[str]:
    if not text:
        raise DataError(f"{origin}: no characters (empty split); expected plain text")
    return list(text)


def build_corpus(splits: dict[str, list[str]], origin: dict[str, str]) -> Corpus:
    """Ids for each split from a vocabulary of the training tokens (plus <unk>)."""
    vocab = list(dict.fromkeys(splits["train"]))
    if UNK not in vocab:
        vocab.append(UNK)
    index = {tok: i for i, tok in enumerate(vocab)}
    unk = index[UNK]
    ids, oov = {}, {}
    for name in SPLITS:
        encoded = [index.get(tok, unk) for tok in splits[name]]
        oov[name] = sum(tok not in index for tok in splits[name])
        ids[name] = torch.tensor(encoded, dtype=torch.long)
    return Corpus(vocab, ids["train"], ids["val"], ids["test"], dict(origin), oov)


def batchify(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(batch_size, N): the text cut into batch_size contiguous streams; the tail that
    does not fill a whole column is dropped (< batch_size tokens)."""
    n = ids.numel() // batch_size
    return ids[: n * batch_size].view(batch_size, n)


class BpttChunks(Dataset):
    """Chunk i of the streams: inputs streams[:, i*bptt : i*bptt+L], targets shifted by one.
    The last chunk is shorter when the streams do not divide evenly."""

    def __init__(self, streams: torch.Tensor, bptt: int):
        self.streams, self.bptt = streams, bptt

    def __len__(self) -> int:
        return math.ceil((self.streams.size(1) - 1) / self.bptt)

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(i)
        start = i * self.bptt
        length = min(self.bptt, self.streams.size(1) - 1 - start)
        return self.streams[:, start:start + length], self.streams[:, start + 1:start + 1 + length]


class LanguageModelData(L.LightningDataModule):
    """Training streams of `batch_size` (per process), validation/test streams of
    `eval_batch_size`, in order (never shuffled: the carried state needs each stream's chunks
    consecutively).

    `load` is a zero-argument callable returning the Corpus; `max_train_tokens` > 0 keeps
    only that many leading training tokens (smoke runs)."""

    def __init__(self, load, batch_size: int, eval_batch_size: int, bptt: int, max_train_tokens: int = 0):
        super().__init__()
        self.load, self.batch_size, self.eval_batch_size = load, batch_size, eval_batch_size
        self.bptt, self.max_train_tokens = bptt, max_train_tokens
        self.corpus: Corpus | None = None

    def setup(self, stage=None):
        if self.corpus is None:
            corpus = self.load()
            if self.max_train_tokens:
                corpus.train = corpus.train[: self.max_train_tokens]
            for name in SPLITS:
                self._check_length(corpus, name)
            self.corpus = corpus

    @property
    def vocab_size(self) -> int:
        return len(self.corpus.vocab)

    def _batch_size(self, split: str) -> int:
        return self.batch_size if split == "train" else self.eval_batch_size

    def _check_length(self, corpus: Corpus, split: str) -> None:
        need = self._batch_size(split) * 2  # each stream needs an input and a target
        have = corpus.split(split).numel()
        if have < need:
            raise DataError(f"{corpus.origin.get(split, split)}: {split} split has {have} tokens, too few for "
                            f"{self._batch_size(split)} streams; use more text or a smaller batch size")

    def streams(self, split: str) -> torch.Tensor:
        return batchify(self.corpus.split(split), self._batch_size(split))

    def chunks(self, split: str) -> BpttChunks:
        return BpttChunks(self.streams(split), self.bptt)

    def eval_targets(self, split: str, max_batches: int = 0) -> torch.Tensor:
        """Every target token the first `max_batches` chunks (0 = all) of a split score."""
        streams = self.streams(split)
        chunks = len(BpttChunks(streams, self.bptt))
        used = min(chunks, max_batches or chunks)
        return streams[:, 1:1 + used * self.bptt]

    def _loader(self, split):
        return loader(self.chunks(split), batch_size=None)

    def train_dataloader(self):
        rank, world = replica(self)
        if world == 1:
            return self._loader("train")
        # Several processes: the text is cut into batch_size x processes streams and each rank
        # reads its own batch_size of them, chunk after chunk, so its carried state stays valid.
        streams = batchify(self.corpus.train, self.batch_size * world)
        return loader(BpttChunks(streams[rank * self.batch_size:(rank + 1) * self.batch_size], self.bptt),
                      batch_size=None)

    def val_dataloader(self):
        return self._loader("val")

    def test_dataloader(self):
        return self._loader("test")
