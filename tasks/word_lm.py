"""Word-level language modelling, default Penn Treebank (Mikolov's 10k-word version).

Each line is a sentence; `<eos>` closes it, and the vocabulary is the training split's
(PTB: 929,589 / 73,760 / 82,430 tokens with `<eos>`, 10,000 words). Sources: `local`, a
folder under the data directory with train/valid/test text files (PTB's names by default;
WikiText-2's wiki.{train,valid,test}.tokens work the same), or `hub`, WikiText-2 from
`Salesforce/wikitext` (config wikitext-2-v1). Scores: nats per word and perplexity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from benchmark.config import ConfigError
from tasks.corpus import SPLITS, LanguageModelData, build_corpus, word_tokens
from tasks.language_model import LanguageModelSettings, LanguageModelTask
from tasks.sources import cached, load_hub, local_file, read_text

SOURCES = ("local", "hub")
HUB_SPLITS = {"train": "train", "val": "validation", "test": "test"}
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


def load_local_words(paths: dict) -> object:
    splits = {name: word_tokens(read_text(paths[name]), str(paths[name])) for name in SPLITS}
    return build_corpus(splits, {name: str(p) for name, p in paths.items()})


def load_hub_words(repo: str, config: str, hint: str) -> object:
    data = load_hub(repo, config, WordLMTask.name, hint)
    splits, origin = {}, {}
    for name, hub_name in HUB_SPLITS.items():
        origin[name] = f"{repo}/{config} split {hub_name}"
        lines = (row.rstrip("\n") for row in data[hub_name]["text"])
        splits[name] = word_tokens("\n".join(lines), origin[name])
    return build_corpus(splits, origin)


class WordLMTask(LanguageModelTask):
    name = "word_lm"
    description = "word-level language model (Penn Treebank), truncated BPTT"
    Settings = WordLMSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        def load():
            if settings.source == "hub":
                hint = (f"put train/valid/test text files in DIR/{settings.folder}/, set word_lm.files, "
                        f"and run with word_lm.source=local --data-dir DIR")
                key = {"repo": settings.hub_repo, "config": settings.hub_config}
                return cached("word_lm-hub", [], key,
                              lambda: load_hub_words(settings.hub_repo, settings.hub_config, hint))
            paths = {name: local_file(data_dir, f"{settings.folder}/{file}", cls.name)
                     for name, file in zip(SPLITS, settings.files)}
            return cached("word_lm", list(paths.values()), {"eos": True}, lambda: load_local_words(paths))
        return LanguageModelData(load, train.batch_size, settings.eval_batch_size, settings.bptt,
                                 settings.max_train_tokens)

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
