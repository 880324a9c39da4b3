"""What a model family is: one `Family` spec, and the lazy torch its cells use.

A family module (benchmark/families/lstm.py, or a plug-in's) defines its cell functions and
one `FAMILY = Family(...)`. Its top level must not import torch: `list`, `--help`, argument
errors and tables read the spec's metadata (name, state, parameter formula, colour) without
loading torch. The cells use `torch` and `F` from here, proxies that import torch on first
use, i.e. when something trains.

The stack that runs a cell (benchmark/models/scratch.py) keeps torch's parameter names and
shapes: per layer and direction `weight_ih` (G*h, x) and `bias_ih` (G*h), and, for a family
with a recurrent matrix, `weight_hh` (G*h, h) and `bias_hh` (G*h), G being `blocks`. A cell
gets `xw = W_ih x_t + b_ih` for its step (computed for all steps at once) and the state tuple;
a scan gets xw for every step and computes all the states in parallel over time. A family
whose recurrent weights are not torch's matrix and bias (IndRNN's vector u, one weight per
unit) states their shapes (`recurrent_shapes`); they keep the names weight_hh and bias_hh.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

INIT_KINDS = ("orthogonal", "pytorch", "uniform", "chrono")


class _Lazy:
    """A module imported on first attribute access; the attribute is then cached on the proxy."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        value = getattr(importlib.import_module(self._name), attr)
        setattr(self, attr, value)  # later lookups skip __getattr__
        return value


torch = _Lazy("torch")
F = _Lazy("torch.nn.functional")


@dataclass(frozen=True)
class Family:
    """One recurrent family. Only `name`, `blocks` and `cell` are required.

    - `state`: the names of the state tensors a step carries, h first (the output).
    - `blocks`: G, the gate blocks of the input matrix (rnn 1, lstm 4, gru 3).
    - `recurrent`: whether the gates read h_{t-1} through a matrix W_hh (minGRU and minLSTM do not).
    - `cell(xw, state, w_hh, b_hh) -> state`: one step; w_hh and b_hh are None when not recurrent.
    - `scan(xw, state) -> per-step states`: all T steps at once, each state part (B, T, H);
      None where the family has no parallel form.
    - `fused`: the torch.nn class of its fused kernel ("LSTM": cuDNN on a GPU, oneDNN on a CPU),
      None where torch has none; `--backend cudnn` then runs the fastest of ours (the scan).
    - `from_fused(state_dict) -> state_dict`: the fused module's weights in our cell's convention.
    - `inits`: the `model.init` policies it supports (benchmark/models/init.py).
    - `init_biases(bias_ih, kind, value, forget_bias)`: sets its special biases (the LSTM's forget
      gate) after the orthogonal policy zeroed them; None: all zero.
    - `forget(xw, state, w_hh, b_hh) -> f_t`: its forget gate, for the gradient-flow measurement.
    - `params(x, h)`: parameters of one layer and direction, the closed form tables quote.
    - `recurrent_shapes(h) -> {"weight_hh": shape, "bias_hh": shape}`: a recurrent family's own
      recurrent parameters where they are not torch's (G*h, h) matrix and (G*h) bias, e.g.
      IndRNN's {"weight_hh": (h,)}; a name left out is not registered (the cell gets None). Such a
      family states `params` and `formula`, and `init_recurrent` if its weight_hh is not a matrix.
    - `init_recurrent(weight_hh, kind, value)`: sets weight_hh under the orthogonal policy in place
      of an orthogonal matrix per block; `pytorch` and `uniform:A` draw it as every other weight.
    """

    name: str
    blocks: int
    cell: Callable
    title: str = ""
    state: tuple = ("h",)
    recurrent: bool = True
    scan: Callable | None = None
    fused: str | None = None
    from_fused: Callable | None = None
    inits: tuple = ("orthogonal", "pytorch", "uniform")
    init_biases: Callable | None = None
    forget: Callable | None = None
    colour: str = ""
    description: str = ""
    formula: str = ""        # the closed form as tables print it
    params: Callable | None = None
    recurrent_shapes: Callable | None = None
    init_recurrent: Callable | None = None
    source: str = field(default="", compare=False)  # where it was registered from (module or entry point)

    def __post_init__(self):
        bad = [k for k in self.inits if k not in INIT_KINDS]
        if bad or not self.name.isidentifier() or self.name != self.name.lower() or self.blocks < 1:
            raise ValueError(f"family {self.name!r}: needs a lower-case identifier name, blocks >= 1 and inits "
                             f"from {INIT_KINDS} (got blocks={self.blocks}, inits={self.inits})")
        if self.recurrent_shapes is not None and not (self.recurrent and self.params and self.formula):
            raise ValueError(f"family {self.name!r}: recurrent_shapes needs recurrent=True, and params= and formula= "
                             f"(the default count assumes torch's recurrent matrix)")

    def layer_params(self, x: int, h: int) -> int:
        """Parameters of one layer and direction with input size x and hidden size h."""
        if self.params is not None:
            return self.params(x, h)
        recurrent = self.blocks * (h * h + h) if self.recurrent else 0
        return self.blocks * (h * x + h) + recurrent

    def closed_form(self) -> str:
        if self.formula:
            return self.formula
        g = self.blocks
        return f"{g}(h(h+x)+2h)" if self.recurrent else f"{g}(hx+h)"

    def forward_flops(self, x: int, h: int) -> int:
        """Matmul FLOPs of one token's forward step (a multiply-add is 2; gate arithmetic is O(h))."""
        matrix = self.recurrent and self.recurrent_shapes is None  # IndRNN's u * h is O(h)
        return 2 * self.blocks * h * (x + h if matrix else x)

    def implementation(self, backend: str) -> str:
        """What a backend runs for this family: fused (torch's kernel), scan or step (ours)."""
        if backend == "cudnn" and self.fused:
            return "fused"
        return "scan" if self.scan is not None else "step"


def positive(x):
    """Feng et al. 2024's g: x + 0.5 for x >= 0, sigmoid(x) below; positive and continuous, so the
    candidate h~ can enter the log-space scan."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_positive(x):
    """log g(x), computed without forming g(x) where it is tiny."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def linear_scan(log_a, log_b, h0, chunk: int = 64):
    """h_t = a_t * h_{t-1} + b_t for t = 1..T in parallel, a_t, b_t > 0 given as logs (B, T, H).

    Heinsen 2023's log-space scan: with A_t = sum_{s<=t} log a_s,
    h_t = exp(A_t) * h0 + exp(A_t + logcumsumexp_{s<=t}(log b_s - A_s)). The h0 term stays
    linear, so a carried state of any sign (or zero) needs no log. Over `chunk` steps at a time,
    each chunk starting from the last state of the one before: A_t grows with t, and in float32
    its rounding (|A_t| * 6e-8) would reach 1e-4 of the gradients by T = 512; within a chunk it
    stays small, and T / chunk sequential joins cost little."""
    dtype = log_a.dtype
    if dtype in (torch.float16, torch.bfloat16):  # under autocast: 8 or 11 bits of mantissa cannot hold A_t
        log_a, log_b, h0 = log_a.float(), log_b.float(), h0.float()
    outs = []
    for a, b in zip(log_a.split(chunk, dim=1), log_b.split(chunk, dim=1)):
        a_star = torch.cumsum(a, dim=1)
        outs.append(torch.exp(a_star) * h0.unsqueeze(1) + torch.exp(a_star + torch.logcumsumexp(b - a_star, dim=1)))
        h0 = outs[-1][:, -1]
    return (outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)).to(dtype)
