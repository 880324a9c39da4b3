"""Variable-length token sequences, shared by the text tasks (sentiment, ner).

- `Vocab`: token ids built from the training split only, `<pad>` = 0 and `<unk>` = 1; words
  seen fewer than `min_freq` times in train map to `<unk>` so its embedding gets trained.
- `Sequences`: a split as one flat id tensor plus offsets (cheap to cache), with one label per
  sequence (sentiment) or one tag per token (ner).
- `BucketBatchSampler`: batches of similar length. Padding costs time, and packed sequences
  are slow (pytorch#149194), so batching by length keeps both small.
- `eval_indices`: the sequences an evaluation capped at N batches sees, a fixed random sample
  (not the N shortest), so capped and baseline numbers describe the same sentences.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import lightning as L
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset, Sampler

from benchmark.metrics import IGNORE
from tasks.data.loader import loader, replica

PAD, UNK = "<pad>", "<unk>"


@dataclass
class Vocab:
    itos: list[str]

    @classmethod
    def build(cls, sequences, min_freq: int = 1, specials=(PAD, UNK)) -> "Vocab":
        counts = Counter(tok for seq in sequences for tok in seq)
        kept = sorted((t for t, n in counts.items() if n >= min_freq and t not in specials),
                      key=lambda t: (-counts[t], t))
        return cls([*specials, *kept])

    def __post_init__(self):
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens) -> list[int]:
        unk = self.stoi.get(UNK)
        return [self.stoi.get(t, unk) for t in tokens]


@dataclass
class Sequences:
    ids: torch.Tensor       # (total tokens,) long
    offsets: torch.Tensor   # (n + 1,) long: sequence i is ids[offsets[i]:offsets[i+1]]
    labels: torch.Tensor    # (n,) one label per sequence, or (total tokens,) one tag per token
    per_token: bool = False

    @classmethod
    def from_lists(cls, id_lists, labels) -> "Sequences":
        lengths = torch.tensor([len(s) for s in id_lists], dtype=torch.long)
        offsets = torch.zeros(len(id_lists) + 1, dtype=torch.long)
        offsets[1:] = lengths.cumsum(0)
        flat = torch.tensor([i for s in id_lists for i in s], dtype=torch.long)
        per_token = bool(labels) and isinstance(labels[0], list)
        if per_token:
            labels = [t for tags in labels for t in tags]
        return cls(flat, offsets, torch.tensor(labels, dtype=torch.long), per_token)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def subset(self, indices) -> "Sequences":
        parts = [(self.ids[self.offsets[i]:self.offsets[i + 1]], self.label(i)) for i in indices]
        ids = [p[0].tolist() for p in parts]
        labels = [p[1].tolist() if self.per_token else int(p[1]) for p in parts]
        return Sequences.from_lists(ids, labels)

    def label(self, i):
        return self.labels[self.offsets[i]:self.offsets[i + 1]] if self.per_token else self.labels[i]


class SequenceDataset(Dataset):
    def __init__(self, seqs: Sequences):
        self.seqs = seqs

    def __len__(self):
        return len(self.seqs)

    def __getitem__(self, i):
        s = self.seqs
        return s.ids[s.offsets[i]:s.offsets[i + 1]], s.label(i)


def pad_batch(items):
    """(ids (B, T) padded with 0, lengths (B,), labels (B,) or tags (B, T) padded with IGNORE)."""
    ids, labels = zip(*items)
    lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)
    x = pad_sequence(ids, batch_first=True, padding_value=0)
    if labels[0].dim() == 0:
        return x, lengths, torch.stack(labels)
    return x, lengths, pad_sequence(labels, batch_first=True, padding_value=IGNORE)


class BucketBatchSampler(Sampler):
    """Batches of similar-length sequences.

    Training: shuffle, cut into pools of `pool` batches, sort each pool by length, cut into
    batches and shuffle the batch order (the torchtext BucketIterator recipe); with several
    processes (`replica` = (rank, processes)) each takes every processes-th batch, the same
    count on each. Evaluation: sort everything by length, fixed order, the whole split."""

    def __init__(self, lengths: torch.Tensor, batch_size: int, shuffle: bool, seed: int = 0, pool: int = 50,
                 replica: tuple[int, int] = (0, 1)):
        self.lengths, self.batch_size, self.shuffle = lengths.tolist(), batch_size, shuffle
        self.seed, self.pool, self.epoch = seed, pool, 0
        self.rank, self.world = replica if shuffle else (0, 1)

    def set_epoch(self, epoch: int) -> None:  # Lightning calls this at each epoch start
        self.epoch = epoch

    def _batches(self):
        order = list(range(len(self.lengths)))
        if not self.shuffle:
            order.sort(key=lambda i: self.lengths[i])
            return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        rng.shuffle(order)
        span = self.batch_size * self.pool
        batches = []
        for start in range(0, len(order), span):
            chunk = sorted(order[start:start + span], key=lambda i: self.lengths[i])
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        rng.shuffle(batches)
        return batches[self.rank::self.world][:len(batches) // self.world]

    def __iter__(self):
        return iter(self._batches())

    def __len__(self):
        batches = -(-len(self.lengths) // self.batch_size)
        return batches if self.world == 1 else batches // self.world


def eval_indices(n: int, batches: int, batch_size: int) -> list[int]:
    """All of a split, or a fixed random sample of `batches * batch_size` items (same for every cell)."""
    if not batches or batches * batch_size >= n:
        return list(range(n))
    return sorted(torch.randperm(n, generator=torch.Generator().manual_seed(0))[: batches * batch_size].tolist())


class SequenceData(L.LightningDataModule):
    """Train / val / test `Sequences` with length-bucketed loaders.

    Evaluation capped at `train.val_batches` / `train.test_batches` runs on a fixed random
    sample of that many batches (`eval_indices`), whole batches, so Lightning's cap cuts nothing."""

    def __init__(self, splits: dict, train, seed: int, **info):
        super().__init__()
        self.batch_size, self.seed = train.batch_size, seed
        caps = {"train": 0, "val": train.val_batches, "test": train.test_batches}
        self.splits = {k: v.subset(eval_indices(len(v), caps[k], train.batch_size)) if caps[k] else v
                       for k, v in splits.items()}
        for key, value in info.items():  # vocab, classes, tag names, ... for the task's build()
            setattr(self, key, value)

    def _loader(self, split, shuffle):
        seqs = self.splits[split]
        sampler = BucketBatchSampler(seqs.lengths, self.batch_size, shuffle, self.seed, replica=replica(self))
        return loader(SequenceDataset(seqs), batch_sampler=sampler, collate_fn=pad_batch)

    def train_dataloader(self):
        return self._loader("train", True)

    def val_dataloader(self):
        return self._loader("val", False)

    def test_dataloader(self):
        return self._loader("test", False)
