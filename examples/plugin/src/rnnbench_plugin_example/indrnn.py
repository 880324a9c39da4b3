"""IndRNN (Li et al. 2018, "Independently Recurrent Neural Network"): h_t = relu(W x_t + u * h_{t-1} + b).

Each unit reads only its own previous value, through one weight u_i (the vector u replaces the
h x h matrix), so a unit's gradient over k steps is prod u_i * relu' and |u_i| sets how far it
reaches. Per layer and direction hx + 2h parameters: W (weight_ih), b (bias_ih) and u
(weight_hh, a vector; no bias_hh). Under `model.init orthogonal` u is drawn uniform in [0, 1),
the IndRNN reference implementations' default (Li et al. further bound |u| per task, e.g. by
2^(1/T); no bound here); `pytorch` and `uniform:A` draw it as every other weight.
"""
from benchmark.families.base import F, Family


def cell(xw, state, w_hh, b_hh=None):
    (h,) = state
    return (F.relu(xw + w_hh * h),)  # w_hh is u, (h,): one recurrent weight per unit


def recurrent_shapes(hidden):
    return {"weight_hh": (hidden,)}  # no bias_hh: b is bias_ih


def init_recurrent(u, kind, value):
    u.uniform_(0.0, 1.0)


def params(x, h):
    return h * x + 2 * h


FAMILY = Family(name="indrnn", title="IndRNN", blocks=1, cell=cell, recurrent_shapes=recurrent_shapes,
                init_recurrent=init_recurrent, params=params, formula="hx+2h", colour="tab:olive",
                description="IndRNN (Li et al. 2018): relu, one recurrent weight per unit")
