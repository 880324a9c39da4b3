"""Initialisation policies (`model.init`), applied the same way to both backends.

Both backends carry torch's parameter names (weight_ih_l0, bias_hh_l0_reverse, ...) in the
same order, so one loop over `named_parameters()` initialises either the same way.

- `orthogonal` (the default). Input weights: Xavier-uniform (Glorot & Bengio 2010), per gate
  block. Recurrent weights: orthogonal (Saxe et al. 2014), per gate block, so the recurrent
  Jacobian starts with singular values 1 rather than vanishing or exploding. Biases: zero,
  except the LSTM forget gate at `model.forget_bias` (1.0: Gers et al. 2000; Jozefowicz et
  al. 2015) so the cell state is kept by default early in training. torch keeps two bias
  vectors; the forget bias goes in b_ih and b_hh's forget block stays 0, so the effective
  forget bias b_ih + b_hh is `forget_bias`.
- `pytorch`: torch's own default (RNNBase.reset_parameters): every weight and bias uniform in
  ±1/sqrt(hidden). A tanh RNN's W_hh then has spectral radius about 1/sqrt(3) (circular law:
  sqrt(h * Var) with Var = 1/(3h)), so gradients shrink from the first step.
- `uniform:A`: every weight and bias uniform in ±A (Zaremba et al. 2014 use 0.05).
- `chrono[:TMAX]` (Tallec & Ollivier 2018, families that list it: the LSTM): weights as
  `orthogonal`; forget bias b_f = log(U(1, TMAX - 1)), input bias b_i = -b_f, so forget-gate time
  constants spread over [1, TMAX] steps; other biases zero. TMAX defaults to 100.

A family's special biases (the LSTM's forget gate) are its own (`Family.init_biases`, in its
file); a family without a recurrent matrix (minGRU) gets the input half of each policy, and one
whose recurrent weight is not a matrix (IndRNN's vector u) sets it under `orthogonal` itself
(`Family.init_recurrent`).

`pytorch` and `uniform:A` draw every bias and `chrono` sets its own, so `model.forget_bias`
applies to `orthogonal` only (ModelConfig refuses a changed value with another init).
"""
import math

import torch
from torch import nn

from benchmark import families
from benchmark.config import parse_init


@torch.no_grad()
def initialise(rnn: nn.Module, family: str, init: str = "orthogonal", forget_bias: float = 1.0) -> None:
    kind, value = parse_init(init)
    spec = families.get(family)
    if kind in ("pytorch", "uniform"):
        hidden = getattr(rnn, "hidden_size", None) or rnn.hidden  # torch's modules / ours
        bound = 1 / math.sqrt(hidden) if kind == "pytorch" else value
        for p in rnn.parameters():
            nn.init.uniform_(p, -bound, bound)
        return
    for name, p in rnn.named_parameters():
        if name.startswith("weight_ih"):
            for block in p.chunk(spec.blocks, 0):
                nn.init.xavier_uniform_(block)
        elif name.startswith("weight_hh") and spec.init_recurrent is not None:
            spec.init_recurrent(p, kind, value)  # not a matrix (IndRNN's u): the family's own
        elif name.startswith("weight_hh"):
            for block in p.chunk(spec.blocks, 0):
                nn.init.orthogonal_(block)
        elif name.startswith("bias"):
            nn.init.zeros_(p)
            if spec.init_biases is not None and name.startswith("bias_ih"):
                spec.init_biases(p, kind, value, forget_bias)
