"""Recurrent cells written from the lecture's equations, and the stack that runs them.

Each cell computes its gates from the concatenation [h_{t-1}, x_t]: W [h; x] + b with
W = [W_hh | W_ih]. The x half does not depend on the previous step, so the stack computes it
for every step in one matmul before the time loop; the cell adds the h half. Parameters
carry torch's names and shapes (weight_ih_l0, weight_hh_l0_reverse, ...), so weights copy
across backends and the parameter count is the same closed form.

GRU convention. We write the update the lecture's way, h_t = (1 - z) * h_{t-1} + z * h~_t:
z is how much of the candidate to take. torch (and cuDNN) write h_t = (1 - z') * n + z' * h,
so z = 1 - z' = sigmoid(-a'): copying torch weights into ours negates the z rows
(`from_torch_state`). Both apply the reset gate after the recurrent matmul,
h~ = tanh(W_xn x + b_xn + r * (W_hn h + b_hn)) (cuDNN's "linear before reset"), which is
not Cho et al.'s original tanh(W [r * h; x]).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.models.params import GATES


def rnn_cell(xw, state, w_hh, b_hh):
    (h,) = state
    # h_t = tanh(W_hh h_{t-1} + W_xh x_t + b)
    return (torch.tanh(xw + F.linear(h, w_hh, b_hh)),)


def lstm_cell(xw, state, w_hh, b_hh):
    h, c = state
    i, f, g, o = (xw + F.linear(h, w_hh, b_hh)).chunk(4, 1)  # W [h_{t-1}; x_t] + b, four gates
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)  # input, forget, output gates
    c_tilde = torch.tanh(g)                                        # candidate C~_t
    c = f * c + i * c_tilde                                        # C_t = f*C_{t-1} + i*C~_t
    h = o * torch.tanh(c)                                          # h_t = o*tanh(C_t)
    return h, c


def gru_cell(xw, state, w_hh, b_hh):
    (h,) = state
    x_r, x_z, x_n = xw.chunk(3, 1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, 1)
    r = torch.sigmoid(x_r + h_r)              # reset gate
    z = torch.sigmoid(x_z + h_z)              # update gate: share of the candidate
    h_tilde = torch.tanh(x_n + r * h_n)       # candidate h~_t
    return ((1 - z) * h + z * h_tilde,)       # h_t = (1-z)*h_{t-1} + z*h~_t


CELLS = {"rnn": rnn_cell, "lstm": lstm_cell, "gru": gru_cell}


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence within its own length; padding stays at the end."""
    if lengths is None:
        return x.flip(1)
    steps = torch.arange(x.size(1), device=x.device).expand(x.size(0), -1)
    lengths = lengths.to(x.device).unsqueeze(1)
    idx = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


class ScratchRNN(nn.Module):
    """Stacked, optionally bidirectional RNN/LSTM/GRU from our cells; torch.nn.RNN's interface."""

    def __init__(self, family, input_size, hidden, num_layers=1, dropout=0.0, bidirectional=False):
        super().__init__()
        self.family, self.hidden, self.num_layers = family, hidden, num_layers
        self.dropout, self.directions = dropout, 2 if bidirectional else 1
        self.cell = CELLS[family]  # one time step; the speed measurement swaps in a compiled one
        gates = GATES[family]
        for layer in range(num_layers):
            x_size = input_size if layer == 0 else self.directions * hidden
            for suffix in self._suffixes(layer):
                self.register_parameter(f"weight_ih{suffix}", nn.Parameter(torch.empty(gates * hidden, x_size)))
                self.register_parameter(f"weight_hh{suffix}", nn.Parameter(torch.empty(gates * hidden, hidden)))
                self.register_parameter(f"bias_ih{suffix}", nn.Parameter(torch.zeros(gates * hidden)))
                self.register_parameter(f"bias_hh{suffix}", nn.Parameter(torch.zeros(gates * hidden)))

    def _suffixes(self, layer):
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.directions]

    def _zero_state(self, x):
        zeros = x.new_zeros(self.num_layers * self.directions, x.size(0), self.hidden)
        return (zeros, zeros) if self.family == "lstm" else zeros

    def forward(self, x, state=None, lengths=None):
        state = self._zero_state(x) if state is None else state
        parts = state if isinstance(state, tuple) else (state,)
        mask = None
        if lengths is not None:
            mask = torch.arange(x.size(1), device=x.device) < lengths.to(x.device).unsqueeze(1)  # (B, T)
        finals, inp = [], x
        for layer in range(self.num_layers):
            outs = []
            for d, suffix in enumerate(self._suffixes(layer)):
                k = layer * self.directions + d
                seq = inp if d == 0 else reverse_padded(inp, lengths)
                y, last = self._run(seq, tuple(p[k] for p in parts), suffix, mask)
                outs.append(y if d == 0 else reverse_padded(y, lengths))
                finals.append(last)
            inp = torch.cat(outs, -1)
            if layer < self.num_layers - 1 and self.dropout:
                inp = F.dropout(inp, self.dropout, self.training)
        if mask is not None:
            inp = inp * mask.unsqueeze(-1)  # padded steps read as zeros, as pad_packed_sequence gives
        stacked = tuple(torch.stack([f[i] for f in finals]) for i in range(len(parts)))
        return inp, stacked if self.family == "lstm" else stacked[0]

    def _run(self, seq, state, suffix, mask):
        w_hh, b_hh = getattr(self, f"weight_hh{suffix}"), getattr(self, f"bias_hh{suffix}")
        xw = F.linear(seq, getattr(self, f"weight_ih{suffix}"), getattr(self, f"bias_ih{suffix}"))
        # unbind, not xw[:, t]: the backward of T selects would zero-fill a whole (B, T, G*h)
        # gradient per step, O(T^2) memory traffic (8x the LSTM step time at T=100, h=512 on a CPU);
        # unbind's backward stacks the T slices once.
        keeps = mask.unsqueeze(-1).unbind(1) if mask is not None else [None] * seq.size(1)
        ys = []
        for x_t, keep in zip(xw.unbind(1), keeps):
            new = self.cell(x_t, state, w_hh, b_hh)
            if keep is not None:  # past a sequence's end its state stays put
                new = tuple(torch.where(keep, n, s) for n, s in zip(new, state))
            state = new
            ys.append(state[0])
        return torch.stack(ys, 1), state


def from_torch_state(state_dict: dict, family: str) -> dict:
    """Map torch.nn.{RNN,LSTM,GRU} weights onto ScratchRNN's (negating the GRU's z rows)."""
    if family != "gru":
        return dict(state_dict)
    out = {}
    for name, p in state_dict.items():
        p = p.clone()
        hidden = p.shape[0] // 3
        p[hidden:2 * hidden] *= -1  # z = 1 - z' <=> pre-activation negated
        out[name] = p
    return out
