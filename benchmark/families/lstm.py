"""LSTM (Hochreiter & Schmidhuber 1997) with a forget gate (Gers et al. 2000), gate order (i, f, g, o) as torch's.

C_t = f*C_{t-1} + i*C~_t, h_t = o*tanh(C_t): the cell state is updated additively.
"""
from benchmark.families.base import F, Family, torch


def cell(xw, state, w_hh, b_hh):
    h, c = state
    i, f, g, o = (xw + F.linear(h, w_hh, b_hh)).chunk(4, 1)  # W [h_{t-1}; x_t] + b, four gates
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)  # input, forget, output gates
    c_tilde = torch.tanh(g)                                        # candidate C~_t
    c = f * c + i * c_tilde                                        # C_t = f*C_{t-1} + i*C~_t
    h = o * torch.tanh(c)                                          # h_t = o*tanh(C_t)
    return h, c


def forget(xw, state, w_hh, b_hh):
    return torch.sigmoid((xw + F.linear(state[0], w_hh, b_hh)).chunk(4, 1)[1])


def init_biases(bias_ih, kind, value, forget_bias):
    """The forget gate's bias: `forget_bias` (1.0: Gers et al. 2000; Jozefowicz et al. 2015), or
    chrono (Tallec & Ollivier 2018): b_f = log(U(1, TMAX - 1)), b_i = -b_f. It goes in b_ih; b_hh's
    forget block stays 0, so the effective bias b_ih + b_hh is the one set here."""
    hidden = bias_ih.numel() // 4
    if kind == "chrono":
        b_f = torch.empty_like(bias_ih[:hidden]).uniform_(1, value - 1).log_()
        bias_ih[hidden:2 * hidden], bias_ih[:hidden] = b_f, -b_f
    else:
        bias_ih[hidden:2 * hidden] = forget_bias


FAMILY = Family(name="lstm", title="LSTM", blocks=4, state=("h", "c"), cell=cell, fused="LSTM",
                inits=("orthogonal", "pytorch", "uniform", "chrono"), init_biases=init_biases, forget=forget,
                colour="tab:orange", description="LSTM with forget gate (Hochreiter & Schmidhuber 1997)")
