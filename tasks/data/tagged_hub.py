"""Tagged sentences from the hub, for ner's `source: hub`: a token column and a tag column.

Any hub data set with a list of tokens and a list of tags per row (default CoNLL-2003 from
`eriktks/conll2003`: `tokens`, `ner_tags`). Tags stored as `ClassLabel` ids are mapped to their
names through the feature (`features["ner_tags"].feature.names`); tags stored as strings are
taken as they are; integer tags without names need `tag_names`. `eriktks/conll2003` keeps a
loading script, which `datasets` 4+ no longer runs: its Parquet export loads instead, hence
the default `hub_revision: refs/convert/parquet`.

The sentences then go through the CoNLL reader's checks and encoding (tasks/data/conll.py):
the same tag syntax, scheme detection and tag set from train. Messages name a row as
`repo:split:row`.
"""
from __future__ import annotations

import dataclasses

from benchmark.errors import DataError
from tasks.data import hub
from tasks.data.conll import ENCODED, TAG, TaggedSentences, encode_splits
from tasks.data.sequences import SequenceData
from tasks.data.sources import cached

TASK = "ner"


def read_tagged(rows, split: str, settings, name: str) -> TaggedSentences:
    where = f"{name} split {split}"
    tokens_col = hub.require_column(rows, settings.tokens_column, where, "ner.tokens_column")
    tags_col = hub.require_column(rows, settings.tags_column, where, "ner.tags_column")
    names = hub.class_names(rows.features[tags_col]) or list(settings.tag_names) or None
    out = TaggedSentences([], [], [], f"{name}:{split}")
    for row, (tokens, tags) in enumerate(zip(rows[tokens_col], rows[tags_col]), start=1):
        if not tokens:
            continue  # an empty row, as a blank line between sentences
        if len(tokens) != len(tags):
            raise DataError(f"{out.path}:{row}: {len(tokens)} tokens but {len(tags)} tags")
        tags = [_tag_name(t, names, out.path, row) for t in tags]
        out.tokens.append([t.lower() if settings.lowercase else t for t in tokens])
        out.tags.append(tags)
        out.lines.append([row] * len(tokens))  # the row stands in for the line in messages
    if not out.tokens:
        raise DataError(f"{where}: no sentences in columns {tokens_col!r} / {tags_col!r}")
    return out


def _tag_name(tag, names, where: str, row: int) -> str:
    if isinstance(tag, int) and not isinstance(tag, bool):
        if not names:
            raise DataError(f"{where}:{row}: tags are integers without names (the column is not a ClassLabel); "
                            f"set ner.tag_names to the names in id order, e.g. [O, B-PER, I-PER, ...]")
        if not 0 <= tag < len(names):
            raise DataError(f"{where}:{row}: tag id {tag} outside the {len(names)} tag names")
        tag = names[tag]
    if not isinstance(tag, str) or not TAG.match(tag):
        raise DataError(f"{where}:{row}: bad tag {tag!r}: expected O, B-TYPE or I-TYPE (IOB1/IOB2)")
    return tag


def read_hub(settings) -> tuple[dict[str, TaggedSentences], dict]:
    name = hub.hub_name(settings.hub_repo, settings.hub_config, settings.hub_revision)
    hint = "put CoNLL-style files at ner.train_file / val_file / test_file and use ner.source=local"
    ds = hub.load(settings, TASK, hint)
    roles = hub.pick_splits(ds, name)
    missing = [role for role, split in roles.items() if split is None]
    if missing:
        raise DataError(f"{name}: no {' or '.join(missing)} split (splits: {', '.join(ds)}); ner needs train, "
                        f"validation and test")
    raw = {role: read_tagged(ds[split], split, settings, name) for role, split in roles.items()}
    named = "names from the ClassLabel feature" if hub.class_names(ds["train"].features[settings.tags_column]) \
        else "tags as stored" if not settings.tag_names else "names from ner.tag_names"
    sources = {role: f"{name} split {split} (tokens {settings.tokens_column!r}, tags {settings.tags_column!r}; "
                     f"{named})" for role, split in roles.items()}
    return raw, sources


def load_hub_ner(settings) -> dict:
    """As conll.load_ner, from the hub; cached, keyed by the settings."""
    key = dataclasses.asdict(settings)
    for model_only in ("embedding_dim", "dropout"):
        key.pop(model_only)

    def build():
        raw, sources = read_hub(settings)
        # encode_splits names train_file in messages: here the hub's train split is the train file.
        loaded = encode_splits(raw, dataclasses.replace(settings, train_file=sources["train"]))
        return {**loaded, "summary": {"sources": sources, "tag_names": loaded["tag_names"],
                                      "scheme": loaded["scheme"]}}
    return cached("ner-hub", [], key, build, {**ENCODED, "summary": dict})


def hub_ner_data(settings, train, seed: int) -> SequenceData:
    loaded = load_hub_ner(settings)
    return SequenceData(loaded["splits"], train, seed, vocab=loaded["vocab"], tag_names=loaded["tag_names"],
                        scheme=loaded["scheme"], summary=loaded["summary"])
