"""The model zoo: every recurrent encoder is built here, by family, direction and backend.

Families are registered specs (benchmark/families/, one file each). `cudnn` wraps the family's
fused torch module (torch.nn.RNN/LSTM/GRU: cuDNN on GPU, oneDNN on CPU) where it has one, and
otherwise runs our implementation (minGRU's scan); `scratch` is our own cells written from the
equations (`scratch.py`). Both expose the
same parameters under the same names, get the same initialisation (`model.init`, `init.py`)
and return outputs and final states in torch's layout, so a task never knows which one it got.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from benchmark import families
from benchmark.config import ModelConfig
from benchmark.models.init import initialise
from benchmark.models.params import encoder_param_count
from benchmark.models.scratch import ScratchRNN

__all__ = ["Encoder", "detach_state", "encoder_param_count"]


class Encoder(nn.Module):
    """Recurrent encoder over batch-first input (B, T, input_size).

    forward(x, lengths=None, state=None) -> (outputs (B, T, D*H), state in torch's layout).
    With `lengths`, padded steps neither update the state nor leak into the backward direction.
    """

    def __init__(self, input_size: int, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        dropout = cfg.dropout if cfg.num_layers > 1 else 0.0  # torch only drops between layers
        if cfg.implementation == "fused":
            fused = getattr(nn, families.get(cfg.family).fused)
            self.rnn = fused(input_size, cfg.hidden, cfg.num_layers, batch_first=True,
                             dropout=dropout, bidirectional=cfg.bidirectional)
        else:
            self.rnn = ScratchRNN(cfg.family, input_size, cfg.hidden, cfg.num_layers, dropout, cfg.bidirectional)
        initialise(self.rnn, cfg.family, cfg.init, cfg.forget_bias)

    @property
    def directions(self) -> int:
        return 2 if self.cfg.bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.directions * self.cfg.hidden

    def forward(self, x, lengths=None, state=None):
        if lengths is None or isinstance(self.rnn, ScratchRNN):
            return self.rnn(x, state) if lengths is None else self.rnn(x, state, lengths=lengths)
        # Packing is slow (pytorch#149194) but it is what keeps the backward direction and
        # the final state off the padding; only variable-length tasks pass `lengths`.
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out, state

    def final(self, state) -> torch.Tensor:
        """Last layer's final hidden state, both directions concatenated: (B, D*H)."""
        h = state[0] if isinstance(state, tuple) else state
        return torch.cat(list(h[-self.directions:]), dim=-1)


def detach_state(state):
    """Cut the graph between truncated-BPTT chunks while keeping the values."""
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
