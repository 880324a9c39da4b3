"""Character-level language modelling (Karpathy 2015, char-rnn), default Tiny Shakespeare.

Scores are nats and bits per character; the context-free yardstick is a unigram model of
the training characters. Data: a plain-text file split by position, 90% train, the rest
halved into validation and test, or three files, or any text data set from the hub
(tasks/data/char_text.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from benchmark.config import show
from benchmark.errors import ConfigError
from tasks.base import bits
from tasks.data.char_text import char_lm_data
from tasks.language_model import LanguageModelSettings, LanguageModelTask


@dataclass(frozen=True)
class CharLMSettings(LanguageModelSettings):
    TASK = "char_lm"
    bptt: int = 100
    file: str = "tinyshakespeare/input.txt"  # under the data directory
    train_fraction: float = 0.9              # the rest: half validation, half test
    files: tuple = ()                        # or three files (train, valid, test): e.g. PTB's, as characters
    source: str = "local"                    # local (file / files) or hub (any text data set: hub_repo)
    hub_repo: str = "karpathy/tiny_shakespeare"
    hub_config: str = ""
    hub_revision: str = ""
    text_column: str = "text"

    def __post_init__(self):
        super().__post_init__()
        if self.source not in ("local", "hub"):
            raise ConfigError(f"bad char_lm.source {show(self.source)}: expected local or hub")
        if self.files and (len(self.files) != 3 or not all(isinstance(f, str) and f for f in self.files)):
            raise ConfigError(f"bad char_lm.files {show(list(self.files))}: expected three file names (train, valid, "
                              f"test) or none (then char_lm.file is split by char_lm.train_fraction)")
        if not 0 < self.train_fraction < 1:
            raise ConfigError(f"bad char_lm.train_fraction {show(self.train_fraction)}: expected a number in (0, 1)")


class CharLMTask(LanguageModelTask):
    name = "char_lm"
    description = "character-level language model (Tiny Shakespeare), truncated BPTT"
    Settings = CharLMSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        return char_lm_data(settings, train, data_dir)

    @classmethod
    def data_files(cls, settings):
        # `files`, when given, replace `file`: only the files read count.
        if settings.files:
            return {f"files[{i}]": f for i, f in enumerate(settings.files)}
        return {"file": settings.file}

    def derived(self, loss):
        return {"bpc": bits(loss)}

    def baselines(self, data):
        nats = self.unigram_baseline(data)
        return {"unigram (train counts)": {"loss": nats, "bpc": bits(nats)}}
