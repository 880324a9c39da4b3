"""W&B: an offline matrix writes one run per cell plus a summary run, with the expected keys, no network."""
import glob
import os
import struct

import pytest

from benchmark.config import parse_set
from benchmark.engine.cells import build_cells
from benchmark.engine.store import ResultsStore
from benchmark.launchers import run_matrix, tracking
from benchmark.reports.wandb_summary import log_matrix_summary

FAST = ["train.max_steps=6", "train.log_every=2", "adding.length=8", "copy.delay=4", "model.hidden=8"]


def wandb_records(path):
    """The records of an offline run file (wandb's LevelDB-style log: 32 KiB blocks, 7-byte headers)."""
    from wandb.proto import wandb_internal_pb2 as pb
    data, pos, buf = open(path, "rb").read(), 7, b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7]) if left >= 7 else (0, 0, 0)
        if length == 0 and kind == 0:
            pos += left
            continue
        buf, pos = buf + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = pb.Record()
            record.ParseFromString(buf)
            yield record
            buf = b""


def read_run(path):
    run, summary, history = None, {}, set()
    for r in wandb_records(path):
        kind = r.WhichOneof("record_type")
        if kind == "run":
            run = r.run
        elif kind == "summary":
            summary.update({i.key or "/".join(i.nested_key): i.value_json for i in r.summary.update})
        elif kind == "history":
            history |= {i.key or "/".join(i.nested_key) for i in r.history.item}
    return run, summary, history


def test_offline_matrix_writes_cell_runs_and_a_summary_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # any network use would fail loudly
    (tmp_path / "plot.png").write_bytes(_tiny_png())
    cells = build_cells(["adding"], ["lstm,bigru"], ["cudnn"], 1, "smoke", parse_set(FAST))
    summary = run_matrix(cells, tmp_path, wandb=None, wandb_project="rnnbench-test", stream=open(os.devnull, "w"))
    assert summary.ran == 2 and not summary.failed
    assert summary.tracking.mode == "offline"
    log_matrix_summary(summary.tracking, ResultsStore(tmp_path).current())  # as `run` does after the matrix
    runs = [read_run(p) for p in sorted(glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "*.wandb")))]
    assert len(runs) == 3
    cells_runs = {run.display_name: (run, s, h) for run, s, h in runs if run.job_type == "adding"}
    assert set(cells_runs) == {"adding/lstm/cudnn/seed0", "adding/bigru/cudnn/seed0"}
    group = (tmp_path / "wandb" / "group").read_text().strip()
    assert group.startswith(tmp_path.name)
    run, summary_keys, history = cells_runs["adding/bigru/cudnn/seed0"]
    assert run.run_group == group and run.project == "rnnbench-test"
    assert set(run.tags) == {"gru", "bi", "cudnn"}
    keys = {c.key for c in run.config.update}  # the task's settings under its name, as everywhere: adding.length
    assert {"model", "train", "adding", "seed"} <= keys and "settings" not in keys
    assert {"status", "params", "train_tokens_per_s", "peak_mem_bytes", "test/loss", "test/mse"} <= set(summary_keys)
    assert summary_keys["status"] == '"ok"'
    assert {"train/loss", "train/grad_norm", "train/tokens_per_s"} <= history
    (final,) = [(r, s, h) for r, s, h in runs if r.job_type == "summary"]
    assert final[0].run_group == group
    assert {"table/adding/_type", "plot/plot/_type"} <= final[2]


def test_mode_choice(monkeypatch, tmp_path):
    for var in ("WANDB_MODE", "WANDB_API_KEY", "CI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert tracking.resolve_mode(None) == "offline"  # no key
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert tracking.resolve_mode(None) == "online"
    monkeypatch.setenv("CI", "true")
    assert tracking.resolve_mode(None) == "disabled"
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert tracking.resolve_mode(None) == "offline"  # WANDB_MODE is respected, even in CI
    assert tracking.resolve_mode("disabled") == "disabled"  # the flag is the most explicit


def test_online_without_key_or_server_falls_back_to_offline(monkeypatch, tmp_path, capsys):
    for var in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert tracking.plan("online", "p", tmp_path).mode == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "https://127.0.0.1:9")
    assert tracking.plan("online", "p", tmp_path).mode == "offline"
    assert "unreachable" in capsys.readouterr().err


def test_disabled_never_imports_wandb(tmp_path):
    import subprocess
    import sys
    code = ("import sys; from benchmark.launchers import run_matrix; from benchmark.engine.cells import build_cells; "
            f"run_matrix(build_cells(['adding'], ['rnn'], ['cudnn'], 1, 'smoke', {parse_set(FAST)!r}), {str(tmp_path)!r}); "
            "print('wandb' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr


def _tiny_png() -> bytes:
    pytest.importorskip("matplotlib")
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def test_an_interrupted_cell_finishes_its_run_as_interrupted(tmp_path, monkeypatch):
    from benchmark.errors import MatrixInterrupted
    from conftest import ctrl_c_at
    from tasks.adding import AddingTask

    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    ctrl_c_at(monkeypatch, AddingTask, "lstm", step=3)
    cells = build_cells(["adding"], ["rnn,lstm"], ["cudnn"], 1, "smoke", parse_set(FAST))
    with pytest.raises(MatrixInterrupted):
        run_matrix(cells, tmp_path, wandb="offline", stream=open(os.devnull, "w"))
    import wandb
    wandb.teardown()  # as the process's exit would: the service writes out what it holds of the runs' files
    exits = {}
    for path in glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "*.wandb")):
        run, summary, _ = read_run(path)
        (code,) = [r.exit.exit_code for r in wandb_records(path) if r.WhichOneof("record_type") == "exit"]
        exits[run.display_name] = (code, summary["status"])
    # Both runs ended: none is left open for `wandb sync` to upload as crashed.
    assert exits == {"adding/rnn/cudnn/seed0": (0, '"ok"'), "adding/lstm/cudnn/seed0": (130, '"interrupted"')}


def test_runs_whose_settings_differ_get_names_that_say_how():
    fast = parse_set(FAST)
    cells = (build_cells(["copy"], ["lstm"], ["cudnn"], 1, "smoke", fast)
             + build_cells(["copy"], ["lstm"], ["cudnn"], 1, "smoke", parse_set([*FAST, "copy.delay=40"]))
             + build_cells(["adding"], ["lstm"], ["cudnn"], 1, "smoke", fast))
    names = tracking.run_names(cells)
    assert sorted(names.values()) == ["copy/lstm/cudnn/seed0 copy.delay=4", "copy/lstm/cudnn/seed0 copy.delay=40"]
    assert not any(k.startswith("adding/") for k in names)  # alone under its name: the plain name


def test_dashboard_spec_names_only_keys_the_offline_runs_logged(tmp_path, monkeypatch):
    from benchmark.cli import main
    from benchmark.reports import dashboard

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    cells = build_cells(["copy", "adding"], ["rnn,lstm"], ["cudnn"], 2, "smoke", parse_set(FAST))
    summary = run_matrix(cells, tmp_path, wandb="offline", wandb_project="p", stream=open(os.devnull, "w"))
    log_matrix_summary(summary.tracking, ResultsStore(tmp_path).current())
    assert main(["wandb", "dashboard", str(tmp_path), "--project", "p"]) == 0
    import json
    spec = json.loads((tmp_path / "dashboard.json").read_text())
    assert [s["name"] for s in spec["sections"]] == ["copy", "adding"]
    assert spec["runs"]["group"] == summary.tracking.group and spec["runs"]["groupby"] == ["task", "model.variant"]
    logged = {}  # task -> keys its cell runs logged (history: curves; summary: the record's figures)
    for path in glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "*.wandb")):
        run, summary_keys, history = read_run(path)
        logged.setdefault(run.job_type, set()).update(history, summary_keys)
    for section in spec["sections"]:
        keys = [k for p in section["panels"] for k in p["keys"]]
        assert {"train/loss", "train_tokens_per_s"} <= set(keys)
        assert set(keys) <= logged[section["name"]], set(keys) - logged[section["name"]]
    assert {"val/recall_acc", "test/recall_acc"} <= {k for p in spec["sections"][0]["panels"] for k in p["keys"]}
    view = dashboard.workspace(spec)  # what `save()` would upload, built without a server
    assert [s.name for s in view.sections] == ["copy", "adding"]
    assert view._to_model() is not None
    assert dashboard.report(spec) is None  # a `run` folder: no answer card


def test_summary_run_keeps_the_results_as_an_artifact(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    cells = build_cells(["adding"], ["rnn"], ["cudnn"], 1, "smoke", parse_set(FAST))
    summary = run_matrix(cells, tmp_path, wandb="offline", stream=open(os.devnull, "w"), config_text="x: 1\n")
    log_matrix_summary(summary.tracking, ResultsStore(tmp_path).current())
    # A cell's offline file was once read here without its run record yet (CI, 2026-12-03): only the
    # summary run's file is asked for, so skip any file whose run record is not (yet) there.
    (path,) = [p for p in glob.glob(str(tmp_path / "wandb" / "offline-run-*" / "*.wandb"))
               if getattr(read_run(p)[0], "job_type", None) == "summary"]
    (art,) = [r.artifact for r in wandb_records(path)
              if r.WhichOneof("record_type") == "artifact" and r.artifact.type == "results"]
    assert art.name == f"{summary.tracking.group}-results"
    assert {"results.jsonl", "config.yaml", "tables.md"} <= {m.path for m in art.manifest.contents}


def test_report_and_measure_log_to_the_folders_group_when_asked(tmp_path, monkeypatch):
    from benchmark.cli import main

    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "m"
    assert main(["measure", "params", "--out", str(out)]) == 0  # not asked: nothing logged
    assert not (out / "wandb").exists()
    assert main(["measure", "params", "--out", str(out), "--wandb", "offline", "--wandb-project", "p"]) == 0
    assert main(["report", str(out)]) == 0  # the folder logged: the drawn report goes to its group too
    runs = [read_run(p) for p in glob.glob(str(out / "wandb" / "offline-run-*" / "*.wandb"))]
    group = (out / "wandb" / "group").read_text().strip()
    assert sorted(r.job_type for r, _, _ in runs) == ["measure", "report"]
    assert {r.run_group for r, _, _ in runs} == {group} and {r.project for r, _, _ in runs} == {"p"}
    (measured,) = [h for r, _, h in runs if r.job_type == "measure"]
    assert "table/parameters/_type" in measured
