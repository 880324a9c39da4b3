"""The reproduced RNN-vs-LSTM table and the HTML report, end to end on a tiny profile, plus the verdict rules."""
import base64
import json
import re

import pytest
import yaml

from benchmark.measurements import settings as measurement_settings
from benchmark.reports import rnn_vs_lstm
from benchmark.reports.html import write_report
from benchmark.engine.store import ResultsStore

TINY = {"smoke": {
    "seed": 0,
    "memory_span": {"delays": [2, 4], "models": ["rnn", "lstm", "gru"], "param_matched": ["rnn"], "hidden": 6,
                    "seeds": 1, "solved_acc": 0.99, "above_chance": 0.05,
                    "train": {"max_steps": 3, "batch_size": 4, "val_batches": 1, "test_batches": 1, "log_every": 1}},
    "gradient_flow": {"models": ["rnn", "lstm", "gru"], "hidden": 6, "lags": 12, "batch": 2, "train_delay": 3,
                      "train": {"max_steps": 3, "batch_size": 4, "val_batches": 1, "test_batches": 1, "log_every": 1},
                      "radii": [0.5, 1.0, 1.5], "problem_lag": 8},
    "speed": {"families": ["rnn", "lstm", "gru"], "backends": ["cudnn", "scratch", "compile"], "compile": False,
              "hidden": [4, 8], "seq": [3], "batch": 2, "warmup": 1, "repeats": 2, "latency_repeats": 2},
    "parameters": {"hidden": [4, 8], "input_size": 10},
}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reproduce")
    config = folder / "measurements.yaml"
    config.write_text(yaml.safe_dump(TINY))
    patch = pytest.MonkeyPatch()
    patch.setattr(measurement_settings, "FILE", config)
    assert rnn_vs_lstm.reproduce("smoke", folder / "run") == 0
    yield folder / "run", patch
    patch.undo()


def test_reproduce_writes_every_row_with_a_verdict_in_four_formats(run_dir):
    out, _ = run_dir
    rows = json.loads((out / "rnn_vs_lstm.json").read_text())
    assert [r["aspect"] for r in rows] == ["parameters", "memory", "gradient flow", "training speed",
                                           "gradient problem", "use cases"]
    assert all(r["verdict"] in ("confirmed", "refined", "refuted") and r["evidence"] for r in rows)
    assert all(r[c] for r in rows for c in ("measured RNN", "measured LSTM", "measured GRU"))
    md = (out / "rnn_vs_lstm.md").read_text().lower()
    for word in ("parameters", "memory", "gradient flow", "speed", "gradient problem", "use case", "verdict"):
        assert word in md
    assert (out / "rnn_vs_lstm.csv").read_text().startswith("aspect,")
    assert r"\begin{tabular}" in (out / "rnn_vs_lstm.tex").read_text()
    assert "command: `" in (out / "RUN.md").read_text()


def test_each_measurement_writes_json_csv_and_png_with_provenance(run_dir):
    out, _ = run_dir
    for name in ("parameters", "memory_span", "gradient_flow", "speed"):
        result = json.loads((out / name / f"{name}.json").read_text())
        assert result["versions"]["torch"] and result["device"] and result["units"] and "seed" in result
        assert (out / name / f"{name}.csv").stat().st_size > 0
        assert list((out / name).glob("*.png"))


def test_reproduce_again_reuses_finished_cells(run_dir):
    out, _ = run_dir
    store = ResultsStore(out / "memory_span" / "cells")
    before = len(store.records())
    assert rnn_vs_lstm.reproduce("smoke", out) == 0
    assert len(store.records()) == before


def test_report_is_self_contained_and_embeds_every_plot_and_table(run_dir):
    out, _ = run_dir
    page = write_report(out).read_text()
    pngs = sorted(out.rglob("*.png"))
    assert len(pngs) >= 5
    for png in pngs:
        assert base64.b64encode(png.read_bytes()).decode() in page
    for aspect in ("parameters", "memory", "gradient flow", "training speed", "gradient problem", "use cases"):
        assert f"<td>{aspect}</td>" in page
    for name in ("parameters.csv", "memory_span.csv", "gradient_flow.csv", "speed.csv"):
        assert name in page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    assert "<script" not in page


# --- verdict rules on hand-made numbers -------------------------------------------------
def _memory(spans, delays=(5, 10, 20, 50, 100, 200)):
    return {"spans": {f: {"span": s, "above_chance_span": s, "best_acc": 1.0 if s else 0.2} for f, s in spans.items()},
            "settings": {"delays": list(delays), "train": {"max_steps": 100}, "solved_acc": 0.99}}


@pytest.mark.parametrize("spans, verdict", [
    ({"rnn": 10, "lstm": 200, "gru": 200}, "confirmed"),
    ({"rnn": 10, "lstm": 50, "gru": 20}, "refined"),
    ({"rnn": 0, "lstm": 0, "gru": 0}, "refined"),
    ({"rnn": 50, "lstm": 20, "gru": 20}, "refuted"),
])
def test_memory_verdict(spans, verdict):
    assert rnn_vs_lstm.memory_row(_memory(spans))["verdict"] == verdict


def _speed(lstm_ratio):
    rows = []
    for family, ratio in (("rnn", 1.0), ("lstm", lstm_ratio), ("gru", 1.5)):
        rows.append({"family": family, "backend": "cudnn", "status": "ok", "train_time_vs_rnn": ratio,
                     "train_tokens_per_s": 1000 / ratio, "latency_ms": ratio})
    return {"rows": rows}


@pytest.mark.parametrize("ratio, verdict", [(3.5, "confirmed"), (1.5, "refined"), (0.6, "refuted")])
def test_speed_verdict(ratio, verdict):
    assert rnn_vs_lstm.speed_row(_speed(ratio))["verdict"] == verdict


def _gradients(rnn_lag, rnn_decay, cell_lag, cell_decay, explode=True):
    def row(family, stage, state, lag, decay):
        return {"family": family, "stage": stage, "state": state, "lag_below_0.01": lag, "decay_per_step": decay,
                "max_lag": 100}
    rows = []
    for stage in ("init", "trained"):
        rows += [row("rnn", stage, "h", rnn_lag, rnn_decay), row("lstm", stage, "h", cell_lag, cell_decay),
                 row("lstm", stage, "c", cell_lag, cell_decay), row("gru", stage, "h", cell_lag, cell_decay)]
    sweep = [{"radius": 0.5, "ratio_at_max_lag": 1e-30, "max_lag": 100},
             {"radius": 1.5, "ratio_at_max_lag": 1e3 if explode else 1e-3, "max_lag": 100}]
    return {"rows": rows, "spectral_sweep": sweep}


@pytest.mark.parametrize("numbers, verdict", [
    ((15, 0.75, None, 0.999), "confirmed"),
    ((15, 0.75, None, 0.999, False), "refined"),   # no explosion above radius 1
    ((60, 0.93, 90, 0.96), "refined"),             # vanishes later than claimed, LSTM decays too
    ((15, 0.75, 10, 0.6), "refuted"),              # the cell state loses its gradient first
    ((None, 1.01, None, 0.99), "refuted"),         # the RNN's gradient does not decay
])
def test_gradient_flow_verdict(numbers, verdict):
    assert rnn_vs_lstm.gradient_flow_row(_gradients(*numbers))["verdict"] == verdict


def test_use_cases_read_a_matrix_run_not_the_measurements_own_cells(tmp_path):
    def record(model, acc):
        return {"key": f"copy/{model}", "status": "ok", "task": "copy", "model": model,
                "metrics": {"test/recall_acc": acc}}
    ResultsStore(tmp_path / "matrix").append(record("lstm", 0.9))
    ResultsStore(tmp_path / "gradient_flow" / "cells").append(record("rnn", 0.1))
    ResultsStore(tmp_path / "memory_span" / "cells").append(record("gru", 0.2))
    assert rnn_vs_lstm.task_results(tmp_path) == {"copy": {"lstm": 0.9}}
