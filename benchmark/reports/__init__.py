"""Reports: what a person reads. Tables of a matrix's results store (`tables`), the W&B
summary run (`wandb_summary`), the measurements' figures (`plots`), the reproduced
RNN-vs-LSTM table with verdicts (`rnn_vs_lstm`), RUN.md (`run_note`) and the HTML page
(`html`). Reports read results and render them; they never train or measure."""
