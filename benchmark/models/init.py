"""One initialisation policy, applied the same way to both backends.

Input weights: Xavier-uniform (Glorot & Bengio 2010), per gate block.
Recurrent weights: orthogonal (Saxe et al. 2014), per gate block, so the recurrent Jacobian
starts with singular values 1 rather than vanishing or exploding.
Biases: zero, except the LSTM forget gate at 1.0 (Gers et al. 2000; Jozefowicz et al. 2015)
so the cell state is kept by default early in training. torch keeps two bias vectors; the
effective forget bias b_ih + b_hh is 1.0.
"""
import torch
from torch import nn

from benchmark.models.params import GATES


@torch.no_grad()
def initialise(rnn: nn.Module, family: str) -> None:
    gates = GATES[family]
    for name, p in rnn.named_parameters():
        if name.startswith("weight_ih"):
            for block in p.chunk(gates, 0):
                nn.init.xavier_uniform_(block)
        elif name.startswith("weight_hh"):
            for block in p.chunk(gates, 0):
                nn.init.orthogonal_(block)
        elif name.startswith("bias"):
            nn.init.zeros_(p)
            if family == "lstm" and name.startswith("bias_ih"):
                hidden = p.numel() // 4
                p[hidden:2 * hidden] = 1.0  # gate order (i, f, g, o): the forget block
