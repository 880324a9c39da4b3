"""One path from configuration to cells, and one runner that trains every model the suite trains."""
import pickle

import pytest
import torch

from benchmark import config
from benchmark.bench.overhead import make_cell
from benchmark.config import ConfigError, parse_set
from benchmark.engine.cells import build_cells, check_own_files
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
    ({"optim": {"lr": 1}}, ["optim", "model, train or a task"]),
    ({"train": 3}, ["SECTION.KEY=VALUE"]),
    ({"train": {"lrate": 1}}, ["lrate", "allowed"]),
])
def test_bad_overrides_name_the_thing_and_the_fix(overrides, words):
    with pytest.raises(ConfigError) as e:
        build_cells(["copy"], ["lstm"], ["cudnn"], 1, "smoke", overrides)
    assert all(w in str(e.value) for w in words)


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
