"""Closed-form parameter counts, the numbers the lecture's table quotes.

Per layer and direction a family with G gate blocks has G*(h*(h + x) + 2h) parameters:
an input matrix (h, x) and a recurrent matrix (h, h) per block plus the two bias vectors
torch and cuDNN keep (b_ih, b_hh). G = 1 for the tanh RNN, 4 for LSTM, 3 for GRU.
"""

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def encoder_param_count(family: str, input_size: int, hidden: int, num_layers: int = 1,
                        bidirectional: bool = False) -> int:
    gates, directions = GATES[family], 2 if bidirectional else 1
    total = 0
    for layer in range(num_layers):
        x = input_size if layer == 0 else directions * hidden
        total += directions * gates * (hidden * (hidden + x) + 2 * hidden)
    return total
