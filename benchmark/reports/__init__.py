"""Reports from measurement results: the reproduced RNN-vs-LSTM table, plots and the HTML page."""
