"""Data for the in-context recall tasks, generated on the training device from a seed.

- `make_mqar_batch`: multi-query associative recall (tasks/mqar.py), built as HazyResearch/zoology
  builds it (Arora et al. 2023): K key-value pairs, then queries of Q of the keys at power-law
  gaps among random tokens; the label at a queried key is its value, elsewhere IGNORE.
- `make_selective_copy_batch`: selective copy (tasks/selective_copy.py; Gu & Dao 2023): D data
  tokens at random positions among noise, a marker, then D steps at which to emit them in order.

Every split draws fresh sequences from its own generator (tasks/data/synthetic.py's
GeneratedData): training sees new contexts every step, so the tasks can only be solved by
recalling from the context, never by memorising pairs in the weights.
"""
from __future__ import annotations

import functools

import torch

from tasks.data.synthetic import GeneratedData

IGNORE = -100  # a label cross-entropy and the metrics skip (torch's ignore_index)


def _distinct(batch_size: int, low: int, high: int, k: int, gen, device) -> torch.Tensor:
    """(batch, k) integers from [low, high), distinct within each row, uniformly drawn."""
    scores = torch.rand(batch_size, high - low, generator=gen, device=device)
    return scores.argsort(dim=1)[:, :k] + low


# --- multi-query associative recall -----------------------------------------------------------
def query_slots(length: int, pairs: int) -> int:
    """Where queries may go: every other step after the 2K context tokens (zoology's `space`)."""
    return (length - 2 * pairs) // 2


def make_mqar_batch(batch_size: int, gen, device, *, vocab: int, pairs: int, length: int, queries: int,
                    power_a: float) -> tuple:
    """x: (batch, length) tokens, y: (batch, length) labels, IGNORE but at the queried keys.

    Keys come from [1, vocab/2) and values from [vocab/2, vocab), each distinct within a
    sequence; the context is k1 v1 k2 v2 ... kK vK. Query j (of Q distinct keys) lands at step
    2K + 2 g_j, the gap index g_j drawn without replacement with probability proportional to
    power_a * g^(power_a - 1) (g = 1.. slots): most queries come soon after the context, a few
    far from it, as zoology's generator places them. Every other step holds a random token
    (zoology's random_non_queries), so a key seen at a non-query step says nothing."""
    half = vocab // 2
    keys = _distinct(batch_size, 1, half, pairs, gen, device)
    values = _distinct(batch_size, half, vocab, pairs, gen, device)
    x = torch.randint(1, vocab, (batch_size, length), generator=gen, device=device)
    x[:, 0:2 * pairs:2], x[:, 1:2 * pairs:2] = keys, values
    slots = query_slots(length, pairs)
    weights = power_a * torch.arange(1, slots + 1, device=device, dtype=torch.float64) ** (power_a - 1)
    gaps = torch.multinomial(weights.expand(batch_size, slots), queries, replacement=False, generator=gen)
    which = _distinct(batch_size, 0, pairs, queries, gen, device)  # the keys asked for
    steps = 2 * pairs + 2 * gaps
    rows = torch.arange(batch_size, device=device).unsqueeze(1)
    x[rows, steps] = keys.gather(1, which)
    y = torch.full_like(x, IGNORE)
    y[rows, steps] = values.gather(1, which)
    return x, y


def mqar_data(settings, train, seed: int) -> GeneratedData:
    make = functools.partial(make_mqar_batch, vocab=settings.vocab, pairs=settings.pairs, length=settings.length,
                             queries=settings.queries or settings.pairs, power_a=settings.power_a)
    return GeneratedData(make, train.batch_size, seed, train.val_batches, train.test_batches)


# --- selective copy ---------------------------------------------------------------------------
NOISE = 0  # the filler token; data tokens are 1..vocab, the marker vocab + 1


def make_selective_copy_batch(batch_size: int, gen, device, *, vocab: int, tokens: int, length: int) -> tuple:
    """x: `length` steps of noise with D data tokens (1..vocab) at random distinct steps, a marker,
    D noise steps; y: IGNORE but at the last D steps, which hold the data tokens in order."""
    data = torch.randint(1, vocab + 1, (batch_size, tokens), generator=gen, device=device)
    where = _distinct(batch_size, 0, length, tokens, gen, device).sort(dim=1).values
    x = torch.full((batch_size, length + 1 + tokens), NOISE, dtype=torch.long, device=device)
    x.scatter_(1, where, data)
    x[:, length] = vocab + 1
    y = torch.full_like(x, IGNORE)
    y[:, -tokens:] = data
    return x, y


def selective_copy_data(settings, train, seed: int) -> GeneratedData:
    make = functools.partial(make_selective_copy_batch, vocab=settings.vocab, tokens=settings.tokens,
                             length=settings.length)
    return GeneratedData(make, train.batch_size, seed, train.val_batches, train.test_batches)
