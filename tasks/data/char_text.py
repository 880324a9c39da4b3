"""A plain-text file as characters, for char_lm (default Tiny Shakespeare).

The text file is split by position: the first `train_fraction` (0.9, the usual split) is
training text; the rest is held out and halved, its first half validation, its second half
test (Tiny Shakespeare: 1,003,854 / 55,770 / 55,770 characters).

With `files` (train, valid, test) each split is its own file, read as Mikolov's character
files are derived from the word files (character-level PTB, as Bai et al. 2018 use it): each
line stripped of its surrounding blanks, one sentence a line, the line break a character (the
character files' end of sentence); words stay separated by one space (Mikolov writes `_`).

With `source: hub`, any text data set (`hub_repo`, default `karpathy/tiny_shakespeare`;
`hub_config`, `hub_revision`, `text_column`): each split's rows joined by line breaks, as is;
a data set without validation and test splits is cut from its train text by `train_fraction`,
as a single file is.
"""
from __future__ import annotations

import functools

from tasks.data.corpus import Corpus, LanguageModelData, build_corpus, char_tokens
from tasks.data import hub
from tasks.data.sources import cached, local_file, read_text

TASK = "char_lm"  # names the task in messages about missing files


def load_chars(path, train_fraction: float) -> Corpus:
    return cut_chars(read_text(path), train_fraction, str(path))


def cut_chars(text: str, train_fraction: float, where: str) -> Corpus:
    """One text cut by position: the first `train_fraction` train, the rest halved (val, test)."""
    char_tokens(text, where)  # an empty text is an error, not an empty data set
    cut = int(len(text) * train_fraction)
    half = cut + (len(text) - cut) // 2
    parts = {"train": text[:cut], "val": text[cut:half], "test": text[half:]}
    spans = {"train": f"[0:{cut}]", "val": f"[{cut}:{half}]", "test": f"[{half}:{len(text)}]"}
    origin = {name: f"{where} chars {spans[name]}" for name in parts}
    return build_corpus({name: char_tokens(part, origin[name]) for name, part in parts.items()}, origin)


def load_hub_chars(settings) -> Corpus:
    """settings: char_lm's (hub_repo, hub_config, hub_revision, text_column, train_fraction)."""
    name = hub.hub_name(settings.hub_repo, settings.hub_config, settings.hub_revision)
    hint = "put a text file at char_lm.file (under --data-dir DIR) and use char_lm.source=local"
    texts, origin = hub.split_texts(hub.load(settings, TASK, hint), settings.text_column, name,
                                    "char_lm.text_column")
    if texts["val"] is None or texts["test"] is None:
        return cut_chars(texts["train"], settings.train_fraction, origin["train"])
    return build_corpus({split: char_tokens(text, origin[split]) for split, text in texts.items()}, origin)


def load_char_splits(paths: dict) -> Corpus:
    """{split: path} -> a Corpus of characters, one sentence a line (see the module's docstring)."""
    parts, origin = {}, {}
    for name, path in paths.items():
        origin[name] = f"{path} (chars, lines stripped)"
        text = "".join(line.strip() + "\n" for line in read_text(path).splitlines() if line.strip())
        parts[name] = char_tokens(text, origin[name])
    return build_corpus(parts, origin)


def char_lm_data(settings, train, data_dir) -> LanguageModelData:
    """settings: char_lm's (file, train_fraction, bptt, eval_batch_size, max_train_tokens);
    train: batch_size. The corpus is read (or taken from the cache) at `setup`."""
    # A partial over a module-level function, not a closure: multi-device training pickles the data module.
    if settings.source == "hub":
        load = functools.partial(_cached_hub_chars, settings)
    elif settings.files:
        load = functools.partial(_cached_char_splits, data_dir, tuple(settings.files))
    else:
        load = functools.partial(_cached_chars, data_dir, settings.file, settings.train_fraction)
    return LanguageModelData(load, train.batch_size, settings.eval_batch_size, settings.bptt,
                             settings.max_train_tokens)


def _cached_hub_chars(settings) -> Corpus:
    key = {k: getattr(settings, k) for k in ("hub_repo", "hub_config", "hub_revision", "text_column",
                                             "train_fraction")}
    return cached("char_lm-hub", [], key, lambda: load_hub_chars(settings), Corpus)


def _cached_chars(data_dir, file: str, train_fraction: float) -> Corpus:
    path = local_file(data_dir, file, TASK)
    return cached("char_lm", [path], {"train_fraction": train_fraction}, lambda: load_chars(path, train_fraction),
                  Corpus)


def _cached_char_splits(data_dir, files: tuple) -> Corpus:
    paths = dict(zip(("train", "val", "test"), (local_file(data_dir, f, TASK) for f in files)))
    return cached("char_lm", list(paths.values()), {"splits": "files, lines stripped"}, lambda: load_char_splits(paths),
                  Corpus)
