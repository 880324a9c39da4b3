"""The vanilla (Elman) RNN: h_t = tanh(W_hh h_{t-1} + W_xh x_t + b)."""
from benchmark.families.base import F, Family, torch


def cell(xw, state, w_hh, b_hh):
    (h,) = state
    return (torch.tanh(xw + F.linear(h, w_hh, b_hh)),)


FAMILY = Family(name="rnn", title="RNN", blocks=1, cell=cell, fused="RNN", colour="tab:blue",
                description="tanh RNN (Elman 1990)")
