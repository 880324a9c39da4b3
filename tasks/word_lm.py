"""Word-level language modelling, default Penn Treebank (Mikolov's 10k-word version).

Scores: nats per word and perplexity, beside a unigram model of the training words and,
on PTB's whole test split, published perplexities. Data (tasks/data/word_text.py): a
folder of train/valid/test text files, one sentence a line (`source: local`), or
WikiText-2 from the hub (`source: hub`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from benchmark.errors import ConfigError
from tasks.data.word_text import word_lm_data
from tasks.language_model import LanguageModelSettings, LanguageModelTask

SOURCES = ("local", "hub")
PTB_TEST_TOKENS, PTB_VOCAB = 82_430, 10_000
# Published test perplexities on PTB (whole test split, full training set).
PTB_REFERENCES = {
    "ref: Zaremba 2014 LSTM 2x200, no dropout": {"ppl": 114.5},
    "ref: Zaremba 2014 LSTM 2x650, dropout 0.5": {"ppl": 82.7},
    "ref: Bai 2018 LSTM": {"ppl": 78.93},
    "ref: Bai 2018 GRU": {"ppl": 92.48},
    "ref: Bai 2018 RNN": {"ppl": 114.50},
}


@dataclass(frozen=True)
class WordLMSettings(LanguageModelSettings):
    source: str = "local"
    folder: str = "ptb"  # local: under the data directory
    files: tuple = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")  # train, validation, test
    hub_repo: str = "Salesforce/wikitext"
    hub_config: str = "wikitext-2-v1"

    def __post_init__(self):
        super().__post_init__()
        if self.source not in SOURCES:
            raise ConfigError(f"bad word_lm.source {self.source!r}: expected one of {', '.join(SOURCES)}")
        if len(self.files) != 3 or not all(isinstance(f, str) and f for f in self.files):
            raise ConfigError(f"bad word_lm.files {list(self.files)!r}: expected three file names (train, valid, test)")


class WordLMTask(LanguageModelTask):
    name = "word_lm"
    description = "word-level language model (Penn Treebank), truncated BPTT"
    Settings = WordLMSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        return word_lm_data(settings, train, data_dir)

    def derived(self, loss):
        return {"ppl": math.exp(loss)}

    def baselines(self, data):
        nats = self.unigram_baseline(data)
        rows = {"unigram (train counts)": {"loss": nats, "ppl": math.exp(nats)}}
        # The published numbers score PTB's whole test split: show them only beside runs
        # scored on exactly those tokens.
        is_ptb = data.corpus.test.numel() == PTB_TEST_TOKENS and data.vocab_size == PTB_VOCAB
        if is_ptb and not self.train_cfg.test_batches:
            rows.update(PTB_REFERENCES)
        return rows
