"""The model axis of the matrix by name: variants and backends. No torch here, so `list`
and argument checks can name them without loading the model zoo (`benchmark.models`)."""

BACKENDS = ("cudnn", "scratch")
# The matrix names a variant; a variant is a family and a direction.
VARIANTS = {
    "rnn": ("rnn", False), "lstm": ("lstm", False), "gru": ("gru", False),
    "birnn": ("rnn", True), "bilstm": ("lstm", True), "bigru": ("gru", True),
}
BACKEND_NOTES = {
    "cudnn": "torch.nn.RNN/LSTM/GRU (cuDNN on GPU, fused kernels on CPU)",
    "scratch": "our cells, written from the equations",
}
