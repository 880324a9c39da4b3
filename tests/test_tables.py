"""The comparison tables: runs with other settings kept apart, baselines in every format, the best
value marked, one number format, test metrics first and the rest in a detail table."""
import io
import json

import pandas as pd

from benchmark.engine.cells import build_cells
from benchmark.engine.records import base_record, na_record
from benchmark.reports.render import Table, number, render as render_tables
from benchmark.reports.tables import render, summarise


def record(model="rnn", delay=None, hidden=None, seed=0, loss=0.5, acc=0.2, **metrics):
    overrides = {"copy": {"delay": delay} if delay else {}, "model": {"hidden": hidden} if hidden else {}}
    (cell,) = build_cells(["copy"], [model], ["cudnn"], [seed], "smoke", overrides)
    if cell.na_reason:
        return na_record(cell)
    memoryless = 10 * 2.0794415416798357 / (2 * 10 + (delay or 10))  # S ln 8 / (T + 2S), as the task reports
    return {**base_record(cell), "status": "ok", "params": 100, "train_tokens_per_s": 19550.0, "wall_s": 1.0,
            "peak_mem_bytes": 2**20, "device": "cpu", "baselines": {"memoryless": {"loss": memoryless}},
            "metrics": {"test/loss": loss, "test/recall_acc": acc, "val/loss": loss, **metrics}}


def test_runs_with_other_task_settings_form_sections_each_beside_its_own_baseline():
    rows = summarise([record("rnn"), record("gru", loss=0.4), record("rnn", delay=40, loss=0.3)])
    md = render(rows, "md")
    short, long = md.split("### copy · copy.delay=40 (")
    assert "### copy · copy.delay=10" in short and "0.6931" in short and "0.3466" not in short
    assert "0.3466" in long and "0.6931" not in long and "| gru" not in long
    assert [r["section"] for r in rows] == [{"copy.delay": 10}] * 2 + [{"copy.delay": 40}]


def test_model_settings_that_differ_are_a_column_not_a_mixed_row():
    rows = summarise([record("rnn"), record("rnn", hidden=256, loss=0.3)])
    assert len(rows) == 2 and all(r["section"] == {} for r in rows)
    md = render(rows, "md")
    assert "| settings |" in md and "| model.hidden=256 |" in md and "| model.hidden=64 |" in md


def test_seeds_average_and_the_best_model_per_metric_is_bold():
    rows = summarise([record("rnn", loss=0.6, acc=0.3), record("rnn", seed=1, loss=0.8, acc=0.5),
                      record("lstm", loss=0.2, acc=0.1)])
    md = render(rows, "md")
    rnn_line = next(line for line in md.splitlines() if line.startswith("| rnn"))
    lstm_line = next(line for line in md.splitlines() if line.startswith("| lstm"))
    assert "**0.4000 ± 0.14**" in rnn_line  # recall_acc: higher is better, mean ± std over 2 seeds
    assert "**0.2000**" in lstm_line and "**0.1000**" not in lstm_line  # loss: lower is better
    assert "| memoryless" in md and "**0.6931**" not in md  # a baseline is never "best"


def test_csv_holds_every_baseline_and_json_keeps_its_keys():
    rows = summarise([record("rnn"), record("rnn", delay=40)])
    table = pd.read_csv(io.StringIO(render(rows, "csv")))
    baselines = table[table["kind"] == "baseline"]
    assert sorted(baselines["test/loss"].round(4)) == [0.3466, 0.6931]
    assert list(table.columns[:3]) == ["task", "model", "backend"] and ",100," in render(rows, "csv")
    keys = {"task", "model", "backend", "profile", "group", "status", "seeds", "params", "metrics", "metrics_std",
            "train_tokens_per_s", "contended", "peak_mem_bytes", "wall_s", "baselines", "device", "references"}
    assert all(keys <= set(r) for r in json.loads(render(rows, "json")))


def test_validation_and_per_type_metrics_go_to_a_detail_table_and_n_a_rows_to_a_note():
    rows = summarise([record("rnn", **{"test/f1_PER": 0.5}), record("birnn")])
    md = render(rows, "md")
    main, detail = md.split("### copy: validation and per-type metrics")
    assert "test/loss" in main and "val/loss" not in main and "f1_PER" not in main
    assert "val/loss" in detail and "test/f1_PER" in detail
    assert "| birnn" not in md and "n/a: birnn/cudnn (copy is causal" in main


def test_every_human_format_renders_the_same_numbers():
    rows = summarise([record("rnn"), record("gru", loss=0.25)])
    for fmt in ("md", "latex", "html"):
        text = render(rows, fmt)
        assert "0.2500" in text and "19,550" in text and "1.955e" not in text, fmt
    assert "<table" in render(rows, "html") and r"\begin{tabular}" in render(rows, "latex")


def test_numbers_keep_four_significant_figures_in_one_style():
    assert [number(v) for v in (19550.0, 5.398, 0.00005389, 0.1, 1234567.0, 12, 0.0, None, float("nan"))] == \
        ["19,550", "5.398", "0.00005389", "0.1000", "1,235,000", "12", "0", "", ""]
    frame = pd.DataFrame({"x": [1.0, 2.0], "x std": [0.5, 0.0]})
    md = render_tables([Table(frame, best={"x": "min"})], "md")
    assert "**1.000 ± 0.50**" in md and "| 2.000 |" in md and "x std" not in md
