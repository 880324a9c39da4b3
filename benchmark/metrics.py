"""Metrics the tasks score with, as torchmetrics `Metric`s, beside torchmetrics' own.

The bottom layer, like errors.py: torch, torchmetrics and the standard library only,
never `tasks`, so data modules and tasks alike can import from here.

- `SpanF1`: entity-level exact-span precision / recall / F1 (conlleval's definition), micro
  over all entity types plus chosen values per type; not token accuracy, which the many `O`
  tags inflate. Spans follow conlleval's rules, which read IOB1 and IOB2 alike: `B-X` always
  starts a span, `I-X` continues a span of type X and otherwise starts one (a "stray" `I-`,
  as IOB1 writes every entity that does not touch another of its type).
- `OriginalScale`: a metric scored after undoing a z-score normalisation.
"""
from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.wrappers import MetricInputTransformer

IGNORE = -100  # target id of padded steps: cross_entropy's default ignore_index


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


class OriginalScale(MetricInputTransformer):
    """Wraps a metric so it scores predictions and targets on the data's original scale."""

    def __init__(self, metric, mean: torch.Tensor, std: torch.Tensor):
        super().__init__(metric)
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())

    def transform_pred(self, pred):
        return pred * self.std + self.mean

    def transform_target(self, target):
        return target * self.std + self.mean
