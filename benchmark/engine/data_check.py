"""`data check`: what the readers find for each task, before anything trains.

Each task's settings come from `build_cells`, exactly as `run` resolves them (profile, task
file, `--set`); its data module is then built as a cell's would be, with evaluation uncapped
so that every split is counted whole, and set up. What tasks/data/inspect.py describes is
printed per task. A reader's error (DataError, DataUnavailable) is printed with its task and
makes the exit status 2; the other tasks are still checked. A default data set that is absent
here (DataUnavailable, no file the user named: MNIST not under --data-dir) is what `run` skips:
it is reported as skipped, with run's message, and leaves the exit status 0; a file the user
named (`--set ner.train_file=...`) that cannot be read is still an error. The processed data lands in the
cache, so the run that follows starts from it.
"""
from __future__ import annotations

import dataclasses
import sys

from benchmark.engine.cells import build_cells, check_own_files
from benchmark.errors import ConfigError, DataError, DataUnavailable
from tasks import get_task
from tasks.data.inspect import describe

FILE_SETTINGS = ("file", "files", "folder", "train_file", "val_file", "test_file", "class_files", "classes", "split")
HUB_SETTINGS = ("hub_repo", "hub_config", "hub_revision")
SUBSET_SETTINGS = ("max_train_examples", "max_train_tokens")  # why train may be smaller than its source


def check(task_names: list[str] | None, profile: str, overrides: dict, data_dir, out=None, err=None) -> int:
    """Print what each task's readers find (to `out`, None = sys.stdout at the call); 0, or 2 when a reader failed."""
    out, err = out or sys.stdout, err or sys.stderr
    failed, skipped = [], []
    for cell in build_cells(task_names, ["lstm"], ["cudnn"], 1, profile, overrides):
        print(f"{cell.task} (profile {profile}{', data dir ' + str(data_dir) if data_dir else ''})", file=out)
        try:
            facts = describe(_set_up(cell, data_dir))
        except (DataError, DataUnavailable) as e:
            _print_item("settings", given_sources(cell.task, cell.settings), out)
            if isinstance(e, DataUnavailable) and not _own_file_missing(cell, data_dir):
                print(f"  skipped: {e}", file=out)  # as `run` skips it
                skipped.append(cell.task)
                continue
            print(f"  error: {e}", file=out)
            failed.append(cell.task)
            continue
        # A reader that lists its sources says what it read (a cut split reads no file of its
        # own): then only the settings that shrink train are shown beside them.
        given = given_sources(cell.task, cell.settings, subsets_only="sources" in facts)
        if given:
            _print_item("settings", given, out)
        for heading, value in facts.items():
            _print_item(heading, value, out)
    if skipped:
        print(f"data check: skipped {', '.join(skipped)}, as `run` skips it: its default data is absent here "
              f"(messages above)", file=err)
    if failed:
        print(f"data check: the readers of {', '.join(failed)} failed (messages above)", file=err)
    return 2 if failed else 0


def _own_file_missing(cell, data_dir) -> bool:
    """A path the user set (not a task's default) cannot be read: `run` stops on it (exit 2)."""
    try:
        check_own_files([cell], data_dir)
    except ConfigError:
        return True
    return False


def _set_up(cell, data_dir):
    train = dataclasses.replace(cell.train, val_batches=0, test_batches=0)  # every split whole
    data = get_task(cell.task).datamodule(cell.settings, train, cell.seed, data_dir)
    data.prepare_data()
    data.setup("fit")
    return data


def given_sources(task: str, settings, subsets_only: bool = False) -> dict:
    """The settings that say where a task's data comes from (the hub's, or the files') and
    which part of train is kept."""
    names = () if subsets_only else HUB_SETTINGS if getattr(settings, "source", "local") == "hub" else FILE_SETTINGS
    names += SUBSET_SETTINGS
    return {f"{task}.{n}": _plain(getattr(settings, n)) for n in names if getattr(settings, n, None) not in (None, "", (), 0)}


def _plain(value):
    return [list(v) if isinstance(v, tuple) else v for v in value] if isinstance(value, tuple) else value


def _print_item(heading: str, value, out) -> None:
    if isinstance(value, dict):
        print(f"  {heading}:", file=out)
        width = max(len(str(k)) for k in value) if value else 0
        for key, item in value.items():
            print(f"    {key:<{width}}  {item}", file=out)
    else:
        print(f"  {heading}: {value}", file=out)
