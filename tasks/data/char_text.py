"""A plain-text file as characters, for char_lm (default Tiny Shakespeare).

The text file is split by position: the first `train_fraction` (0.9, the usual split) is
training text; the rest is held out and halved, its first half validation, its second half
test (Tiny Shakespeare: 1,003,854 / 55,770 / 55,770 characters).
"""
from __future__ import annotations

import functools

from tasks.data.corpus import Corpus, LanguageModelData, build_corpus, char_tokens
from tasks.data.sources import cached, local_file, read_text

TASK = "char_lm"  # names the task in messages about missing files


def load_chars(path, train_fraction: float) -> Corpus:
    text = read_text(path)
    char_tokens(text, str(path))  # an empty file is an error, not an empty data set
    cut = int(len(text) * train_fraction)
    half = cut + (len(text) - cut) // 2
    parts = {"train": text[:cut], "val": text[cut:half], "test": text[half:]}
    spans = {"train": f"[0:{cut}]", "val": f"[{cut}:{half}]", "test": f"[{half}:{len(text)}]"}
    origin = {name: f"{path} chars {spans[name]}" for name in parts}
    return build_corpus({name: char_tokens(part, origin[name]) for name, part in parts.items()}, origin)


def char_lm_data(settings, train, data_dir) -> LanguageModelData:
    """settings: char_lm's (file, train_fraction, bptt, eval_batch_size, max_train_tokens);
    train: batch_size. The corpus is read (or taken from the cache) at `setup`."""
    # A partial over a module-level function, not a closure: multi-device training pickles the data module.
    load = functools.partial(_cached_chars, data_dir, settings.file, settings.train_fraction)
    return LanguageModelData(load, train.batch_size, settings.eval_batch_size, settings.bptt,
                             settings.max_train_tokens)


def _cached_chars(data_dir, file: str, train_fraction: float) -> Corpus:
    path = local_file(data_dir, file, TASK)
    return cached("char_lm", [path], {"train_fraction": train_fraction}, lambda: load_chars(path, train_fraction))
