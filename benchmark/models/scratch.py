"""The stack that runs a family's own cells (benchmark/families/<name>.py): layers, directions, padding.

Each cell computes its gates from the concatenation [h_{t-1}, x_t]: W [h; x] + b with
W = [W_hh | W_ih]. The x half does not depend on the previous step, so the stack computes it
for every step in one matmul before the time loop; the cell adds the h half. Parameters
carry torch's names and shapes (weight_ih_l0, weight_hh_l0_reverse, ...), so weights copy
across backends and the parameter count is the same closed form. A family without a
recurrent matrix (minGRU) has no weight_hh/bias_hh, one with a recurrent vector (IndRNN) a
weight_hh of its own shape (`Family.recurrent_shapes`); a family with a parallel form runs all
steps at once by its scan (`mode="scan"`), or one at a time (`mode="step"`, and always for a
single step, as streaming does).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark import families


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence within its own length; padding stays at the end."""
    if lengths is None:
        return x.flip(1)
    steps = torch.arange(x.size(1), device=x.device).expand(x.size(0), -1)
    lengths = lengths.to(x.device).unsqueeze(1)
    idx = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


class ScratchRNN(nn.Module):
    """Stacked, optionally bidirectional RNN of one family's cells; torch.nn.RNN's interface."""

    def __init__(self, family, input_size, hidden, num_layers=1, dropout=0.0, bidirectional=False, mode=None):
        super().__init__()
        self.spec = families.get(family)
        self.family, self.hidden, self.num_layers = family, hidden, num_layers
        self.dropout, self.directions = dropout, 2 if bidirectional else 1
        if mode not in (None, "scan", "step") or (mode == "scan" and self.spec.scan is None):
            raise ValueError(f"mode {mode!r}: {family} runs step{' or scan' if self.spec.scan else ''}")
        self.mode = mode or ("scan" if self.spec.scan is not None else "step")
        self.cell = self.spec.cell  # one time step; the speed measurement swaps in a compiled one
        gates = self.spec.blocks
        recurrent = self._recurrent_shapes(gates * hidden, hidden)
        for layer in range(num_layers):
            x_size = input_size if layer == 0 else self.directions * hidden
            for suffix in self._suffixes(layer):
                self.register_parameter(f"weight_ih{suffix}", nn.Parameter(torch.empty(gates * hidden, x_size)))
                if "weight_hh" in recurrent:
                    self.register_parameter(f"weight_hh{suffix}", nn.Parameter(torch.empty(recurrent["weight_hh"])))
                self.register_parameter(f"bias_ih{suffix}", nn.Parameter(torch.zeros(gates * hidden)))
                if "bias_hh" in recurrent:
                    self.register_parameter(f"bias_hh{suffix}", nn.Parameter(torch.zeros(recurrent["bias_hh"])))

    def _recurrent_shapes(self, rows: int, hidden: int) -> dict:
        """weight_hh's and bias_hh's shapes: torch's (G*h, h) and (G*h), the family's own
        (`Family.recurrent_shapes`: IndRNN's vector u), or none (minGRU)."""
        if not self.spec.recurrent:
            return {}
        if self.spec.recurrent_shapes is None:
            return {"weight_hh": (rows, hidden), "bias_hh": (rows,)}
        shapes = dict(self.spec.recurrent_shapes(hidden))
        if set(shapes) - {"weight_hh", "bias_hh"}:
            raise ValueError(f"{self.family}'s recurrent_shapes gives {sorted(shapes)}: expected weight_hh, bias_hh")
        return {name: tuple(shape) for name, shape in shapes.items()}

    def _suffixes(self, layer):
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.directions]

    @property
    def _tuple_state(self) -> bool:  # torch's layout: a tuple (h, c) for two-part states, a tensor for one
        return len(self.spec.state) > 1

    def _zero_state(self, x):
        zeros = x.new_zeros(self.num_layers * self.directions, x.size(0), self.hidden)
        return tuple(zeros for _ in self.spec.state) if self._tuple_state else zeros

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
                y, last = self._run(seq, tuple(p[k] for p in parts), suffix, mask, lengths)
                outs.append(y if d == 0 else reverse_padded(y, lengths))
                finals.append(last)
            inp = torch.cat(outs, -1)
            if layer < self.num_layers - 1 and self.dropout:
                inp = F.dropout(inp, self.dropout, self.training)
        if mask is not None:
            inp = inp * mask.unsqueeze(-1)  # padded steps read as zeros, as pad_packed_sequence gives
        stacked = tuple(torch.stack([f[i] for f in finals]) for i in range(len(parts)))
        return inp, stacked if self._tuple_state else stacked[0]

    def _run(self, seq, state, suffix, mask, lengths):
        w_hh, b_hh = getattr(self, f"weight_hh{suffix}", None), getattr(self, f"bias_hh{suffix}", None)
        xw = F.linear(seq, getattr(self, f"weight_ih{suffix}"), getattr(self, f"bias_ih{suffix}"))
        if self.mode == "scan" and seq.size(1) > 1:
            states = self.spec.scan(xw, state)
            if lengths is None:
                return states[0], tuple(s[:, -1] for s in states)
            # Padding sits after each sequence's end (reverse_padded keeps it there), so the steps
            # past the end change no valid output: the final state is the one at length - 1.
            at = (lengths.to(seq.device) - 1).clamp(min=0).view(-1, 1, 1).expand(-1, 1, self.hidden)
            return states[0], tuple(s.gather(1, at).squeeze(1) for s in states)
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
    """Map a fused torch module's weights onto ScratchRNN's (the family's own convention)."""
    convert = families.get(family).from_fused
    return convert(state_dict) if convert else dict(state_dict)
