"""Character-level language modelling (Karpathy 2015, char-rnn), default Tiny Shakespeare.

The text file is split by position: the first `train_fraction` (0.9, the usual split) is
training text; the rest is held out and halved, its first half validation, its second half
test (Tiny Shakespeare: 1,003,854 / 55,770 / 55,770 characters). Scores are nats and bits
per character; the context-free yardstick is a unigram model of the training characters.
"""
from __future__ import annotations

from dataclasses import dataclass

from benchmark.config import ConfigError
from tasks.base import bits
from tasks.corpus import LanguageModelData, build_corpus, char_tokens
from tasks.language_model import LanguageModelSettings, LanguageModelTask
from tasks.sources import cached, local_file, read_text


@dataclass(frozen=True)
class CharLMSettings(LanguageModelSettings):
    bptt: int = 100
    file: str = "tinyshakespeare/input.txt"  # under the data directory
    train_fraction: float = 0.9              # the rest: half validation, half test

    def __post_init__(self):
        super().__post_init__()
        if not 0 < self.train_fraction < 1:
            raise ConfigError(f"bad char_lm.train_fraction {self.train_fraction!r}: expected a number in (0, 1)")


def load_chars(path, train_fraction: float):
    text = read_text(path)
    char_tokens(text, str(path))  # an empty file is an error, not an empty data set
    cut = int(len(text) * train_fraction)
    half = cut + (len(text) - cut) // 2
    parts = {"train": text[:cut], "val": text[cut:half], "test": text[half:]}
    spans = {"train": f"[0:{cut}]", "val": f"[{cut}:{half}]", "test": f"[{half}:{len(text)}]"}
    origin = {name: f"{path} chars {spans[name]}" for name in parts}
    return build_corpus({name: char_tokens(part, origin[name]) for name, part in parts.items()}, origin)


class CharLMTask(LanguageModelTask):
    name = "char_lm"
    description = "character-level language model (Tiny Shakespeare), truncated BPTT"
    Settings = CharLMSettings

    @classmethod
    def datamodule(cls, settings, train, seed, data_dir):
        def load():
            path = local_file(data_dir, settings.file, cls.name)
            return cached("char_lm", [path], {"train_fraction": settings.train_fraction},
                          lambda: load_chars(path, settings.train_fraction))
        return LanguageModelData(load, train.batch_size, settings.eval_batch_size, settings.bptt,
                                 settings.max_train_tokens)

    def derived(self, loss):
        return {"bpc": bits(loss)}

    def baselines(self, data):
        nats = self.unigram_baseline(data)
        return {"unigram (train counts)": {"loss": nats, "bpc": bits(nats)}}
