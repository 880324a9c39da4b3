"""One path from configuration to cells, and one runner that trains every model the suite trains."""
import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from benchmark import config
from benchmark.bench.overhead import make_cell
from benchmark.config import ConfigError, parse_set
from benchmark.engine.cells import build_cells, check_own_files, current_group
from benchmark.engine.records import base_record
from benchmark.engine.runner import build_module, fit_cell
from benchmark.launchers import run_matrix
from benchmark.engine.store import ResultsStore
from benchmark.measurements import gradient_flow, memory_span
from tasks import all_tasks

TINY = {"max_steps": 4, "batch_size": 4, "val_batches": 1, "test_batches": 1, "log_every": 2}


def test_set_pairs_and_typed_overrides_build_the_same_cells():
    pairs = ["train.lr=0.02", "model.hidden=24", "copy.delay=7"]
    typed = {"train": {"lr": 0.02}, "model": {"hidden": 24}, "copy": {"delay": 7}}
    from_pairs = build_cells(["copy"], ["lstm,gru"], ["cudnn"], 2, "smoke", parse_set(pairs))
    assert [c.key for c in from_pairs] == [c.key for c in build_cells(["copy"], ["lstm", "gru"], ["cudnn"], 2,
                                                                        "smoke", typed)]
    cell = from_pairs[0]
    assert (cell.train.lr, cell.model.hidden, cell.settings.delay, cell.profile) == (0.02, 24, 7, "smoke")
    assert [c.seed for c in from_pairs] == [0, 1, 0, 1]


def test_defaults_without_a_profile_and_explicit_seeds():
    (cell,) = build_cells(["adding"], ["rnn"], ["scratch"], [5], None)
    assert cell.profile == "defaults" and cell.seed == 5
    assert cell.train.max_steps == config.TrainConfig().max_steps  # configs/defaults.yaml, no profile on top
    assert len(build_cells(None, None, ["cudnn"], 1, "smoke")) == len(all_tasks()) * len(config.VARIANTS)


@pytest.mark.parametrize("overrides, words", [
    ({"optim": {"lr": 1}}, ["optim", "model, train, eval or a task"]),
    ({"train": 3}, ["SECTION.KEY=VALUE"]),
    ({"train": {"lrate": 1}}, ["lrate", "allowed"]),
])
def test_bad_overrides_name_the_thing_and_the_fix(overrides, words):
    with pytest.raises(ConfigError) as e:
        build_cells(["copy"], ["lstm"], ["cudnn"], 1, "smoke", overrides)
    assert all(w in str(e.value) for w in words)


# --- one spelling of a task setting: copy.delay on the command line, in profiles and task files ------
@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    """A copy of configs/, as a user's own RNNBENCH_CONFIG_DIR would be."""
    root = tmp_path / "configs"
    shutil.copytree(config.CONFIG_DIR, root)
    monkeypatch.setattr(config, "CONFIG_DIR", root)
    return root


def test_a_task_setting_is_spelled_the_same_in_a_profile_and_in_set(config_dir):
    (config_dir / "profiles" / "mine.yaml").write_text(
        "model: {hidden: 16}\ntrain: {max_steps: 30}\n"
        "copy:\n  delay: 7\n  model: {hidden: 24}\n  train: {lr: 0.02}\n")
    from_profile = build_cells(["copy", "adding"], ["lstm"], ["cudnn"], 1, "mine")
    from_set = build_cells(["copy", "adding"], ["lstm"], ["cudnn"], 1, None, parse_set(
        ["model.hidden=16", "train.max_steps=30", "copy.delay=7", "copy.model.hidden=24", "copy.train.lr=0.02"]))
    assert [{**c.config(), "profile": None} for c in from_profile] == [{**c.config(), "profile": None} for c in from_set]
    copy_cell, adding_cell = from_profile
    assert (copy_cell.settings.delay, copy_cell.model.hidden, copy_cell.train.lr) == (7, 24, 0.02)
    assert (adding_cell.model.hidden, adding_cell.train.lr) == (16, 0.002)  # copy's block is copy's alone
    assert copy_cell.settings.symbols == 10  # configs/tasks/copy.yaml's `copy: {symbols: 10}` below the profile


WHY = "(a task's settings sit under its name at the top level)"


@pytest.mark.parametrize("file, text, message", [
    ("profiles/old.yaml", "tasks:\n  copy:\n    task: {delay: 10}\n    model: {hidden: 64}\n",
     f"`tasks.copy.task.delay` is now spelled `copy.delay` {WHY}"),
    ("profiles/old.yaml", "tasks:\n  copy:\n    model: {hidden: 64}\n",
     f"`tasks.copy.model.hidden` is now spelled `copy.model.hidden` {WHY}"),
    ("profiles/old.yaml", "copy:\n  task: {delay: 10}\n", f"`copy.task.delay` is now spelled `copy.delay` {WHY}"),
    ("profiles/old.yaml", "task: {delay: 10}\n", "`task.delay` is now spelled per task, `<task>.delay` (e.g. `copy.delay`;"),
    ("profiles/old.yaml", "cpy: {delay: 10}\n", "unknown key 'cpy'; a profile holds model, train, eval and a block per task"),
    ("tasks/copy.yaml", "task:\n  delay: 100\n", f"`task.delay` is now spelled `copy.delay` {WHY}"),
])
def test_an_old_spelling_in_a_file_is_one_line_naming_the_file_and_the_new_spelling(config_dir, file, text, message):
    (config_dir / file).write_text(text)
    with pytest.raises(ConfigError) as e:
        build_cells(["copy"], ["lstm"], ["cudnn"], 1, "old" if file.startswith("profiles") else None)
    assert str(e.value).startswith(f"{config_dir / file}: ") and message in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("pair, message", [
    ("task.delay=5", "--set: `task.delay` is now spelled `<task>.delay` (e.g. `copy.delay`"),
    ("copy.task.delay=5", f"--set: `copy.task.delay` is now spelled `copy.delay` {WHY}"),
])
def test_an_old_spelling_on_the_command_line_names_the_new_one(pair, message):
    with pytest.raises(ConfigError) as e:
        build_cells(["copy"], ["lstm"], ["cudnn"], 1, "smoke", parse_set([pair]))
    assert message in str(e.value) and "\n" not in str(e.value)


REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"


@pytest.mark.parametrize("folder, profile, tasks", [
    ("matrix", "smoke", ["copy", "adding", "char_lm", "ner", "word_lm"]),
    ("papers", "zaremba-small", ["word_lm"]),
])
def test_the_shipped_profiles_keep_the_groups_of_the_published_runs(folder, profile, tasks):
    """The cells the shipped profiles build today are the groups of the published records in
    results/reference/ (as this version reads a record: engine.cells.current_group), so those
    finished runs are reused, whatever the profiles' spelling."""
    records = [json.loads(line) for line in (REFERENCE / folder / "results.jsonl").read_text().splitlines()]
    records = [r for r in records if r["task"] in tasks]
    built = {(c.task, c.model.variant): c.group
             for c in build_cells(tasks, sorted({r["model"] for r in records}), ["cudnn"], 1, profile)}
    assert len(records) >= len(tasks) * 3
    assert {(r["task"], r["model"]): current_group(r["config"]) for r in records} == \
        {k: built[k] for k in {(r["task"], r["model"]) for r in records}}


def test_bench_and_measurements_build_their_cells_the_same_way():
    """bench overhead's cell and a memory-span cell equal the cells `run` builds for the same settings."""
    bench = make_cell("copy", "gru", 16, 5, overrides={"copy": {"delay": 6}})
    assert bench == build_cells(["copy"], ["gru"], ["cudnn"], 1, None, {
        "model": {"hidden": 16}, "copy": {"delay": 6},
        "train": {"max_steps": 5, "val_every": 0, "val_batches": 1, "test_batches": 1}})[0]
    settings = {"arms": {"rnn": {"family": "rnn"}}, "hidden": 8, "train": {**TINY, "val_every": 5},
                "solved": {"recall": "recall_acc>=0.99"}}
    (arm,) = memory_span.arms(settings)
    p = memory_span.plan("grid", "recall", arm, 5, 0, 0.01, 10, settings, "smoke")
    assert (p.arm.name, p.lag, p.seed) == ("rnn", 5, 0)
    assert p.cell == build_cells(["copy"], ["rnn"], ["cudnn"], 1, "smoke", parse_set(
        ["copy.delay=4", "copy.symbols=1", "model.hidden=8", "model.num_layers=1", "model.init=orthogonal",
         "train.lr=0.01", "train.max_steps=10", "train.val_every=5", "train.stop_at=recall_acc>=0.99",
         "train.save_weights=true", *[f"train.{k}={v}" for k, v in TINY.items() if k != "max_steps"]]))[0]


def test_a_memory_cell_keeps_its_weights_and_gradient_flow_reads_them_back(tmp_path):
    """The trained models gradient flow measures are the memory-span cells themselves: trained by
    the matrix, weights saved as tensors, read back weights-only into the same module."""
    settings = {"arms": {"lstm": {"family": "lstm"}}, "hidden": 8, "train": {**TINY, "val_every": 2},
                "solved": {"recall": "recall_acc>=0.99"}}
    (arm,) = memory_span.arms(settings)
    p = memory_span.plan("grid", "recall", arm, 4, 0, 0.01, 4, settings, "smoke")
    run = fit_cell(p.cell, tmp_path)
    assert run.record["weights"].endswith("weights.pt")
    module = gradient_flow.trained_module(p.cell, tmp_path / run.record["weights"])
    assert torch.equal(module.encoder.rnn.weight_hh_l0, run.module.encoder.rnn.weight_hh_l0.cpu())
    initial = gradient_flow.initial_module(p.cell)  # the same cell before its first step
    assert not torch.equal(initial.encoder.rnn.weight_hh_l0, module.encoder.rnn.weight_hh_l0)


def test_fit_cell_hands_back_the_fitted_module_only_when_it_trained(tmp_path):
    (cell,) = build_cells(["adding"], ["gru"], ["cudnn"], 1, "smoke", {"train": TINY, "adding": {"length": 6}})
    run = fit_cell(cell, tmp_path)
    assert run.record["status"] == "ok" and run.module.global_step == TINY["max_steps"]
    _, fresh = build_module(cell)
    assert not torch.equal(fresh.head.weight, run.module.head.weight)
    (no_data,) = build_cells(["sentiment"], ["gru"], ["cudnn"], 1, "smoke", {"train": TINY})
    skipped = fit_cell(no_data, tmp_path, data_dir=tmp_path / "empty")  # no SST-2 files there
    assert skipped.record["status"] == "skipped" and skipped.module is None


@pytest.mark.parametrize("task", ["copy", "adding"])
def test_synthetic_data_modules_pickle_for_multi_process_training(task):
    (cell,) = build_cells([task], ["lstm"], ["cudnn"], 1, "smoke", {"train": TINY})
    data, _ = build_module(cell)
    again = pickle.loads(pickle.dumps(data))
    first = next(iter(data.train_dataloader()))
    assert all(torch.equal(a, b) for a, b in zip(first, next(iter(again.train_dataloader()))))


# --- the user's own files, checked before training ------------------------------------------------
def test_a_mistyped_own_file_is_a_config_error_naming_the_setting_and_the_path(tmp_path):
    (tmp_path / "sales.csv").write_text("date,a\n")
    cells = build_cells(["forecast"], ["lstm"], ["cudnn"], 1, "smoke", {"forecast": {"file": str(tmp_path / "sale.csv")}})
    with pytest.raises(ConfigError, match=rf"forecast.file: no such file or folder {tmp_path / 'sale.csv'} "
                                          r"\(the closest name there: sales.csv\)\. Fix the path"):
        check_own_files(cells, None)
    with pytest.raises(ConfigError, match="forecast.file"):  # run_matrix checks first: nothing trains, no folder
        run_matrix(cells, tmp_path / "never")
    assert not (tmp_path / "never").exists()
    relative = build_cells(["ner"], ["lstm"], ["cudnn"], 1, "smoke", {"ner": {"val_file": "mine/dev.conll"}})
    with pytest.raises(ConfigError, match=r"ner.val_file: no such file or folder .*'mine/dev.conll' under the data"):
        check_own_files(relative, tmp_path)
    words = build_cells(["word_lm"], ["lstm"], ["cudnn"], 1, "smoke", {"word_lm": {"folder": "wikitext-2"}})
    with pytest.raises(ConfigError, match=r"word_lm.folder/files\[0\]: .*wikitext-2/ptb.train.txt"):
        check_own_files(words, tmp_path)


def test_default_data_sets_hub_sources_and_existing_files_pass_the_check(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "mine.csv").write_text("date,a\n")
    fine = [
        *build_cells(["sentiment", "ner", "forecast", "char_lm"], ["lstm"], ["cudnn"], 1, "smoke"),  # defaults
        *build_cells(["forecast"], ["lstm"], ["cudnn"], 1, "smoke", {"forecast": {"file": str(tmp_path / "mine.csv")}}),
        *build_cells(["word_lm"], ["lstm"], ["cudnn"], 1, "smoke", {"word_lm": {"source": "hub", "folder": "nope"}}),
        # bai2018's character PTB reads word_lm's default files: a default data set, skipped where absent
        *build_cells(["char_lm"], ["lstm"], ["cudnn"], 1, "bai2018"),
    ]
    check_own_files(fine, empty)
    check_own_files(fine, None)


def test_a_record_written_before_a_setting_existed_still_counts_as_done(tmp_path):
    (cell,) = build_cells(["copy"], ["rnn"], ["cudnn"], 1, "smoke", {})
    old = {**base_record(cell), "status": "ok"}
    del old["config"]["settings"]["encoding"]  # as a record from before copy.encoding existed
    old["group"] = "0123456789"
    old["key"] = f"{cell.name}/0123456789"
    ResultsStore(tmp_path).append(old)
    assert not ResultsStore(tmp_path).todo(cell.key, ResultsStore(tmp_path).latest(), retry_failed=False)
