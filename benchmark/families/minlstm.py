"""minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): an LSTM without c, gates from x_t alone.

f_t = sigmoid(W_f x_t + b_f), i_t = sigmoid(W_i x_t + b_i), h~_t = g(W_h x_t + b_h);
normalised f'_t = f_t / (f_t + i_t), i'_t = i_t / (f_t + i_t), and h_t = f'_t * h_{t-1} + i'_t * h~_t
(time-independent outputs, the paper's choice). Linear in h, so training runs the log-space
parallel scan; streaming steps. 3(hx + h) parameters per layer, no recurrent matrix.
"""
from benchmark.families.base import F, Family, linear_scan, log_positive, positive, torch


def _gates(xw):
    f, i, pre = xw.chunk(3, -1)
    diff = F.softplus(-f) - F.softplus(-i)  # log i - log f
    return -F.softplus(diff), -F.softplus(-diff), pre  # log f', log i'


def cell(xw, state, w_hh=None, b_hh=None):
    (h,) = state
    log_f, log_i, pre = _gates(xw)
    return (torch.exp(log_f) * h + torch.exp(log_i) * positive(pre),)


def scan(xw, state):
    (h0,) = state
    log_f, log_i, pre = _gates(xw)
    return (linear_scan(log_f, log_i + log_positive(pre), h0),)


def forget(xw, state, w_hh=None, b_hh=None):
    return torch.exp(_gates(xw)[0])


FAMILY = Family(name="minlstm", title="minLSTM", blocks=3, recurrent=False, cell=cell, scan=scan, forget=forget,
                colour="tab:pink", description="minLSTM (Feng et al. 2024): normalised f, i from x_t alone")
