"""rnnbench: how vanilla RNN, LSTM and GRU really compare, measured."""
__version__ = "0.1.0"
