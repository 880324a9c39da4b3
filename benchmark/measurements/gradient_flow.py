"""Gradient flow through time: ||dL/ds_{T-k}|| / ||dL/ds_T|| at fixed lags k, over seeds and initialisations.

Backpropagation through time multiplies one Jacobian per step,
dL/dh_{T-k} = dL/dh_T * prod_{t=T-k+1..T} dh_t/dh_{t-1} (Bengio et al. 1994; Pascanu et al. 2013),
so in a vanilla RNN the ratio behaves like lambda^k: it vanishes when the recurrent Jacobian's
norm is below 1 and explodes above. The LSTM's cell state is updated additively,
C_t = f*C_{t-1} + i*C~_t, so the direct path dC_t/dC_{t-1} is the forget gate f and the error can
flow unchanged while f stays near 1 (Hochreiter & Schmidhuber 1997's constant error carousel).
We report both: `c` is the total derivative dL/dC (the highway plus the paths through h) and
`forget` the highway alone, prod_{t=T-k+1..T} f_t (mean over batch and units).

How fast the RNN's ratio decays depends on its recurrent weights, so the initialisation is a
factor (`inits`, benchmark/models/init.py): orthogonal W_hh starts with singular values 1,
torch's default uniform init with a spectral radius near 0.58, and the LSTM's forget bias
(0, 1, or chrono) sets where prod f starts. Every init is measured at initialisation (cheap),
over seeds; a W_hh spectral-radius sweep shows vanishing below radius 1 and growth above.

The models are lag-recall cells (the copy task with one symbol) built and trained exactly as
matrix cells are (`benchmark.engine`): "init" is the cell's module before its first step,
"trained" the module its cell run fitted at lag `train_lag`, judged only at lags up to that
one and recorded with its test accuracy (did it learn?). The trained weights are saved, so a
re-run reuses them. We run the model's weights through our scratch cells one step at a time
(`cell_step`), keep every state with retain_grad, and backpropagate a loss on the final step
only (the recalled symbol), so every gradient reaching s_{T-k} has come through the recurrence.
Norms are over the whole batch.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from benchmark.config import parse_init
from benchmark.engine.cells import Cell, build_cells
from benchmark.engine.environment import device, provenance
from benchmark.engine.runner import build_module, fit_cell
from benchmark.engine.store import ResultsStore
from benchmark.measurements.memory_span import reached, run_profile
from benchmark.models.scratch import CELLS, from_torch_state
from tasks.data.synthetic import VOCAB, make_copy_batch

NAME = "gradient_flow"
VANISHED = 1e-2
UNITS = {"ratio": "‖∂L/∂s(T−k)‖ / ‖∂L/∂s(T)‖ (dimensionless); s = h, the LSTM's C (`c`), or prod f (`forget`)",
         "lag": "time steps k", "test_recall_acc": "the trained cell's lag-recall accuracy (test set, fraction)"}
SOLVED = "recall_acc>=0.99"


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


def cell_step(rnn, family: str, batch: int, forget: list | None = None):
    """One step of our scratch cell (benchmark.models.scratch) with `rnn`'s layer-0 weights.

    The scratch cell returns the very C_t that produced h_t = o*tanh(C_t); a fused torch
    kernel returns h_n and c_n as separate outputs, so a loss on h_n gives c_n no gradient.
    Weights are detached and the zero initial state requires grad, so the graph holds the
    states only. With `forget` (a list), an LSTM step appends its forget gate f_t, batch x units."""
    weights = from_torch_state({k: v.detach() for k, v in rnn.named_parameters()}, family)
    w_ih, b_ih = weights["weight_ih_l0"], weights["bias_ih_l0"]
    w_hh, b_hh = weights["weight_hh_l0"], weights["bias_hh_l0"]
    cell = CELLS[family]

    def step(x, state):
        if state is None:
            zeros = x.new_zeros(batch, w_hh.shape[1], requires_grad=True)
            state = (zeros, zeros.clone()) if family == "lstm" else (zeros,)
        xw = F.linear(x, w_ih, b_ih)
        if forget is not None and family == "lstm":
            with torch.no_grad():  # gate order (i, f, g, o), as in scratch.lstm_cell
                forget.append(torch.sigmoid((xw + F.linear(state[0], w_hh, b_hh)).chunk(4, 1)[1]))
        return cell(xw, state, w_hh, b_hh)
    return step


def forget_products(gates: list) -> list[float]:
    """prod_{t=T-k+1..T} f_t for k = 0..T (mean over batch and units): the cell state's own path."""
    out, running = [1.0], torch.ones_like(gates[-1], dtype=torch.float64)
    for f in reversed(gates[1:]):  # the step that reads C_{T-k} multiplies by its f
        running = running * f.double()
        out.append(float(running.mean()))
    return out


def recall_ratios(module, lag: int, batch: int, seed: int) -> dict[str, list[float]]:
    """Ratios k = 0..lag of a copy-task module on a fresh one-symbol recall sequence whose
    symbol is held `lag` steps (delay lag - 1); the loss is on the recalled symbol."""
    dev = next(module.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    x, y = make_copy_batch(batch, lag - 1, gen, dev, symbols=1)
    xs = F.one_hot(x, VOCAB).float().unbind(1)
    family = module.model_cfg.family
    names = ("h", "c") if family == "lstm" else ("h",)
    gates = []

    def loss(final):  # the recalled symbol, read from the final hidden state
        return F.cross_entropy(module.head(final[0]), y[:, -1])

    with torch.enable_grad():
        ratios = state_gradient_ratios(cell_step(module.encoder.rnn, family, batch, gates), None, xs, loss, names)
    out = {name: r[:lag + 1] for name, r in ratios.items()}
    if family == "lstm":
        out["forget"] = forget_products(gates)[:lag + 1]
    return out


def recall_cell(family: str, settings: dict, profile: str, lag: int, seed: int, model: dict | None = None,
                stop: bool = False) -> Cell:
    """The one-layer lag-recall cell whose model is measured, built like every matrix cell
    (the measurement reads layer 0)."""
    train = {**settings["train"], **({"stop_at": SOLVED} if stop else {})}
    overrides = {"copy": {"delay": lag - 1, "symbols": 1},
                 "model": {"hidden": settings["hidden"], "num_layers": 1, **(model or {})}, "train": train}
    (cell,) = build_cells(["copy"], [family], ["cudnn"], [seed], run_profile(profile), overrides)
    return cell


def initial_module(cell: Cell):
    """The cell's module as its training would start."""
    _, module = build_module(cell)
    return module.to(device()).eval()


def trained_module(cell: Cell, folder) -> tuple[object, dict]:
    """(the module after the cell's training, its record): trained by the matrix's cell runner
    (same Trainer, callbacks and precision), its record kept in <folder>/results.jsonl and its
    weights in <folder>/models/, so a second run reuses both."""
    folder = Path(folder)
    weights = folder / "models" / f"{cell.key.replace('/', '-')}.pt"
    record = ResultsStore(folder).latest().get(cell.key)
    if record and record["status"] == "ok" and weights.exists():
        module = initial_module(cell)
        module.load_state_dict(torch.load(weights, map_location=device()))
        return module.eval(), record
    run = fit_cell(cell, folder)
    ResultsStore(folder).append(run.record)
    if run.record["status"] != "ok":
        raise RuntimeError(f"gradient flow: training {cell.name} {run.record['status']}: "
                           f"{run.record.get('error') or run.record.get('reason')}")
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(run.module.state_dict(), weights)
    return run.module.to(device()).eval(), run.record


def applies(family: str, model: dict) -> bool:
    """LSTM-only settings (a forget bias, chrono) are not measured on the other families."""
    lstm_only = "forget_bias" in model or parse_init(model.get("init", "orthogonal"))[0] == "chrono"
    return family == "lstm" or not lstm_only


def _row(stage, init, family, seed, state, ratios, lags) -> dict:
    return {"stage": stage, "init": init, "family": family, "seed": seed, "state": state,
            "ratio_at": {str(k): ratios[k] for k in lags if k < len(ratios)}}


def spectral_sweep(settings: dict, profile: str) -> list[dict]:
    """Vanilla RNN at initialisation with W_hh = rho * (orthogonal): spectral radius exactly rho."""
    rows, top = [], max(settings["lags"])
    for seed in settings["seeds"]:
        cell = recall_cell("rnn", settings, profile, top, seed)
        for rho in settings["radii"]:
            module = initial_module(cell)
            with torch.no_grad():
                module.encoder.rnn.weight_hh_l0.mul_(rho)
            ratios = recall_ratios(module, top, settings["batch"], seed)["h"]
            rows.append({"radius": rho, "seed": seed, "ratio_at": {str(k): ratios[k] for k in settings["lags"]},
                         "max_lag": top, "ratio_at_max_lag": ratios[-1]})
    return rows


def run(settings: dict, out_dir, profile: str) -> dict:
    rows, curves = [], []
    lags, top, batch = settings["lags"], max(settings["lags"]), settings["batch"]
    for init, model in settings["inits"].items():  # at initialisation: every init, every seed
        for family in settings["models"]:
            if not applies(family, model):
                continue
            for seed in settings["seeds"]:
                module = initial_module(recall_cell(family, settings, profile, top, seed, model))
                for state, ratios in recall_ratios(module, top, batch, seed).items():
                    rows.append(_row("init", init, family, seed, state, ratios, lags))
                    curves.append({"stage": "init", "init": init, "family": family, "seed": seed, "state": state,
                                   "ratios": ratios})
            _say(rows, "init", init, family)
    train_lag = settings["train_lag"]
    default = next(iter(settings["inits"]))
    for family in settings["models"]:  # trained at train_lag with the default init, judged at lags <= it
        for seed in settings["seeds"]:
            cell = recall_cell(family, settings, profile, train_lag, seed, settings["inits"][default], stop=True)
            module, record = trained_module(cell, Path(out_dir) / "cells")
            acc = record["metrics"].get("test/recall_acc")
            for state, ratios in recall_ratios(module, train_lag, batch, seed).items():
                rows.append({**_row("trained", default, family, seed, state, ratios, [k for k in lags if k <= train_lag]),
                             "train_lag": train_lag, "test_recall_acc": acc, "solved": reached(acc, SOLVED),
                             "train_steps": record.get("train_steps"), "curve": record.get("curve")})
                curves.append({"stage": "trained", "init": default, "family": family, "seed": seed, "state": state,
                               "ratios": ratios})
        _say(rows, "trained", default, family)
    return {"name": NAME, "profile": profile, "settings": settings, "units": UNITS, "rows": rows, "curves": curves,
            "spectral_sweep": spectral_sweep(settings, profile),
            "cells_store": str(Path(out_dir) / "cells" / "results.jsonl"), **provenance(device(), settings["seed"])}


def _say(rows, stage, init, family) -> None:
    mine = [r for r in rows if r["stage"] == stage and r["init"] == init and r["family"] == family]
    parts = []
    for state in dict.fromkeys(r["state"] for r in mine):
        at = [r["ratio_at"] for r in mine if r["state"] == state]
        lag = max(int(k) for k in at[0])
        parts.append(f"d{state} at lag {lag}: " + ", ".join(f"{a[str(lag)]:.2g}" for a in at))
    extra = ""
    if stage == "trained":
        accs = [r["test_recall_acc"] for r in mine if r["state"] == "h"]
        extra = " (recall acc " + ", ".join(f"{a:.3f}" if a is not None else "n/a" for a in accs) + ")"
    print(f"gradient-flow: {family} {stage} ({init}){extra}: " + "; ".join(parts))


