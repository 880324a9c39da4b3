"""Gradient flow through time, the same quantity for every arm: ||dL/dx_{T-k}|| / ||dL/dx_T||.

Backpropagation through time multiplies one Jacobian per step,
dL/dh_{T-k} = dL/dh_T * prod_{t=T-k+1..T} dh_t/dh_{t-1} (Bengio et al. 1994; Pascanu et al. 2013),
so in a vanilla RNN the gradient behaves like lambda^k: it vanishes when the recurrent
Jacobian's norm is below 1. The LSTM's cell state is updated additively, C_t = f*C_{t-1} + i*C~_t,
so the error can flow unchanged while f stays near 1 (Hochreiter & Schmidhuber 1997's constant
error carousel). A comparison of the RNN's dL/dh with the LSTM's dL/dC compares unlike states;
here every arm is measured by what reaches its *input* k steps before the loss, whatever path
it took (through h, through C, through both): the gradient of the loss at the recall step only,
with respect to the one-hot input x_{T-k}, over its norm at x_T. On lag recall, x_{T-lag} is
the symbol to recall, so the ratio at k = lag is exactly the signal that must be learned from.

- At initialisation: every arm at its own init (lstm-chrono with T_max the largest lag), and
  the rnn, lstm and gru arms under more inits (`inits`: torch's default, uniform, forget bias
  0), on a sequence of the largest lag, the loss the cross-entropy of the recall step.
- Trained: the memory-span cells themselves (their saved weights; no second training), at lag
  k on cells of the smallest grid lag >= k. A solved model's cross-entropy is saturated, so the
  loss is the correct-class logit. Models that did not solve are kept apart and counted: the
  like-for-like comparison is between models trained to the same accuracy.
- For the LSTM arms, beside the ratio (not in its place): prod_{t=T-k+1..T} f_t, the cell
  state's own path, per unit (mean over the batch), as a distribution over units: median and
  top decile, since a few units with f near 1 carry the memory and a mean over units hides them.
- A W_hh spectral-radius sweep of the vanilla RNN at initialisation shows vanishing below
  radius 1 and growth above.

The weights run through our scratch cells one step at a time in float64 (so a vanishing
ratio is a number, not an underflow to 0), with every input a leaf that requires grad.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from benchmark.config import parse_init
from benchmark.engine.cells import build_cells
from benchmark.engine.environment import device, provenance
from benchmark.engine.runner import build_module
from benchmark.measurements import memory_span, results
from benchmark import families
from benchmark.models.scratch import from_torch_state
from tasks.data.synthetic import VOCAB, make_copy_batch

NAME = "gradient_flow"
BASE_ARMS = ("rnn", "lstm", "gru")  # the arms measured under the other inits too
UNITS = {"ratio": "‖∂L/∂x(T−k)‖ / ‖∂L/∂x(T)‖ (dimensionless): the gradient reaching the input k steps "
         "before the recall step, over the gradient at it", "lag": "time steps k",
         "forget": "prod of the LSTM forget gate over the k steps, per unit (mean over the batch): median and "
         "90th percentile over units", "test_acc": "the trained cell's lag-recall test accuracy (fraction)"}


def input_gradient_ratios(step: Callable, xs: list, loss_fn: Callable) -> list[float]:
    """Run `state = step(x_t, state)` over the leaves `xs`, backprop `loss_fn(final state)`;
    the ratios ||dL/dx_{T-k}|| / ||dL/dx_T|| for k = 0..T-1 (norms over the whole batch)."""
    state = None
    for x in xs:
        state = step(x, state)
    grads = torch.autograd.grad(loss_fn(state), xs, allow_unused=True)
    norms = [0.0 if g is None else float(g.norm()) for g in grads][::-1]  # k = 0 first
    return [n / norms[0] if norms[0] > 0 else math.nan for n in norms]


def cell_step(rnn, family: str, batch: int, forget: list | None = None):
    """One float64 step of the family's own cell (benchmark/families/) with `rnn`'s layer-0
    weights (detached: the graph holds the inputs and states only). With `forget` (a list), a
    family with a forget gate (the LSTM) appends its f_t, batch x units."""
    spec = families.get(family)
    weights = from_torch_state({k: v.detach().double() for k, v in rnn.named_parameters()}, family)
    w_ih, b_ih = weights["weight_ih_l0"], weights["bias_ih_l0"]
    w_hh, b_hh = weights.get("weight_hh_l0"), weights.get("bias_hh_l0")
    hidden = w_ih.shape[0] // spec.blocks

    def step(x, state):
        if state is None:
            state = tuple(x.new_zeros(batch, hidden) for _ in spec.state)
        xw = F.linear(x, w_ih, b_ih)
        if forget is not None and spec.forget is not None:
            with torch.no_grad():
                forget.append(spec.forget(xw, state, w_hh, b_hh))
        return spec.cell(xw, state, w_hh, b_hh)
    return step


def forget_spread(gates: list, k: int) -> dict | None:
    """prod f over the last k steps (the steps that carry C_{T-k} to C_T), per unit as the mean
    over the batch: {"median", "p90", "max"} over units."""
    if k < 1 or len(gates) < k:
        return None
    prod = torch.stack(gates[len(gates) - k:]).double().prod(0).mean(0)  # units
    q = torch.quantile(prod, torch.tensor([0.5, 0.9], dtype=prod.dtype))
    return {"median": float(q[0]), "p90": float(q[1]), "max": float(prod.max())}


def recall_ratios(module, lag: int, batch: int, seed: int, loss: str = "ce", forget_at=()) -> dict:
    """{"ratios": k = 0..lag, "forget": {k: spread}} of a copy-task module on fresh one-symbol
    recall sequences whose symbol is held `lag` steps. loss "ce": the recall step's
    cross-entropy; "logit": its correct-class logit (for trained models, whose CE is saturated)."""
    dev = next(module.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    x, y = make_copy_batch(batch, lag - 1, gen, dev, symbols=1)
    xs = [t.requires_grad_() for t in F.one_hot(x, VOCAB).double().unbind(1)]
    family = module.model_cfg.family
    head = module.head.double()  # float64 like the cell steps; put back to float32 below
    gates = []

    def loss_fn(final):
        logits = head(final[0])
        target = y[:, -1]
        return F.cross_entropy(logits, target) if loss == "ce" else logits.gather(1, target[:, None]).sum()

    with torch.enable_grad():
        ratios = input_gradient_ratios(cell_step(module.encoder.rnn, family, batch, gates), xs, loss_fn)
    module.head.float()
    out = {"ratios": ratios[:lag + 1]}
    if families.get(family).forget is not None:
        out["forget"] = {str(k): forget_spread(gates, k) for k in forget_at}
    return out


def initial_module(cell):
    """The cell's module as its training would start."""
    _, module = build_module(cell)
    return module.to(device()).eval()


def trained_module(cell, weights: Path):
    """The cell's module with its trained weights (a state dict of tensors, read weights-only)."""
    module = initial_module(cell)
    module.load_state_dict(torch.load(weights, map_location=device(), weights_only=True))
    return module.eval()


def alternatives(settings: dict) -> list[tuple[str, str, dict]]:
    """(init label, arm, model settings) of the extra inits on the base arms they apply to."""
    out = []
    for label, model in settings["inits"].items():
        kind = parse_init(model.get("init", "orthogonal"))[0]
        for arm in BASE_ARMS:
            family = settings["arms"].get(arm, {}).get("family")
            spec = families.get(family) if family else None
            # an init applies where the family supports it; a forget bias where it has a forget gate
            if spec and kind in spec.inits and ("forget_bias" not in model or spec.init_biases is not None):
                out.append((label, arm, model))
    return out


def recall_cell(arm: memory_span.Arm, settings, profile, lag, seed, model=None):
    """The lag-recall cell of an arm at gradient flow's hidden size (under another init: `model`)."""
    overrides = {"copy": {"delay": lag - 1, "symbols": 1}, "model": {**arm.model(lag), **(model or {})},
                 "train": {"batch_size": settings["batch"], "max_steps": 1}}
    (cell,) = build_cells(["copy"], [arm.family], ["cudnn"], [seed], memory_span.run_profile(profile), overrides)
    return cell


def _arms(settings: dict) -> dict:
    return {a.name: a for a in memory_span.arms({"hidden": settings["hidden"], "arms": settings["arms"]})}


def at_init(settings: dict, profile: str) -> tuple[list[dict], list[dict]]:
    """Rows (ratio at each lag, forget spread) and curves (every k) at initialisation."""
    rows, curves = [], []
    top, lags, batch = max(settings["lags"]), settings["lags"], settings["batch"]
    arms = _arms(settings)
    runs = [("own", name, None) for name in arms] + alternatives(settings)
    for init, name, model in runs:
        arm = arms[name]
        for seed in settings["seeds"]:
            module = initial_module(recall_cell(arm, settings, profile, top, seed, model))
            got = recall_ratios(module, top, batch, seed, "ce", forget_at=lags)
            rows.append({"stage": "init", "init": init, "arm": name, "family": arm.family, "seed": seed,
                         "ratio_at": {str(k): got["ratios"][k] for k in lags}, "forget_at": got.get("forget")})
            curves.append({"stage": "init", "init": init, "arm": name, "seed": seed, "ratios": got["ratios"]})
        _say(rows, init, name)
    return rows, curves


def trained(settings: dict, memory: dict, memory_folder: Path, profile: str) -> tuple[list[dict], list[dict]]:
    """Rows of the memory-span cells' trained models at each lag k (cells of the smallest grid lag >= k)."""
    rows, curves = [], []
    msettings = memory["settings"]
    grid = sorted({r["lag"] for r in memory["rows"] if r["kind"] == "grid" and r["task"] == "recall"})
    arms = {a.name: a for a in memory_span.arms(msettings, "recall")}
    for k in settings["lags"]:
        lag = next((g for g in grid if g >= k), None)
        if lag is None:
            continue
        for r in memory["rows"]:
            if r["kind"] != "grid" or r["task"] != "recall" or r["lag"] != lag or not r.get("weights"):
                continue
            p = memory_span.plan("grid", "recall", arms[r["arm"]], lag, r["seed"], r["lr"], r["cap"], msettings, profile)
            if p.cell.key != r["key"]:
                raise RuntimeError(f"gradient flow: memory cell {r['key']} no longer builds under this version "
                                   f"(it builds {p.cell.key}); run the memory span again")
            module = trained_module(p.cell, memory_folder / "cells" / r["weights"])
            got = recall_ratios(module, lag, settings["batch"], r["seed"], "logit", forget_at=[k])
            rows.append({"stage": "trained", "init": "own", "arm": r["arm"], "family": r["family"], "seed": r["seed"],
                         "k": k, "lag": lag, "ratio": got["ratios"][k], "solved": r["solved"], "test_acc": r["value"],
                         "forget": (got.get("forget") or {}).get(str(k))})
            if k == lag:
                curves.append({"stage": "trained", "init": "own", "arm": r["arm"], "seed": r["seed"],
                               "solved": r["solved"], "lag": lag, "ratios": got["ratios"]})
    return rows, curves


def spectral_sweep(settings: dict, profile: str) -> list[dict]:
    """Vanilla RNN at initialisation with W_hh = rho * (orthogonal): spectral radius exactly rho."""
    rows, top = [], max(settings["lags"])
    arm = _arms(settings)["rnn"]
    for seed in settings["seeds"]:
        cell = recall_cell(arm, settings, profile, top, seed)
        for rho in settings["radii"]:
            module = initial_module(cell)
            with torch.no_grad():
                module.encoder.rnn.weight_hh_l0.mul_(rho)
            ratios = recall_ratios(module, top, settings["batch"], seed)["ratios"]
            rows.append({"radius": rho, "seed": seed, "ratio_at": {str(k): ratios[k] for k in settings["lags"]},
                         "max_lag": top, "ratio_at_max_lag": ratios[-1]})
    return rows


def run(settings: dict, out_dir, profile: str) -> dict:
    rows, curves = at_init(settings, profile)
    memory_folder = Path(out_dir).parent / memory_span.NAME
    memory = results.read(memory_folder, memory_span.NAME)
    if memory is None:
        print(f"gradient-flow: no memory-span result in {memory_folder}: trained models not measured "
              f"(run `measure memory-span` with the same --out first, or `reproduce rnn-vs-lstm`)")
    else:
        more, more_curves = trained(settings, memory, memory_folder, profile)
        rows += more
        curves += more_curves
        for arm in dict.fromkeys(r["arm"] for r in more):
            mine = [r for r in more if r["arm"] == arm]
            print(f"gradient-flow: {arm} trained: " + "; ".join(
                f"k={k}: {sum(r['solved'] for r in mine if r['k'] == k)} solved models" for k in settings["lags"]
                if any(r["k"] == k for r in mine)))
    return {"name": NAME, "profile": profile, "settings": settings, "units": UNITS, "rows": rows, "curves": curves,
            "spectral_sweep": spectral_sweep(settings, profile), "inputs": inputs(out_dir),
            **provenance(device(), settings["seed"])}


def inputs(out_dir) -> dict | None:
    """Which memory-span result the trained models come from: when it changes, a finished
    gradient-flow result is measured again rather than reused."""
    memory = results.read(Path(out_dir).parent / memory_span.NAME, memory_span.NAME)
    return None if memory is None else {"memory_span": memory.get("date"), "cells": len(memory["rows"])}


def _say(rows, init, arm) -> None:
    mine = [r for r in rows if r["init"] == init and r["arm"] == arm]
    lag = max(int(k) for k in mine[0]["ratio_at"])
    values = [r["ratio_at"][str(lag)] for r in mine]
    geo = math.exp(statistics.fmean(math.log(v) for v in values)) if all(v > 0 for v in values) else math.nan
    print(f"gradient-flow: {arm} at init ({init}): ratio at lag {lag}: geometric mean {geo:.2g} over {len(values)} seeds")
