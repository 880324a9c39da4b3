"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?"): a GRU whose gates read x_t alone.

z_t = sigmoid(W_z x_t + b_z), h~_t = g(W_h x_t + b_h), h_t = (1 - z_t) * h_{t-1} + z_t * h~_t,
g keeping h~ positive (`base.positive`). With no h_{t-1} inside the gates the recurrence is
linear in h, so training runs all T steps at once by a log-space parallel scan; streaming runs
the same recurrence one step at a time. 2(hx + h) parameters per layer, no recurrent matrix.
"""
from benchmark.families.base import F, Family, linear_scan, log_positive, positive, torch


def cell(xw, state, w_hh=None, b_hh=None):
    (h,) = state
    k, pre = xw.chunk(2, -1)
    z = torch.sigmoid(k)
    return ((1 - z) * h + z * positive(pre),)


def scan(xw, state):
    (h0,) = state
    k, pre = xw.chunk(2, -1)
    # log z = -softplus(-k), log(1 - z) = -softplus(k): no log of a rounded sigmoid
    return (linear_scan(-F.softplus(k), -F.softplus(-k) + log_positive(pre), h0),)


FAMILY = Family(name="mingru", title="minGRU", blocks=2, recurrent=False, cell=cell, scan=scan,
                colour="tab:cyan", description="minGRU (Feng et al. 2024): gates from x_t alone")
