"""Word-level text for word_lm, default Penn Treebank (Mikolov's 10k-word version).

Each line is a sentence; `<eos>` closes it, and the vocabulary is the training split's
(PTB: 929,589 / 73,760 / 82,430 tokens with `<eos>`, 10,000 words). Sources: `local`, a
folder under the data directory with train/valid/test text files (PTB's names by default;
WikiText-2's wiki.{train,valid,test}.tokens work the same), or `hub`, WikiText-2 from
`Salesforce/wikitext` (config wikitext-2-v1).
"""
from __future__ import annotations

import functools

from tasks.data.corpus import SPLITS, Corpus, LanguageModelData, build_corpus, word_tokens
from tasks.data.sources import cached, load_hub, local_file, read_text

TASK = "word_lm"  # names the task in messages about missing files
HUB_SPLITS = {"train": "train", "val": "validation", "test": "test"}


def load_local_words(paths: dict) -> Corpus:
    splits = {name: word_tokens(read_text(paths[name]), str(paths[name])) for name in SPLITS}
    return build_corpus(splits, {name: str(p) for name, p in paths.items()})


def load_hub_words(repo: str, config: str, hint: str) -> Corpus:
    data = load_hub(repo, config, TASK, hint)
    splits, origin = {}, {}
    for name, hub_name in HUB_SPLITS.items():
        origin[name] = f"{repo}/{config} split {hub_name}"
        lines = (row.rstrip("\n") for row in data[hub_name]["text"])
        splits[name] = word_tokens("\n".join(lines), origin[name])
    return build_corpus(splits, origin)


def word_lm_data(settings, train, data_dir) -> LanguageModelData:
    """settings: word_lm's (source, folder, files, hub_repo, hub_config, bptt, eval_batch_size,
    max_train_tokens); train: batch_size. The corpus is read (or taken from the cache) at `setup`."""
    # A partial over a module-level function, not a closure: multi-device training pickles the data module.
    load = functools.partial(_cached_words, settings.source, data_dir, settings.folder, tuple(settings.files),
                             settings.hub_repo, settings.hub_config)
    return LanguageModelData(load, train.batch_size, settings.eval_batch_size, settings.bptt,
                             settings.max_train_tokens)


def _cached_words(source: str, data_dir, folder: str, files: tuple, hub_repo: str, hub_config: str) -> Corpus:
    if source == "hub":
        hint = (f"put train/valid/test text files in DIR/{folder}/, set word_lm.files, "
                f"and run with word_lm.source=local --data-dir DIR")
        return cached("word_lm-hub", [], {"repo": hub_repo, "config": hub_config},
                      lambda: load_hub_words(hub_repo, hub_config, hint))
    paths = {name: local_file(data_dir, f"{folder}/{file}", TASK) for name, file in zip(SPLITS, files)}
    return cached("word_lm", list(paths.values()), {"eos": True}, lambda: load_local_words(paths))
