"""Word-level language modelling, default Penn Treebank (Mikolov's 10k-word version).

Scores: nats per word and perplexity, beside a unigram model of the training words and,
on PTB's whole test split, published perplexities (configs/references.yaml). Data (tasks/data/word_text.py): a
folder of train/valid/test text files, one sentence a line (`source: local`), or a text
data set from the hub (`source: hub`, default WikiText-2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from benchmark.config import show
from benchmark.errors import ConfigError
from tasks.data.word_text import word_lm_data
from tasks.language_model import LanguageModelSettings, LanguageModelTask

SOURCES = ("local", "hub")
@dataclass(frozen=True)
class WordLMSettings(LanguageModelSettings):
    TASK = "word_lm"
    source: str = "local"
    folder: str = "ptb"  # local: under the data directory
    files: tuple = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")  # train, validation, test
    hub_repo: str = "Salesforce/wikitext"   # source hub: any text data set, one sentence (or line) a row
    hub_config: str = "wikitext-2-v1"
    hub_revision: str = ""
    text_column: str = "text"

    def __post_init__(self):
        super().__post_init__()
        if self.source not in SOURCES:
            raise ConfigError(f"bad word_lm.source {show(self.source)}: expected one of {', '.join(SOURCES)}")
        if len(self.files) != 3 or not all(isinstance(f, str) and f for f in self.files):
            raise ConfigError(f"bad word_lm.files {show(list(self.files))}: expected three file names (train, valid, "
                              f"test)")


class WordLMTask(LanguageModelTask):
    name = "word_lm"
    description = "word-level language model (Penn Treebank), truncated BPTT"
    Settings = WordLMSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        return word_lm_data(settings, train, data_dir)

    @classmethod
    def data_files(cls, settings):
        if settings.source != "local":
            return {}
        return {f"folder/files[{i}]": f"{settings.folder}/{f}" for i, f in enumerate(settings.files)}

    def derived(self, loss):
        return {"ppl": math.exp(loss)}

    def baselines(self, data):
        # Published perplexities (Zaremba et al. 2014, Bai et al. 2018) come from
        # configs/references.yaml, beside runs on PTB's whole test split.
        nats = self.unigram_baseline(data)
        return {"unigram (train counts)": {"loss": nats, "ppl": math.exp(nats)}}
