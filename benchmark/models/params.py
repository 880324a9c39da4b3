"""Closed-form parameter counts, the numbers the lecture's table quotes.

Per layer and direction a family with G gate blocks and a recurrent matrix has
G*(h*(h + x) + 2h) parameters: an input matrix (h, x) and a recurrent matrix (h, h) per block
plus the two bias vectors torch and cuDNN keep (b_ih, b_hh); G = 1 for the tanh RNN, 4 for
LSTM, 3 for GRU. A family without a recurrent matrix (minGRU, minLSTM) has G*(h*x + h). Each
family states its own (`Family.layer_params`); this sums it over layers and directions.
"""
from benchmark import families


def encoder_param_count(family: str, input_size: int, hidden: int, num_layers: int = 1,
                        bidirectional: bool = False) -> int:
    spec, directions = families.get(family), 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        x = input_size if layer == 0 else directions * hidden
        total += directions * spec.layer_params(x, hidden)
    return total
