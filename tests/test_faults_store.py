"""Faults of the results folder: a full disk writes a whole line or nothing, a torn tail is cut (and
kept aside), links are refused, lines that are not records are ignored (said once), a task whose
every cell failed gets a heading that says so, a read-only folder is one line naming it."""
import errno
import json
import os
import subprocess
import sys

import pytest

from benchmark import cli as bench_cli
from benchmark.config import parse_set
from benchmark.engine.cells import build_cells
from benchmark.engine.lock import RunLock
from benchmark.engine.records import base_record
from benchmark.engine.store import ResultsStore
from benchmark.errors import ConfigError
from benchmark.reports import html as html_report
from benchmark.reports.tables import render, summarise
from conftest import ROOT, cli

pytestmark = pytest.mark.faults

REFERENCE = ROOT / "results" / "reference" / "matrix" / "results.jsonl"
FAST = ["train.max_steps=6", "train.log_every=2", "adding.length=8", "model.hidden=8"]
BAD = ['{"key": "x"}', '{"key": "x", "cell": "a"}', '[1, 2]', '"a string"',
       '{"key": "y", "cell": "b", "group": "g", "task": "copy", "model": "rnn", "backend": "cudnn", "seed": 0, '
       '"profile": "smoke", "config": {}, "status": "done"}']


def published(n=2) -> list[dict]:
    """Real ok records, as a published run wrote them."""
    return [r for r in map(json.loads, REFERENCE.read_text().splitlines()) if r["status"] == "ok"][:n]


def whole_lines(path) -> list[dict]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "a torn tail"
    return [json.loads(line) for line in data.splitlines()]


# --- 1. a full disk: the line is whole or absent, the error names the file --------------------
CHILD = """
import json, resource, signal, sys
from benchmark.engine.store import ResultsStore
folder, limit, record = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
store = ResultsStore(folder)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills us at the limit
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
done = 0
try:
    for _ in range(20):
        store.append(record)
        done += 1
except OSError as e:
    print(json.dumps({"done": done, "errno": e.errno, "filename": e.filename}))
else:
    print(json.dumps({"done": done}))
"""


def test_a_full_disk_writes_the_whole_line_or_nothing_and_names_the_file(tmp_path):
    record = published(1)[0]
    size = len((json.dumps(record, default=str) + "\n").encode())
    child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), str(int(size * 2.5)), json.dumps(record)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    path = tmp_path / "results.jsonl"
    assert outcome == {"done": 2, "errno": errno.EFBIG, "filename": str(path)}
    assert whole_lines(path) == [record, record]  # the third line: none of it
    ResultsStore(tmp_path).append(record)  # room again: the next append is a line of its own
    assert len(whole_lines(path)) == 3 and not (tmp_path / "results.jsonl.torn").exists()


def test_a_short_write_goes_on_and_a_failed_fsync_takes_the_line_back(tmp_path, monkeypatch):
    store, record = ResultsStore(tmp_path), published(1)[0]
    store.append(record)
    real_write, real_fsync = os.write, os.fsync
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))  # 7 bytes at a time
    store.append(record)
    assert whole_lines(store.path) == [record, record]

    def fsync(fd):
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(os, "write", real_write)
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError) as caught:
        store.append(record)
    assert caught.value.errno == errno.EIO and caught.value.filename == str(store.path)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert whole_lines(store.path) == [record, record]


# --- 2. a torn tail: cut by the next append, kept aside, reported once ------------------------
def test_a_torn_tail_is_cut_by_the_next_append_and_kept_aside(tmp_path, capsys):
    first, second = published(2)
    path = tmp_path / "results.jsonl"
    half = json.dumps(second)[:100]
    path.write_text(json.dumps(first) + "\n" + half)
    store = ResultsStore(tmp_path)
    assert store.records() == [first] and store.records() == [first]
    assert capsys.readouterr().err.count("not a complete record") == 1  # once, however often it is read
    store.append(second)
    assert whole_lines(path) == [first, second]  # no blank line, no merged line
    assert (tmp_path / "results.jsonl.torn").read_text() == half + "\n"
    assert "results.jsonl.torn" in capsys.readouterr().err
    store.append(second)  # nothing torn now: nothing more cut
    assert (tmp_path / "results.jsonl.torn").read_text() == half + "\n" and len(whole_lines(path)) == 3


def test_a_torn_tail_without_any_whole_line_is_cut_to_nothing(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"key": "torn')
    ResultsStore(tmp_path).append(published(1)[0])
    assert whole_lines(tmp_path / "results.jsonl") == published(1)
    assert (tmp_path / "results.jsonl.torn").read_text() == '{"key": "torn\n'


def test_run_on_a_folder_with_a_torn_tail_and_a_bad_line_reports_each_once_and_runs_that_cell(tmp_path):
    (cell,) = build_cells(["adding"], ["rnn"], ["cudnn"], 1, "smoke", parse_set(FAST))
    partial = {"key": cell.key, "cell": cell.name}  # parses, but is no record: its cell runs again
    (tmp_path / "results.jsonl").write_text(json.dumps(partial) + "\n" + json.dumps(published(1)[0])[:80])
    run = cli("run", "--tasks", "adding", "--models", "rnn", "--out", tmp_path,
              *[x for s in FAST for x in ("--set", s)], timeout=300, env={"OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stderr.count("not a complete record") == 1
    assert run.stderr.count("is not a cell record (it lacks group") == 1
    assert run.stderr.count("ended in a torn line") == 1
    lines = whole_lines(tmp_path / "results.jsonl")
    assert lines[0] == partial and lines[1]["key"] == cell.key and lines[1]["status"] == "ok"


# --- 3. links: never written through, never read -----------------------------------------------
def test_a_linked_lock_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".lock").symlink_to(target)
    with pytest.raises(ConfigError, match="is a symbolic link; rnnbench does not follow links"):
        RunLock(run_dir).acquire()
    (run_dir / ".lock").unlink()
    (run_dir / ".lock").symlink_to(tmp_path / "nowhere")  # dangling: not created through either
    with pytest.raises(ConfigError, match="symbolic link"):
        RunLock(run_dir).acquire()
    assert target.read_text() == "keep me\n" and not (tmp_path / "nowhere").exists()


def test_a_lock_that_is_not_a_regular_file_is_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / ".lock")
    with pytest.raises(ConfigError, match="not a regular file"):
        RunLock(tmp_path).acquire()


def test_a_linked_results_file_is_refused_and_its_target_untouched(tmp_path, capsys):
    target = tmp_path / "elsewhere.jsonl"
    record = published(1)[0]
    target.write_text(json.dumps(record) + "\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.jsonl").symlink_to(target)
    store = ResultsStore(run_dir)
    for act in (lambda: store.append(record), store.records):
        with pytest.raises(ConfigError, match=f"{run_dir / 'results.jsonl'} is a symbolic link"):
            act()
    assert target.read_text() == json.dumps(record) + "\n"
    assert bench_cli.main(["table", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "symbolic link" in err


def test_a_linked_torn_file_is_refused_before_anything_is_cut(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "results.jsonl").write_text('{"key": "torn')
    (run_dir / "results.jsonl.torn").symlink_to(target)
    with pytest.raises(ConfigError, match="symbolic link"):
        ResultsStore(run_dir).append(published(1)[0])
    assert (run_dir / "results.jsonl").read_text() == '{"key": "torn' and target.read_text() == ""


def test_a_linked_folder_is_fine(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with RunLock(tmp_path / "link"):
        ResultsStore(tmp_path / "link").append(published(1)[0])
    assert whole_lines(tmp_path / "real" / "results.jsonl") == published(1)


# --- 4. lines that parse but are no records -----------------------------------------------------
def test_table_on_a_folder_with_lines_that_are_no_records_shows_the_records(tmp_path, capsys):
    good = published(1)[0]
    (tmp_path / "results.jsonl").write_text("\n".join([BAD[0], json.dumps(good), *BAD[1:], ""]))
    assert bench_cli.main(["table", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert f"| {good['model']} | {good['backend']} |" in out
    assert err.count("is not a cell record") == len(BAD) and "Traceback" not in err
    assert "lacks group, task, model" in err and "'done'" in err and "it is a JSON array, not an object" in err
    assert bench_cli.main(["table", str(tmp_path), "--format", "json"]) == 0  # read again: said once
    out, err = capsys.readouterr()
    assert [r["model"] for r in json.loads(out)] == [good["model"]] and err == ""
    assert [r["cell"] for r in ResultsStore(tmp_path).latest().values()] == [good["cell"]]  # the bad lines: not done


def test_report_on_a_folder_with_lines_that_are_no_records(tmp_path):
    (tmp_path / "results.jsonl").write_text("\n".join([*BAD, *map(json.dumps, published(2)), ""]))
    assert bench_cli.main(["report", str(tmp_path)]) == 0
    assert "Speed and memory" in (tmp_path / "report.html").read_text()


# --- 5. a task whose every cell failed ------------------------------------------------------------
def test_a_section_whose_every_cell_failed_says_so(tmp_path):
    failed = [{**base_record(c), "status": "failed", "error": "RuntimeError: CUDA error at step 3"}
              for c in build_cells(["copy"], ["rnn", "lstm"], ["cudnn"], [0], "smoke", {})]
    md = render(summarise(failed), "md")
    heading = md.splitlines()[0]
    assert heading == "### copy (profile smoke; every cell failed: each row's status says why)"
    assert "over 0 seeds" not in md and "; ;" not in md and "( is better)" not in md
    assert "failed: RuntimeError: CUDA error at step 3" in md
    for fmt in ("latex", "html", "csv", "json"):
        render(summarise(failed), fmt)
    skipped = [{**base_record(c), "status": "skipped", "reason": "no data"}
               for c in build_cells(["adding"], ["rnn"], ["cudnn"], [0], "smoke", {})]
    md = render(summarise(skipped), "md")
    assert md == "adding: 1 cell skipped: no data\n"  # one line, no empty table


# --- 6. a folder the report cannot write to -----------------------------------------------------
@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0o555 folder; simulated in the test below")
def test_report_in_a_read_only_folder_is_one_line(tmp_path, capsys):
    (tmp_path / "results.jsonl").write_text(json.dumps(published(1)[0]) + "\n")
    tmp_path.chmod(0o555)
    try:
        assert bench_cli.main(["report", str(tmp_path)]) == 1
    finally:
        tmp_path.chmod(0o755)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"Permission denied: {tmp_path}" in err
    assert not (tmp_path / "plots").exists()


def test_report_stops_before_drawing_when_the_folder_is_not_writable(tmp_path, monkeypatch):
    (tmp_path / "results.jsonl").write_text(json.dumps(published(1)[0]) + "\n")

    def read_only(**kwargs):
        raise OSError(errno.EROFS, "Read-only file system", os.path.join(kwargs["dir"], ".report-x"))
    monkeypatch.setattr(html_report.tempfile, "TemporaryFile", read_only)
    with pytest.raises(OSError) as caught:
        html_report.write_report(tmp_path)
    assert caught.value.errno == errno.EROFS and caught.value.filename == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.jsonl"]


def test_report_with_a_file_where_its_plots_go_is_one_line_naming_it(tmp_path, capsys):
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in published(2)))
    (tmp_path / "plots").write_text("in the way")
    assert bench_cli.main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "plots") in err and "Traceback" not in err
    assert not (tmp_path / "report.html").exists()
