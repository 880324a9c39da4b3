"""What the character- and word-level LM tasks share: embedding -> recurrent encoder ->
linear decoder over the vocabulary, trained with truncated BPTT.

Truncated BPTT (Williams & Peng 1990; as in Zaremba et al. 2014): each batch is the next
`bptt` steps of `batch_size` contiguous streams (tasks/data/corpus.py), the hidden state
left by one batch starts the next, and it is detached in between so gradients stop at the
chunk boundary. Lightning 2 dropped `truncated_bptt_steps` (Lightning-AI/pytorch-lightning
#16337), so the module optimises manually. Validation and test carry the state across
chunks too; every stage starts each epoch from a zero state.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from benchmark.config import parse_init, show
from benchmark.errors import ConfigError
from benchmark.models import detach_state
from tasks.base import TaskModule


@dataclass(frozen=True)
class LanguageModelSettings:
    bptt: int = 35                # truncated-BPTT chunk length (time steps per batch)
    eval_batch_size: int = 10     # streams for validation/test
    embedding: int = 0            # embedding size; 0 = model.hidden
    max_train_tokens: int = 0     # use only the first N training tokens; 0 = all
    tie_weights: bool = False     # share embedding and decoder weights (Press & Wolf 2016; Inan et al. 2017)
    TASK = "language_model"       # the task named in messages (word_lm.bptt); a class attribute, not a setting

    def __post_init__(self):
        for name in ("bptt", "eval_batch_size"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ConfigError(f"bad {self.TASK}.{name} {show(getattr(self, name))}: expected an integer >= 1")
        for name in ("embedding", "max_train_tokens"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 0):
                raise ConfigError(f"bad {self.TASK}.{name} {show(getattr(self, name))}: expected an integer >= 0")


class LanguageModelTask(TaskModule):
    """Subclasses set name, description, Settings, `datamodule`, `derived` (bpc or ppl
    from the mean loss in nats per token) and `baselines`."""

    kind = "causal"

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.automatic_optimization = False  # truncated BPTT: one optimiser step per chunk
        self._carried = {}                   # stage -> hidden state left by the previous chunk

    def build(self, data):
        vocab = data.vocab_size
        emb = self.settings.embedding or self.model_cfg.hidden
        self.embedding = nn.Embedding(vocab, emb)
        self.make_encoder(emb)
        # Zaremba et al. 2014 drop the non-recurrent connections: the embedding and the
        # encoder's output (the encoder itself drops only between stacked layers).
        self.drop = nn.Dropout(self.model_cfg.dropout)
        out = self.encoder.output_size
        # Tying needs the decoder's input to be embedding-sized: project when the encoder's
        # output is not (Inan et al. 2017 and Melis et al. 2018 do the same).
        self.project = nn.Linear(out, emb) if self.settings.tie_weights and out != emb else nn.Identity()
        self.decoder = nn.Linear(emb if self.settings.tie_weights else out, vocab)
        # Zaremba et al. 2014 draw every parameter from ±A (0.1 small, 0.05 medium): under
        # model.init uniform:A the embedding and decoder do too; otherwise ±0.1 and a zero bias.
        kind, value = parse_init(self.model_cfg.init)
        bound = value if kind == "uniform" else 0.1
        nn.init.uniform_(self.embedding.weight, -bound, bound)
        if kind == "uniform":
            nn.init.uniform_(self.decoder.bias, -bound, bound)
        else:
            nn.init.zeros_(self.decoder.bias)
        if self.settings.tie_weights:
            self.decoder.weight = self.embedding.weight  # Press & Wolf 2016
        else:
            nn.init.uniform_(self.decoder.weight, -bound, bound)

    def forward(self, x, state=None):
        out, state = self.encoder(self.drop(self.embedding(x)), state=state)
        return self.decoder(self.project(self.drop(out))), state

    def step(self, batch, stage="train"):
        x, y = batch
        logits, state = self(x, self._carried.get(stage))
        self._carried[stage] = detach_state(state)  # the next chunk starts here, gradients do not flow back
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        # Training discards the predictions, and an argmax over word_lm's 10k-word vocabulary
        # cost ~20% of its CPU step (bench plan's profile): only evaluation makes them.
        preds = None if stage == "train" else logits.argmax(-1).flatten()
        return loss, preds, y.flatten()

    def make_metrics(self):
        # Next-token accuracy (top-1); loss, bpc and ppl come from the token-weighted mean loss.
        return MetricCollection({"acc": MulticlassAccuracy(self.decoder.out_features, average="micro")})

    # --- truncated BPTT with manual optimisation ------------------------------------
    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        loss, _, _ = self.step(batch, "train")
        self._log_train_loss(loss)
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()  # clips in on_before_optimizer_step
        schedule = self.lr_schedulers()  # manual optimisation steps the schedule itself
        if schedule is not None:
            schedule.step()

    def on_before_optimizer_step(self, optimizer):
        super().on_before_optimizer_step(optimizer)  # logs the gradient norm before clipping
        # Clipping here rather than in training_step sees unscaled gradients under 16-mixed
        # (the precision plugin unscales before this hook), as automatic optimisation does.
        self.clip_gradients(optimizer, gradient_clip_val=self.train_cfg.grad_clip, gradient_clip_algorithm="norm")

    def _eval_step(self, batch, stage):
        loss, preds, target = self.step(batch, stage)
        # Weighted by tokens: the last chunk of a split is shorter than bptt.
        self.losses[stage].update(loss, weight=target.numel())
        self.stage_metrics[stage].update(preds, target)

    def on_train_epoch_start(self):
        self._carried.pop("train", None)

    def on_validation_epoch_start(self):
        self._carried.pop("val", None)

    def on_test_epoch_start(self):
        self._carried.pop("test", None)

    # --- what a context-free model scores ---------------------------------------------
    def unigram_baseline(self, data) -> float:
        """Unigram nats per token from the training counts, on exactly the test tokens the
        test loop scores (the first `train.test_batches` chunks, or all)."""
        targets = data.eval_targets("test", self.train_cfg.test_batches)
        return unigram_nats(data.corpus.train, targets, data.vocab_size)


def unigram_nats(train: torch.Tensor, targets: torch.Tensor, vocab_size: int) -> float:
    """Mean -log p(token) under add-one-smoothed unigram frequencies of the training tokens:
    the score of a model that ignores all context."""
    counts = torch.bincount(train, minlength=vocab_size).double() + 1.0
    log_p = counts.log() - counts.sum().log()
    return float(-log_p[targets.flatten()].mean())
