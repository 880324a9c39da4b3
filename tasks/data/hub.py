"""Hub data sets by id plus a column mapping: what every real task's `source: hub` shares.

`sources.load_hub(repo, config, ..., revision)` loads the data set (or skips the cell when
the hub is unreachable and the data set is not in the local `datasets` cache); this module
picks its splits and columns by name and reads class names from its features.

- Splits: train is `train`; validation the first of validation, valid, dev, val; test `test`.
  A task decides what to do when one is missing (cut it from train, or use validation).
- A missing column is a DataError naming the data set and split, the columns it has and the
  setting to change.
- `ClassLabel` features carry their names (a label: `features[col].names`; a list of tags:
  `features[col].feature.names`): ids are kept and the names recorded.
"""
from __future__ import annotations

from benchmark.errors import DataError
from tasks.data.sources import load_hub

ROLES = ("train", "val", "test")
VALIDATION_NAMES = ("validation", "valid", "dev", "val")


def hub_name(repo: str, config: str = "", revision: str = "") -> str:
    """How messages and summaries name a hub data set: `repo`, `repo/config`, `repo/config@revision`."""
    return f"{repo}{'/' + config if config else ''}{'@' + revision if revision else ''}"


def load(settings, task: str, hint: str):
    """The DatasetDict a task's `hub_repo`, `hub_config` and `hub_revision` settings name."""
    return load_hub(settings.hub_repo, settings.hub_config, task, hint, settings.hub_revision)


def pick_splits(ds, where: str) -> dict[str, str | None]:
    """{train, val, test} -> the data set's split of that role, or None where it has none."""
    names = list(ds)
    if "train" not in names:
        raise DataError(f"{where}: no train split (splits: {', '.join(names)}); pick a data set or config with one")
    return {"train": "train", "val": next((n for n in VALIDATION_NAMES if n in names), None),
            "test": "test" if "test" in names else None}


def require_column(split, name: str, where: str, setting: str) -> str:
    if name not in split.column_names:
        raise DataError(f"{where}: no column {name!r} (columns: {', '.join(split.column_names)}); "
                        f"set {setting} to one of them")
    return name


def first_column(split, names, where: str, setting: str) -> str:
    """The first of `names` that the split has (sentiment's text_columns are tried in order)."""
    found = next((n for n in names if n in split.column_names), None)
    if found is None:
        raise DataError(f"{where}: none of the columns {list(names)} (columns: {', '.join(split.column_names)}); "
                        f"set {setting} to one of them")
    return found


def class_names(feature) -> list[str] | None:
    """The names of a ClassLabel feature, or of the ClassLabel inside a list feature (NER tags);
    None when the column holds plain values."""
    inner = getattr(feature, "feature", feature)  # List(ClassLabel) / Sequence(ClassLabel) -> ClassLabel
    names = getattr(inner, "names", None)
    return list(names) if names else None


def split_texts(ds, column: str, where: str, setting: str) -> tuple[dict, dict]:
    """({train, val, test} -> the text of that split, its rows joined by line breaks (a row is a
    line of WikiText, a whole split of tiny_shakespeare, a paragraph elsewhere), or None where
    the data set has no such split; {role: where that text came from})."""
    texts, origin = {}, {}
    for role, split in pick_splits(ds, where).items():
        texts[role] = origin[role] = None
        if split is not None:
            origin[role] = f"{where} split {split}"
            require_column(ds[split], column, origin[role], setting)
            texts[role] = "\n".join((row or "").rstrip("\n") for row in ds[split][column])
    return texts, origin
