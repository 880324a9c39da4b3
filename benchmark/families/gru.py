"""GRU (Cho et al. 2014), written the lecture's way: h_t = (1 - z) * h_{t-1} + z * h~_t.

z is how much of the candidate to take. torch (and cuDNN) write h_t = (1 - z') * n + z' * h,
so z = 1 - z' = sigmoid(-a'): copying torch weights into ours negates the z rows
(`from_fused`). Both apply the reset gate after the recurrent matmul,
h~ = tanh(W_xn x + b_xn + r * (W_hn h + b_hn)) (cuDNN's "linear before reset"), which is
not Cho et al.'s original tanh(W [r * h; x]).
"""
from benchmark.families.base import F, Family, torch


def cell(xw, state, w_hh, b_hh):
    (h,) = state
    x_r, x_z, x_n = xw.chunk(3, 1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, 1)
    r = torch.sigmoid(x_r + h_r)              # reset gate
    z = torch.sigmoid(x_z + h_z)              # update gate: share of the candidate
    h_tilde = torch.tanh(x_n + r * h_n)       # candidate h~_t
    return ((1 - z) * h + z * h_tilde,)       # h_t = (1-z)*h_{t-1} + z*h~_t


def from_fused(state_dict: dict) -> dict:
    out = {}
    for name, p in state_dict.items():
        p = p.clone()
        hidden = p.shape[0] // 3
        p[hidden:2 * hidden] *= -1  # z = 1 - z' <=> pre-activation negated
        out[name] = p
    return out


FAMILY = Family(name="gru", title="GRU", blocks=3, cell=cell, fused="GRU", from_fused=from_fused,
                colour="tab:green", description="GRU (Cho et al. 2014), reset after the matmul as cuDNN")
