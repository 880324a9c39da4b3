"""The reproduced RNN-vs-LSTM table and the HTML report, end to end on a tiny profile, plus the verdict rules."""
import base64
import json
import os
import re
import shutil

import pytest
import yaml

from benchmark.config import parse_set
from benchmark.engine.cells import build_cells
from benchmark.engine.records import base_record
from benchmark.launchers import run_matrix
from benchmark.measurements import settings as measurement_settings
from benchmark.reports import matrix_plots, plots, rnn_vs_lstm
from benchmark.reports.html import write_report
from benchmark.engine.store import ResultsStore

TRAIN = {"batch_size": 4, "val_every": 3, "val_batches": 1, "test_batches": 1, "log_every": 1}
ARMS = {"rnn": {"family": "rnn"}, "rnn-matched": {"family": "rnn", "match": "lstm"}, "lstm": {"family": "lstm"},
        "lstm-chrono": {"family": "lstm", "init": "chrono"}, "gru": {"family": "gru"},
        "gru-matched": {"family": "gru", "match": "lstm"}}
TINY = {"smoke": {
    "seed": 0,
    "seeds": 2,
    "arms": ARMS,
    "memory_span": {"tasks": {"recall": [2, 4]}, "hidden": 6, "solved": {"recall": "recall_acc>=0.99"},
                    "caps": {"recall": {2: 3, 4: 3}}, "tuning": {"lag": {"recall": 2}, "lrs": [0.003, 0.01], "seeds": [1000]},
                    "parallel": 1, "train": TRAIN},
    "gradient_flow": {"hidden": 6, "lags": [2, 4], "batch": 2,
                      "inits": {"pytorch": {"init": "pytorch"}, "fb0": {"forget_bias": 0.0}}, "radii": [0.5, 1.0, 1.5]},
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
    table = json.loads((out / "rnn_vs_lstm.json").read_text())
    assert table["schema_version"] == rnn_vs_lstm.SCHEMA_VERSION and table["seeds"] == [0, 1]
    assert {a["name"] for a in table["arms"]} == set(ARMS) and table["tuning"] and table["wall_s"] > 0
    rows = {r["aspect"]: r for r in table["rows"]}
    assert list(rows) == ["parameters", "memory", "gradient flow", "training speed", "gradient problem", "use cases"]
    assert all(r["verdict"] in rnn_vs_lstm.VERDICTS and r["evidence"] and r["rule"] and r["summary"] for r in rows.values())
    assert all(r["cells"].get(a) for r in rows.values() for a in ("rnn", "lstm", "gru"))
    # Three steps of training teach nothing and cannot show it stopped improving: every lag is
    # budget-limited, so the rows that need trained models are inconclusive, never "refined".
    assert rows["memory"]["verdict"] == "inconclusive" and "a larger cap" in rows["memory"]["would_decide"]
    assert rows["gradient problem"]["verdict"] == "inconclusive"
    assert rows["parameters"]["verdict"] == "confirmed"
    for r in rows.values():
        for fam in r["values"].values():
            for k, v in fam.items():
                if k == "lags":
                    continue
                assert {"mean", "ci95", "n_seeds", "method"} <= set(v) and len(v["ci95"]) == 2
                assert r["aspect"] == "parameters" or v["n_seeds"] == 2
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
    stores = [ResultsStore(out / "memory_span" / "cells")]
    before = [len(s.records()) for s in stores]
    assert rnn_vs_lstm.reproduce("smoke", out) == 0
    assert [len(s.records()) for s in stores] == before


def test_memory_cells_keep_their_learning_curves(run_dir):
    out, _ = run_dir
    result = json.loads((out / "memory_span" / "memory_span.json").read_text())
    grid = [r for r in result["rows"] if r["kind"] == "grid"]
    assert {r["lag"] for r in grid} == {2, 4} and {r["seed"] for r in grid} == {0, 1}
    curves = [out / "memory_span" / "cells" / r["curve"] for r in result["rows"]]
    assert curves and all(c.exists() and "val/recall_acc" in c.read_text() for c in curves)


def test_report_is_self_contained_and_embeds_every_plot_and_table(run_dir):
    out, _ = run_dir
    page = write_report(out).read_text()
    pngs = sorted(out.rglob("*.png"))
    assert len(pngs) >= 5
    for png in pngs:
        assert base64.b64encode(png.read_bytes()).decode() in page
    for aspect in ("parameters", "memory", "gradient flow", "training speed", "gradient problem", "use cases"):
        assert f">{aspect}</td>" in page
    for name in ("parameters.csv", "memory_span.csv", "gradient_flow.csv", "speed.csv"):
        assert name in page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    assert "<script" not in page


def test_use_cases_read_a_matrix_run_not_the_measurements_own_cells(tmp_path):
    def record(model, acc):
        (cell,) = build_cells(["copy"], [model], ["cudnn"], [0], "smoke", {})
        return {**base_record(cell), "status": "ok", "metrics": {"test/recall_acc": acc}}
    ResultsStore(tmp_path / "matrix").append(record("lstm", 0.9))
    ResultsStore(tmp_path / "gradient_flow" / "cells").append(record("rnn", 0.1))
    ResultsStore(tmp_path / "memory_span" / "cells").append(record("gru", 0.2))
    assert rnn_vs_lstm.task_results(tmp_path) == {"copy": {"lstm": 0.9}}


def test_report_renders_run_md_as_markdown_and_escapes_raw_html(run_dir):
    out, _ = run_dir
    page = write_report(out).read_text()
    assert "<pre>" not in page and "<li>command: <code>" in page  # RUN.md's list, rendered
    floats = [t for t in re.findall(r'<td[^>]*>([-0-9.,e+]+)</td>', page) if "." in t]
    assert floats and all(len(re.sub(r"e.*|\D", "", t).lstrip("0")) <= 4 for t in floats)  # 4 significant figures
    assert re.search(r">train_tokens_per_s</td>\s*<td[^>]*>tokens/s \(forward\+backward\)</td>", page)  # a row each
    assert "Rough numbers" in page  # a smoke profile
    note = (out / "RUN.md").read_text()
    (out / "RUN.md").write_text("# Notes\n\n<img src=x onerror=alert(1)>\n")
    try:
        page = write_report(out).read_text()
    finally:
        (out / "RUN.md").write_text(note)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_matched_variants_have_colours_of_their_own():
    families = ["rnn", "lstm", "gru"]
    colours = [plots.colour(f) for f in families] + [plots.colour(f"{f}-matched") for f in families]
    assert len(set(colours)) == len(colours)


# --- the report of a matrix run (`run`) --------------------------------------------------
FAST = ["train.max_steps=6", "train.log_every=1", "train.val_every=3", "copy.delay=3", "adding.length=8"]


def _run(tasks, models, extra=()):
    return build_cells([tasks], models, ["cudnn"], 1, "smoke", parse_set(FAST + list(extra)))


@pytest.fixture(scope="module")
def matrix_dir(tmp_path_factory):
    """A real run folder: copy and adding x rnn, lstm; copy/rnn again at a second delay; a cell
    whose training diverges (diverged); one whose data was missing (skipped)."""
    out = tmp_path_factory.mktemp("matrix")
    quiet = open(os.devnull, "w")
    run_matrix(_run("copy,adding", ["rnn", "lstm"]), out, stream=quiet)
    run_matrix(_run("copy", ["rnn"], ["copy.delay=5"]), out, stream=quiet)
    run_matrix(_run("adding", ["gru"], ["train.lr=1e30", "train.grad_clip=1e30"]), out, stream=quiet)
    skipped = _run("copy", ["gru"])[0]
    ResultsStore(out).append({**base_record(skipped), "status": "skipped", "reason": "no data: put it in DATA/copy"})
    quiet.close()
    return out


def test_matrix_report_shows_tables_curves_speed_memory_and_every_cell(matrix_dir):
    records = ResultsStore(matrix_dir).current()
    assert {r["status"] for r in records} == {"ok", "diverged", "skipped"}
    path = write_report(matrix_dir)
    page = path.read_text()
    assert path.stat().st_size >= 20_000 and "<table" in page
    assert len(re.findall(r"<img ", page)) >= 4  # a learning-curve figure per task, speed, memory
    for name in ("curves-copy.png", "curves-adding.png", "speed.png", "memory.png"):
        png = matrix_dir / "plots" / name
        assert base64.b64encode(png.read_bytes()).decode() in page
    assert "Rough numbers" in page and "--profile full" in page
    assert "7: 5 ok, 1 diverged, 0 failed, 1 skipped" in page
    details = page[page.index("<details><summary>Cells"):]
    for r in records:
        assert f">{r['cell']}</td>" in details
    assert "no data: put it in DATA/copy" in details and re.search(r'class="[^"]* diverged"', details)
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page) and "<script" not in page


def test_matrix_groups_are_labelled_by_the_settings_that_differ_and_coloured_apart(matrix_dir):
    records = ResultsStore(matrix_dir).current()
    names = matrix_plots.labels(records)
    copy = {names[r["group"]] for r in records if r["task"] == "copy"}
    adding = {names[r["group"]] for r in records if r["task"] == "adding"}
    # A setting is named where the variant has two values of it, or where a group leaves the task's usual value.
    assert copy == {"rnn delay=3", "rnn delay=5", "lstm", "gru"}
    assert adding == {"rnn", "lstm", "gru grad_clip=1e+30 lr=1e+30"}
    palette = matrix_plots.colours(names, records)
    copy_colours = [palette[("copy", n)] for n in copy]
    assert len(set(copy_colours)) == len(copy_colours)


def test_matrix_report_without_curves_or_finished_cells_still_renders(matrix_dir, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(matrix_dir, folder)
    shutil.rmtree(folder / "logs")  # curves gone (an old run, or moved without its logs)
    shutil.rmtree(folder / "plots")
    page = write_report(folder).read_text()
    assert "copy: no learning curve recorded" in page and "adding: no learning curve recorded" in page
    assert (folder / "plots" / "speed.png").exists() and "<table" in page
    # Not the smoke profile: no caveat.
    lines = (folder / "results.jsonl").read_text().replace('"profile": "smoke"', '"profile": "full"')
    (folder / "results.jsonl").write_text(lines)
    assert "Rough numbers" not in write_report(folder).read_text()
