"""MQAR as a memory-span axis (pairs held at once, at fixed settings), its bits per state unit,
the spans table, and the length-generalisation table of a run."""
from __future__ import annotations

import json

import pytest

from benchmark.engine.cells import build_cells
from benchmark.errors import ConfigError
from benchmark.launchers import run_matrix
from benchmark.measurements import memory_span
from benchmark.measurements.settings import load
from benchmark.reports.render import render
from benchmark.reports.spans import spans_table
from benchmark.reports.tables import length_bands, length_tables


def test_mqar_pairs_are_a_memory_axis_at_the_settings_held_fixed():
    settings = load("mqar-cpu", "memory_span")
    held = memory_span.fixed(settings, "mqar")
    assert memory_span.task_cell("mqar", 8, held) == ("mqar", {**held, "pairs": 8})
    lstm = next(a for a in memory_span.arms(settings, "mqar") if a.family == "lstm")
    cell = memory_span.plan("grid", "mqar", lstm, 4, 0, 0.003, 50, settings, "mqar-cpu").cell
    assert (cell.task, cell.settings.pairs, cell.settings.vocab, cell.settings.length) == ("mqar", 4, 64, 32)
    assert cell.train.stop_at == settings["solved"]["mqar"] and cell.train.max_steps == 50
    # its parameters are counted for what the recurrent layer reads: the embedding
    assert lstm.describe(memory_span.input_size(settings, "mqar"))["params"] == 4 * (32 * 64 + 64 * 64 + 2 * 64)
    chrono = memory_span.Arm("lstm-chrono", "lstm", 64, init="chrono")
    assert chrono.model(memory_span.horizon(settings, "mqar", 4))["init"] == "chrono:32"  # the sequence, not 4 pairs


def test_selective_copy_is_a_memory_axis_of_its_length():
    settings = load("full", "memory_span")
    assert memory_span.task_cell("selective_copy", 256, memory_span.fixed(settings, "selective_copy")) == (
        "selective_copy", {"tokens": 16, "vocab": 16, "length": 256})
    assert memory_span.input_size(settings, "selective_copy") == 18  # the vocabulary, noise and the marker
    gru = next(a for a in memory_span.arms(settings, "selective_copy") if a.name == "gru")
    cell = memory_span.plan("grid", "selective_copy", gru, 64, 0, 0.001, 20, settings, "full").cell
    assert (cell.settings.length, cell.settings.tokens) == (64, 16)


def test_bits_recalled_count_the_values_over_every_state_tensor():
    settings = load("mqar-cpu", "memory_span")
    lstm = memory_span.bits_recalled(settings, "mqar", 2, "lstm", 64)
    assert lstm == {"bits": 10.0, "state_units": 128, "per_state_unit": 10 / 128, "vocab": 64}  # log2(32) a value; h and c
    assert memory_span.bits_recalled(settings, "mqar", 2, "gru", 64)["state_units"] == 64
    assert memory_span.bits_recalled(settings, "recall", 20, "gru", 64) is None  # a time axis: no bits


@pytest.mark.parametrize("override, message", [
    ({"tasks": {"parity_check": [10]}}, "has no memory axis; memory tasks: recall, copy, adding, selective_copy, mqar"),
    ({"fixed": {"copy": {"delay": 3}}}, "fixed.copy .* expected the settings a task of memory_span.tasks holds"),
])
def test_bad_memory_axes_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load("mqar-cpu", "memory_span", overrides={"memory_span": override})


def test_a_tiny_mqar_span_is_measured_and_tabled(tmp_path):
    """Two pair counts, one seed, a few steps: every cell runs, the span and its bits are
    summarised, and the table says pairs, not steps."""
    settings = load("mqar-cpu", "memory_span", seeds=1, overrides={"memory_span": {
        "tasks": {"mqar": [1, 2]}, "caps": {"mqar": {1: 30, 2: 30}}, "hidden": 8, "parallel": 1,
        "tuning": {"lrs": [0.01], "seeds": [1000]}, "fixed": {"mqar": {"vocab": 16, "length": 16, "embedding_dim": 4}},
        "train": {"batch_size": 8, "val_every": 10, "val_batches": 1, "test_batches": 1, "log_every": 10}}})
    result = memory_span.run(settings, tmp_path, "mqar-cpu")
    assert result["failed_cells"] == 0
    spans = result["spans"]["mqar"]
    assert set(spans) == {"rnn", "lstm", "gru"} and all(set(s["lags"]) == {"1", "2"} for s in spans.values())
    for arm, s in spans.items():
        bits = s["bits_recalled"]
        assert bits["bits"] == s["span"] * 3  # log2(16 / 2) bits a value
    assert {a["axis"] for a in result["arms"]} == {"pairs"}
    table = spans_table(result)
    assert all(v.endswith(" pairs") for v in table.frame["span"]) and "bits / state unit" in table.frame
    assert "| mqar | lstm |" in render([table], "md")


def test_length_bands_cut_the_unseen_lengths_near_and_far():
    assert length_bands(40, 500) == [(41, 80), (81, 200), (201, 400), (401, 500)]
    assert length_bands(10, 40) == [(11, 20), (21, 40)]


def test_the_length_table_gives_each_band_per_model_over_seeds(tmp_path):
    overrides = {"parity_check": {"max_train_length": 4}, "eval": {"max_length": 12, "per_length": 16},
                 "train": {"max_steps": 10, "val_batches": 1, "test_batches": 1}}
    cells = build_cells(["parity_check"], ["rnn", "lstm"], ["cudnn"], 2, "smoke", overrides)
    cells += build_cells(["reverse_string"], ["lstm"], ["cudnn"], 1, "smoke",  # another task, its own lengths
                         {**overrides, "reverse_string": {"max_train_length": 6}, "eval": {"max_length": 9}})
    run_matrix(cells, tmp_path, parallel=1)
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    table, reverse = length_tables(records)
    assert reverse.title.startswith("reverse_string") and {"7-9"} <= set(reverse.frame.columns)
    frame = table.frame
    assert list(frame["model"]) == ["lstm/cudnn", "rnn/cudnn"] and list(frame["seeds"]) == [2, 2]
    assert {"5-8", "9-12", "all unseen (unseen_acc)", "in distribution (acc)"} <= set(frame.columns)
    lstm = [r for r in records if r["model"] == "lstm" and r["task"] == "parity_check"]
    mean = sum(r["metrics"]["test/unseen_acc"] for r in lstm) / 2
    assert frame.loc[0, "all unseen (unseen_acc)"].startswith(f"{mean:.3f} [")
    assert "Chance: 0.5" in table.notes[0]
