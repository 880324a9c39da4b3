"""The task API. A task is a LightningModule subclass that holds the science of one benchmark:

- `name`, `kind` ("many-to-one", "many-to-many" or "causal": causal tasks emit outputs as
  the sequence streams, so bidirectional variants do not apply) and a `Settings` dataclass;
- `datamodule(settings, train, seed, data_dir)`: its data, a LightningDataModule, built
  by a module of tasks/data/ (readers, parsers and data modules live there, apart from the science);
- `build(data)`: its input layer and head around the shared encoder (`self.encoder`);
- `step(batch)`: the loss plus (preds, target) for its torchmetrics `make_metrics()`;
- optionally `baselines(data)` -> {name: {metric: value}}, reference numbers printed as
  rows beside the models, and `derived(loss)` for metrics computed from the loss;
- `data_files(settings)`: {setting: path} of the local files it would read, found by the
  settings' names (`file`, `files`, `folder`, `*_file`); a task whose paths combine
  otherwise (word_lm's folder and files) overrides it. The engine checks them before training.

Subclassing registers the task; dropping a module into `tasks/` is all it takes to add one.
"""
from __future__ import annotations

import functools
import math
from typing import ClassVar

import lightning as L
import torch
from lightning.pytorch.utilities import grad_norm
from torch import nn
from torchmetrics import MeanMetric, MetricCollection

from benchmark.config import ModelConfig, TrainConfig, lr_factor
from benchmark.errors import NonFiniteLoss
from benchmark.models import Encoder
from tasks.data.sources import data_files

REGISTRY: dict[str, type["TaskModule"]] = {}
KINDS = ("many-to-one", "many-to-many", "causal")


class TaskModule(L.LightningModule):
    name: ClassVar[str]
    kind: ClassVar[str]
    description: ClassVar[str] = ""
    Settings: ClassVar[type]

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if "name" in cls.__dict__:
            assert cls.kind in KINDS, f"{cls.__name__}.kind must be one of {KINDS}"
            REGISTRY[cls.name] = cls

    def __init__(self, settings, model: ModelConfig, train: TrainConfig, data):
        super().__init__()
        self.settings, self.model_cfg, self.train_cfg = settings, model, train
        self.build(data)
        self.losses = nn.ModuleDict({s: MeanMetric() for s in ("val", "test")})
        self.stage_metrics = nn.ModuleDict({s: self.make_metrics().clone(prefix=f"{s}/") for s in ("val", "test")})
        self.last_grad_norm = float("nan")

    # --- what a task supplies -------------------------------------------------------
    @classmethod
    def datamodule(cls, settings, train: TrainConfig, seed: int, data_dir) -> L.LightningDataModule:
        raise NotImplementedError

    @classmethod
    def data_files(cls, settings) -> dict[str, str]:
        """{setting name: path, absolute or relative to the data dir} of the local data it reads."""
        return data_files(settings)

    def build(self, data) -> None:
        """Create self.encoder (use self.make_encoder) and the task's input layer and head."""
        raise NotImplementedError

    def step(self, batch):
        """Return (loss, preds, target) for one batch."""
        raise NotImplementedError

    def make_metrics(self) -> MetricCollection:
        raise NotImplementedError

    def baselines(self, data) -> dict[str, float]:
        return {}

    def derived(self, loss: float) -> dict[str, float]:
        """Metrics computed from a stage's mean loss (bits per char, perplexity)."""
        return {}

    def batch_at(self, length: int, batch_size: int, gen: torch.Generator, device):
        """`batch_size` sequences of exactly `length`, for length generalisation: a task trained on
        lengths up to its `max_train_length` supplies it (tasks/chomsky.py)."""
        raise NotImplementedError(f"{self.name} has no length to vary")

    @torch.no_grad()
    def length_generalisation(self, lengths, per_length: int, seed: int) -> dict[int, float]:
        """{length: the task's first metric (its accuracy)} over `per_length` fresh sequences of each
        length, drawn from `seed` on the module's device; the weights as trained, in eval mode."""
        device = next(self.parameters()).device
        gen = torch.Generator(device=device).manual_seed(seed)
        metric = self.make_metrics().to(device)
        name = next(iter(metric.keys()))
        was_training = self.training
        self.eval()
        scores = {}
        for length in lengths:
            metric.reset()
            _, preds, target = self.step(self.batch_at(length, per_length, gen, device))
            metric.update(preds, target)
            scores[length] = float(metric.compute()[name])
        self.train(was_training)
        return scores

    def tokens(self, batch) -> int:
        """Time steps processed in a batch, for throughput; read from shapes, no device sync."""
        x = batch[0]
        return x.shape[0] * x.shape[1]

    # --- shared engineering ---------------------------------------------------------
    def make_encoder(self, input_size: int) -> Encoder:
        self.encoder = Encoder(input_size, self.model_cfg)
        return self.encoder

    def training_step(self, batch, batch_idx):
        loss, _, _ = self.step(batch)
        self._log_train_loss(loss)
        return loss

    def _logs_now(self) -> bool:
        """Whether Lightning hands this step's values to the loggers: every `log_every` steps,
        counted from 1. Logging on other steps would cost Lightning's per-call bookkeeping
        for nothing, and worse, the value would linger and be written at the next logging
        step under that step's number."""
        return (self.global_step + 1) % self.train_cfg.log_every == 0

    def _last_step(self) -> bool:
        return self.global_step + 1 >= self.train_cfg.max_steps

    def _log_train_loss(self, loss):
        if self._logs_now():
            self.log("train/loss", loss, on_step=True, on_epoch=False)
            if self.train_cfg.lr_decay_every:  # a schedule: its lr on the learning curve
                self.log("train/lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)
        # Checking forces a device sync, so do it only at logging points and the last step.
        if (self._logs_now() or self._last_step()) and not torch.isfinite(loss.detach()).item():
            raise NonFiniteLoss(f"training loss became {loss.item()} at step {self.global_step}; "
                                f"lower train.lr or train.grad_clip")

    def on_before_optimizer_step(self, optimizer):
        if self._logs_now() or self._last_step():
            norm = grad_norm(self, norm_type=2)["grad_2.0_norm_total"]  # before clipping
            self.last_grad_norm = float(norm)
            if self._logs_now():
                self.log("train/grad_norm", norm)

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def _eval_step(self, batch, stage):
        loss, preds, target = self.step(batch)
        self.losses[stage].update(loss)
        self.stage_metrics[stage].update(preds, target)

    def on_validation_epoch_end(self):
        self._log_stage("val")

    def on_test_epoch_end(self):
        self._log_stage("test")

    def _log_stage(self, stage):
        loss = self.losses[stage].compute()
        values = {f"{stage}/loss": loss, **self.stage_metrics[stage].compute()}
        values.update({f"{stage}/{k}": v for k, v in self.derived(float(loss)).items()})
        self.log_dict({k: torch.as_tensor(v, dtype=torch.float32) for k, v in values.items()})
        self.losses[stage].reset()
        self.stage_metrics[stage].reset()

    def configure_optimizers(self):
        # Lightning calls this after moving the module to its device, so the parameters say where it runs.
        opt = make_optimizer(list(self.parameters()), self.train_cfg)
        t = self.train_cfg
        if not t.lr_decay_every:
            return opt
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, functools.partial(lr_factor, t))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def make_optimizer(params: list, t: TrainConfig) -> torch.optim.Optimizer:
    """`train.optimizer` over `params`, updating every parameter at once (`multi_tensor`)."""
    kw = multi_tensor(params[0].device, t)
    if t.optimizer == "sgd":
        return torch.optim.SGD(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay, **kw)
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay,
                                   foreach=kw.get("foreach", True))  # RMSprop has no fused kernel
    return torch.optim.Adam(params, lr=t.lr, weight_decay=t.weight_decay, **kw)


def multi_tensor(device: torch.device, t: TrainConfig) -> dict:
    """How the optimiser steps all parameters together: `fused` on CUDA (one kernel for every
    parameter's update instead of several per tensor: Adam's update was 15% of a GPU step in the
    issue's profile), `foreach` elsewhere (one op over the list of tensors). Not fused under
    16-mixed: a fused optimiser unscales gradients itself, and Lightning refuses to clip them then."""
    if device.type == "cuda" and t.precision != "16-mixed":
        return {"fused": True}
    return {"foreach": True}


def bits(nats: float) -> float:
    return nats / math.log(2)
