"""Word-level text for word_lm, default Penn Treebank (Mikolov's 10k-word version).

Each line is a sentence; `<eos>` closes it, and the vocabulary is the training split's
(PTB: 929,589 / 73,760 / 82,430 tokens with `<eos>`, 10,000 words). Sources: `local`, a
folder under the data directory with train/valid/test text files (PTB's names by default;
WikiText-2's wiki.{train,valid,test}.tokens work the same), or `hub`, any text data set:
`hub_repo` / `hub_config` / `hub_revision` (WikiText-2 from `Salesforce/wikitext`, config
wikitext-2-v1, by default) and its `text_column`, a row a line. A data set with only a train
split is cut by lines: the first HUB_TRAIN_FRACTION train, the rest halved (val, test).
"""
from __future__ import annotations

import functools

from tasks.data import hub
from tasks.data.corpus import SPLITS, Corpus, LanguageModelData, build_corpus, word_tokens
from tasks.data.sources import cached, local_file, read_text

TASK = "word_lm"  # names the task in messages about missing files
HUB_TRAIN_FRACTION = 0.9  # a hub data set with a train split alone: its first 90% of lines train


def load_local_words(paths: dict) -> Corpus:
    splits = {name: word_tokens(read_text(paths[name]), str(paths[name])) for name in SPLITS}
    return build_corpus(splits, {name: str(p) for name, p in paths.items()})


def load_hub_words(settings, hint: str) -> Corpus:
    """settings: word_lm's (hub_repo, hub_config, hub_revision, text_column)."""
    name = hub.hub_name(settings.hub_repo, settings.hub_config, settings.hub_revision)
    texts, origin = hub.split_texts(hub.load(settings, TASK, hint), settings.text_column, name,
                                    "word_lm.text_column")
    if texts["val"] is None or texts["test"] is None:
        texts, origin = cut_lines(texts["train"], origin["train"])
    return build_corpus({split: word_tokens(texts[split], origin[split]) for split in SPLITS}, origin)


def cut_lines(text: str, where: str) -> tuple[dict, dict]:
    lines = text.split("\n")
    cut = int(len(lines) * HUB_TRAIN_FRACTION)
    half = cut + (len(lines) - cut) // 2
    spans = {"train": (0, cut), "val": (cut, half), "test": (half, len(lines))}
    return ({split: "\n".join(lines[a:b]) for split, (a, b) in spans.items()},
            {split: f"{where} lines [{a}:{b}]" for split, (a, b) in spans.items()})


def word_lm_data(settings, train, data_dir) -> LanguageModelData:
    """settings: word_lm's (source, folder, files, hub_*, text_column, bptt, eval_batch_size,
    max_train_tokens); train: batch_size. The corpus is read (or taken from the cache) at `setup`."""
    # A partial over a module-level function, not a closure: multi-device training pickles the data module.
    load = functools.partial(_cached_words, settings, data_dir)
    return LanguageModelData(load, train.batch_size, settings.eval_batch_size, settings.bptt,
                             settings.max_train_tokens)


def _cached_words(settings, data_dir) -> Corpus:
    folder = settings.folder
    if settings.source == "hub":
        hint = (f"put train/valid/test text files in DIR/{folder}/, set word_lm.files, "
                f"and run with word_lm.source=local --data-dir DIR")
        key = {"repo": settings.hub_repo, "config": settings.hub_config, "revision": settings.hub_revision,
               "text_column": settings.text_column}
        return cached("word_lm-hub", [], key, lambda: load_hub_words(settings, hint), Corpus)
    paths = {name: local_file(data_dir, f"{folder}/{file}", TASK) for name, file in zip(SPLITS, settings.files)}
    return cached("word_lm", list(paths.values()), {"eos": True}, lambda: load_local_words(paths), Corpus)
