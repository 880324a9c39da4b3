"""Gradient flow through time: ||dL/dh_{T-k}|| / ||dL/dh_T|| for k = 0..K (and the LSTM's cell state C).

Backpropagation through time multiplies one Jacobian per step,
dL/dh_{T-k} = dL/dh_T * prod_{t=T-k+1..T} dh_t/dh_{t-1} (Bengio et al. 1994; Pascanu et al. 2013),
so in a vanilla RNN the ratio behaves like lambda^k: it vanishes when the recurrent Jacobian's
norm is below 1 and explodes above. The LSTM's cell state is updated additively,
C_t = f*C_{t-1} + i*C~_t, so dC_t/dC_{t-1} = f (plus the paths through h) and the error can
flow unchanged while the forget gate stays near 1 (Hochreiter & Schmidhuber 1997's constant
error carousel).

We run the model's weights through our scratch cells one step at a time (`cell_step`), keep
every state with retain_grad, and backpropagate a
loss on the final step only (the copy task's last recalled symbol), so every gradient reaching
h_{T-k} has come through the recurrence. Norms are over the whole batch.
"""
from __future__ import annotations

import math
import statistics
from typing import Callable

import torch
import torch.nn.functional as F

from benchmark.measurements import records
from benchmark.models.scratch import CELLS, from_torch_state

NAME = "gradient_flow"
THRESHOLDS = (1e-2, 1e-4)
UNITS = {"ratio": "||dL/ds_{T-k}|| / ||dL/ds_T|| (dimensionless)", "lag": "time steps",
         "decay_per_step": "fitted factor per step (log-linear fit)"}


def state_gradient_ratios(step: Callable, state, xs, loss_fn: Callable, names=("h",)) -> dict[str, list[float]]:
    """Run `state = step(x_t, state)` over xs, backprop `loss_fn(final state)`; per state component,
    the ratios ||dL/ds_{T-k}|| / ||dL/ds_T|| for k = 0..T-1 (0 where no gradient arrives)."""
    kept = []
    for x in xs:
        state = step(x, state)
        for s in state:
            s.retain_grad()
        kept.append(state)
    loss_fn(state).backward()
    out = {}
    for i, name in enumerate(names):
        norms = [_norm(kept[-1 - k][i].grad) for k in range(len(kept))]
        out[name] = [n / norms[0] if norms[0] > 0 else math.nan for n in norms]
    return out


def _norm(grad) -> float:
    return 0.0 if grad is None else float(grad.double().norm())


def summarise(ratios: list[float]) -> dict:
    """Per-step decay factor from a least-squares line through log10(ratio) vs lag, and the lags
    from which the ratio stays below 1e-2 and 1e-4 (`lag_staying_below`)."""
    points = [(k, math.log10(r)) for k, r in enumerate(ratios) if k > 0 and r > 0 and math.isfinite(r)]
    decay = None
    if len(points) >= 2:
        slope = statistics.linear_regression([k for k, _ in points], [v for _, v in points]).slope
        decay = 10 ** slope
    below = {f"lag_below_{t:g}": lag_staying_below(ratios, t) for t in THRESHOLDS}
    return {"decay_per_step": decay, **below, "max_lag": len(ratios) - 1, "ratio_at_max_lag": ratios[-1]}


def lag_staying_below(ratios: list[float], threshold: float) -> int | None:
    """First lag from which the ratio stays below `threshold` for every measured lag after it;
    None if it is not below at the last lag. (A ratio can dip and recover: the input at that
    step saturates the cell for a while, so the first crossing alone would overstate the loss.)"""
    lag = None
    for k in range(len(ratios) - 1, -1, -1):
        if not ratios[k] < threshold:
            break
        lag = k
    return lag


def cell_step(rnn, family: str, batch: int):
    """One step of our scratch cell (benchmark.models.scratch) with `rnn`'s layer-0 weights.

    The scratch cell returns the very C_t that produced h_t = o*tanh(C_t); a fused torch
    kernel returns h_n and c_n as separate outputs, so a loss on h_n gives c_n no gradient.
    Weights are detached and the zero initial state requires grad, so the graph holds the
    states only."""
    weights = from_torch_state({k: v.detach() for k, v in rnn.named_parameters()}, family)
    w_ih, b_ih = weights["weight_ih_l0"], weights["bias_ih_l0"]
    w_hh, b_hh = weights["weight_hh_l0"], weights["bias_hh_l0"]
    cell = CELLS[family]

    def step(x, state):
        if state is None:
            zeros = x.new_zeros(batch, w_hh.shape[1], requires_grad=True)
            state = (zeros, zeros.clone()) if family == "lstm" else (zeros,)
        return cell(F.linear(x, w_ih, b_ih), state, w_hh, b_hh)
    return step


def copy_ratios(module, lags: int, batch: int, seed: int) -> dict[str, list[float]]:
    """Gradient ratios of a CopyTask module on a fresh copy sequence at least lags+1 long."""
    from tasks.data.synthetic import VOCAB, make_copy_batch
    device = next(module.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    x, y = make_copy_batch(batch, lags, gen, device)
    xs = F.one_hot(x, VOCAB).float().unbind(1)
    family = module.model_cfg.family
    names = ("h", "c") if family == "lstm" else ("h",)

    def loss(final):  # the last recalled symbol, read from the final hidden state
        return F.cross_entropy(module.head(final[0]), y[:, -1])

    with torch.enable_grad():
        ratios = state_gradient_ratios(cell_step(module.encoder.rnn, family, batch), None, xs, loss, names)
    return {name: r[:lags + 1] for name, r in ratios.items()}  # k = 0..K


def copy_module(family: str, hidden: int, delay: int, train_cfg: dict | None, seed: int):
    """A CopyTask module at initialisation, or trained with Lightning when train_cfg is given.

    The matrix keeps no weights, so the trained model is fitted here through the same task
    module and Trainer a matrix cell uses."""
    import lightning as L

    from benchmark import config
    from benchmark.config import TrainConfig
    from benchmark.config import ModelConfig
    from benchmark.runner import quiet_lightning
    from tasks.copy import CopySettings, CopyTask

    L.seed_everything(seed, verbose=False)
    train = config.build(TrainConfig, train_cfg or {}, "gradient_flow.train")
    settings = CopySettings(delay=delay)
    data = CopyTask.datamodule(settings, train, seed, None)
    module = CopyTask(settings, ModelConfig(variant=family, backend="cudnn", hidden=hidden), train, data)
    if train_cfg:
        quiet_lightning()
        trainer = L.Trainer(accelerator="auto", devices=1, max_steps=train.max_steps, gradient_clip_val=train.grad_clip,
                            limit_val_batches=0, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(module, datamodule=data)
    return module.to(records.device()).eval()


def spectral_sweep(settings: dict) -> list[dict]:
    """Vanilla RNN at initialisation with W_hh = rho * (orthogonal): spectral radius exactly rho."""
    rows = []
    for rho in settings["radii"]:
        module = copy_module("rnn", settings["hidden"], settings["train_delay"], None, settings["seed"])
        with torch.no_grad():
            module.encoder.rnn.weight_hh_l0.mul_(rho)
        ratios = copy_ratios(module, settings["lags"], settings["batch"], settings["seed"])["h"]
        rows.append({"radius": rho, "ratios": ratios, **summarise(ratios)})
        print(f"gradient-flow: rnn W_hh radius {rho:g}: decay/step {rows[-1]['decay_per_step']:.3g}, "
              f"ratio at lag {len(ratios) - 1} {ratios[-1]:.3g}")
    return rows


def run(settings: dict, out_dir, profile: str) -> dict:
    curves, rows = [], []
    for family in settings["models"]:
        for stage, train_cfg in (("init", None), ("trained", settings["train"])):
            module = copy_module(family, settings["hidden"], settings["train_delay"], train_cfg, settings["seed"])
            for state, ratios in copy_ratios(module, settings["lags"], settings["batch"], settings["seed"]).items():
                summary = summarise(ratios)
                curves.append({"family": family, "stage": stage, "state": state, "ratios": ratios})
                rows.append({"family": family, "stage": stage, "state": state, **summary,
                             f"ratio_at_{settings['problem_lag']}": ratios[min(settings["problem_lag"], len(ratios) - 1)]})
                print(f"gradient-flow: {family} {stage} d{state}: decay/step {summary['decay_per_step'] or math.nan:.3g}, "
                      f"below 1e-2 at lag {summary['lag_below_0.01']}")
    sweep = spectral_sweep(settings)
    return {"name": NAME, "profile": profile, "settings": settings, "units": UNITS, "rows": rows,
            "curves": curves, "spectral_sweep": sweep, **records.provenance(records.device(), settings["seed"])}


def plot(result: dict, folder) -> list:
    from benchmark.reports import plots
    return [plots.gradient_flow(result, folder / "gradient_flow.png"),
            plots.spectral_sweep(result, folder / "spectral_radius.png")]
