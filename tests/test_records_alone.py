"""Reports read records alone: `table`, `report` and `reproduce papers` on a finished folder import
neither torch nor Lightning nor a task module; a record written before record_version 2 still
renders, in the group of a fresh one; the protocols the reports resolve without the task modules
are the cells the engine builds; `bench table` prints its figure."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

import tasks
from benchmark import cli
from benchmark.engine.cells import build_cells, settings_defaults
from benchmark.engine.records import RECORD_VERSION, base_record, upgrade
from benchmark.engine.store import ResultsStore
from benchmark.reports import papers, references
from benchmark.reports.tables import render, summarise
from conftest import ROOT

REFERENCE = ROOT / "results" / "reference"
HEAVY = "[m for m in sys.modules if m in ('torch', 'lightning', 'pytorch_lightning') or m.startswith('tasks.')]"

# The task settings (names and defaults) that records of each version were written under, and the
# tasks there were. A change to those tasks' settings needs RECORD_VERSION bumped
# (benchmark/engine/records.py): records of an earlier version are then upgraded through the task
# modules, which know the new settings and defaults. A task added since has no earlier records to
# upgrade, so adding one needs no bump; changing it later does (pin it with the next version).
PINNED = {2: ("04f79354ccb1", ("adding", "char_lm", "copy", "forecast", "ner", "sentiment", "smnist", "word_lm"))}


def ok_record(cell, **metrics) -> dict:
    return {**base_record(cell), "status": "ok", "params": 1000, "train_tokens_per_s": 5000.0, "wall_s": 2.0,
            "peak_mem_bytes": 2**20, "device": "cpu", "baselines": {}, "metrics": metrics}


def run_alone(*args) -> tuple[int, list[str], str]:
    """`python -m benchmark ARGS` in a fresh interpreter (runpy, as -m runs it): its exit status,
    the heavy modules it had imported by the end, its stdout."""
    code = ("import json, runpy, sys\n"
            f"sys.argv = ['benchmark', *{[str(a) for a in args]!r}]\n"
            "status = 0\n"
            "try:\n    runpy.run_module('benchmark', run_name='__main__')\n"
            "except SystemExit as e:\n    status = e.code or 0\n"
            f"print('HEAVY', json.dumps([status, {HEAVY}]), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    line = next(x for x in done.stderr.splitlines() if x.startswith("HEAVY "))
    status, heavy = json.loads(line.removeprefix("HEAVY "))
    return status, heavy, done.stdout


@pytest.fixture
def finished_folder(tmp_path):
    """A folder of this version's records: a smoke copy run and Zaremba's small LSTM over 3 seeds."""
    store = ResultsStore(tmp_path / "run")
    for cell in build_cells(["copy"], ["rnn", "lstm"], seeds=2, profile="smoke"):
        store.append(ok_record(cell, **{"test/loss": 0.5 + cell.seed / 10, "test/recall_acc": 0.3}))
    for cell in build_cells(["word_lm"], ["lstm"], seeds=3, profile="zaremba-small"):
        store.append(ok_record(cell, **{"val/ppl": 120.0 + cell.seed, "test/ppl": 114.0 + cell.seed}))
    return store.folder


def test_table_report_and_papers_render_a_finished_folder_without_torch_or_task_modules(finished_folder):
    status, heavy, out = run_alone("table", finished_folder, "--format", "md")
    assert (status, heavy) == (0, [])
    assert "### copy" in out and "### word_lm" in out and "same protocol (zaremba-small)" in out

    status, heavy, out = run_alone("reproduce", "papers", "--profile", "zaremba-small", "--seeds", "3",
                                   "--out", finished_folder)
    assert (status, heavy) == (0, [])
    assert "0 cells to run" in out
    rows = {(r["preset"], r["metric"]): r for r in papers.load(finished_folder)}
    assert rows[("zaremba-small", "test/ppl")]["seeds"] == 3 and rows[("zaremba-small", "test/ppl")]["ours"] == 115.0
    assert rows[("zaremba-medium", "test/ppl")]["verdict"] == "not run"

    status, heavy, out = run_alone("report", finished_folder)
    assert (status, heavy) == (0, [])
    page = (finished_folder / "report.html").read_text()
    assert "Published results under their own protocols" in page and "copy" in page


def test_a_record_of_the_previous_version_renders_in_the_group_of_a_fresh_one(tmp_path):
    """A published line (written before record_version 2, and before settings added since) and a
    fresh record of the same cell's next seed form one row of two seeds."""
    line = next(x for x in (REFERENCE / "matrix" / "results.jsonl").read_text().splitlines()
                if json.loads(x)["cell"] == "copy/lstm/cudnn/seed0")
    old = json.loads(line)
    assert "record_version" not in old
    (fresh_cell,) = build_cells(["copy"], ["lstm"], seeds=[1], profile="smoke")
    assert old["group"] != fresh_cell.group  # written under other settings: only the upgrade joins them
    store = ResultsStore(tmp_path)
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_text(line + "\n")
    store.append(ok_record(fresh_cell, **{k: v + 0.1 for k, v in old["metrics"].items()}))

    (row,) = [r for r in summarise(store.current()) if r["model"] == "lstm"]
    assert row["seeds"] == 2 and row["group"] == fresh_cell.group
    assert row["metrics"]["test/loss"] == pytest.approx(old["metrics"]["test/loss"] + 0.05)
    assert upgrade(old)["record_version"] == RECORD_VERSION and upgrade(old)["settings_defaults"]
    assert "| lstm | cudnn | 2 |" in render(summarise(store.current()), "md")


def test_published_papers_records_still_count_for_their_protocol():
    refs = papers.rows_for(["zaremba-small"])
    found = papers.runs(refs, 3, ResultsStore(REFERENCE / "papers"))
    assert [sorted(found[i]) for i in range(len(refs))] == [[0, 1, 2]] * len(refs)


def plain(cfg: dict) -> dict:
    """A config as JSON reads it back, seed aside."""
    return json.loads(json.dumps({k: v for k, v in cfg.items() if k != "seed"}))


def test_the_protocols_resolved_without_the_task_modules_are_the_engines_cells():
    checked = 0
    for ref in references.load():
        cell = references.protocol_cell(ref)
        if cell is None:
            continue
        record = base_record(cell)
        assert references.same_protocol(ref, record), ref.name
        want = references.protocol_config(ref, record["settings_defaults"])
        assert plain(want) == plain(cell.config()), ref.name
        (other,) = build_cells([ref.task], [ref.model], profile=ref.preset,
                               overrides={**ref.overrides(), "train": {"max_steps": cell.train.max_steps + 1}})
        assert not references.same_protocol(ref, base_record(other)), ref.name
        checked += 1
    assert checked >= 10


def test_record_version_pins_the_task_settings():
    registry = tasks.all_tasks()
    pinned, names = PINNED[RECORD_VERSION]
    assert set(names) <= set(tasks.catalog())  # a task removed: its records need no upgrade, but say so here
    settings = {task: settings_defaults(registry[task].Settings) for task in names}
    found = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]
    assert pinned == found, (
        f"the task settings changed (names or defaults): bump RECORD_VERSION in benchmark/engine/records.py and pin "
        f"{RECORD_VERSION + 1}: {found!r} here, so records written before are upgraded through the task modules")


def test_bench_table_prints_its_figure(capsys):
    assert cli.main(["bench", "table", "--records", "60", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "bench table: 60 records" in out and "median" in out and " s (min " in out
    assert "heavy imports (torch, lightning, tasks.*): none" in out and "machine: " in out
