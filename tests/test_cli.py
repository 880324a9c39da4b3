"""The command line: the matrix end to end, its tables, and bad input stopped before training."""
import json
import shutil

import pytest

from conftest import ROOT, cli

FAST = ["--set", "train.max_steps=8", "--set", "copy.delay=5", "--set", "adding.length=12"]


def test_list_names_everything():
    out = cli("list").stdout
    for word in ("rnn", "lstm", "gru", "birnn", "bilstm", "bigru", "copy", "adding", "cudnn", "scratch",
                 "smoke", "full"):
        assert word in out.split() or f" {word} " in out


def test_small_matrix_end_to_end(tmp_path):
    out = tmp_path / "run"
    run = cli("run", "--tasks", "copy,adding", "--models", "rnn,lstm,bigru", "--out", out, *FAST)
    assert run.returncode == 0, run.stderr
    assert "[6/6]" in run.stdout and "ETA" in run.stdout
    rows = json.loads(cli("table", out, "--format", "json").stdout)
    by = {(r["task"], r["model"]): r for r in rows}
    assert by[("copy", "bigru")]["status"] == "n/a" and "causal" in by[("copy", "bigru")]["reason"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 5
    for r in ok:
        assert {"task", "model", "backend", "params", "metrics", "train_tokens_per_s", "peak_mem_bytes",
                "wall_s"} <= set(r)
        assert r["params"] > 0 and r["train_tokens_per_s"] > 0 and r["wall_s"] > 0
    assert {"test/loss", "test/recall_acc"} <= set(by[("copy", "lstm")]["metrics"])
    assert "test/mse" in by[("adding", "bigru")]["metrics"]
    record = json.loads((out / "results.jsonl").read_text().splitlines()[-1])
    for key in ("config", "seed", "versions", "device", "started_at", "train_tokens_per_s"):
        assert key in record
    md = cli("table", out).stdout
    assert "### copy" in md and "memoryless" in md and "n/a" in md
    assert cli("table", out, "--format", "csv").stdout.startswith("task,model,backend")
    assert r"\begin{tabular}" in cli("table", out, "--format", "latex").stdout

    again = cli("run", "--tasks", "copy,adding", "--models", "rnn,lstm,bigru", "--out", out, *FAST)
    assert again.returncode == 0 and "0 to run" in again.stdout
    assert len((out / "results.jsonl").read_text().splitlines()) == 6


def test_seeds_are_aggregated(tmp_path):
    run = cli("run", "--tasks", "adding", "--models", "gru", "--seeds", "2", "--out", tmp_path, *FAST)
    assert run.returncode == 0, run.stderr
    (row,) = json.loads(cli("table", tmp_path, "--format", "json").stdout)
    assert row["seeds"] == 2 and row["metrics_std"]["test/mse"] > 0
    assert "±" in cli("table", tmp_path).stdout


@pytest.mark.parametrize("args, words", [
    (["--tasks", "no_such_task"], ["no_such_task", "copy", "adding"]),
    (["--tasks", "copy", "--models", "transformer"], ["transformer", "bilstm"]),
    (["--tasks", "copy", "--backend", "cuda"], ["cuda", "scratch"]),
    (["--tasks", "copy", "--profile", "huge"], ["huge", "smoke"]),
    (["--tasks", "copy", "--seeds", "0"], ["--seeds"]),
    (["--tasks", "copy", "--set", "train.lr=-1"], ["train.lr"]),
    (["--tasks", "copy", "--set", "model.hidden=abc"], ["model.hidden"]),
    (["--tasks", "copy", "--set", "copy.nope=1"], ["nope", "delay"]),
    (["--tasks", "copy", "--set", "copy.delay=0"], ["copy.delay"]),
    (["--tasks", "copy", "--set", "oops"], ["oops"]),
    (["--tasks", "copy", "--set", "task.delay=5"], ["`task.delay` is now spelled `<task>.delay`", "copy.delay"]),
    ([], ["--all", "--tasks"]),
])
def test_bad_input_exits_2_before_training(tmp_path, args, words):
    run = cli("run", *args, "--out", tmp_path / "never")
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), run.stderr
    for word in words:
        assert word in lines[0]
    assert not (tmp_path / "never").exists()


def test_an_old_profile_spelling_in_a_users_config_dir_exits_2_naming_the_new_one(tmp_path):
    root = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", root)
    (root / "profiles" / "mine.yaml").write_text("tasks:\n  copy:\n    task: {delay: 10}\n")
    run = cli("run", "--tasks", "copy", "--profile", "mine", "--out", tmp_path / "never",
              env={"RNNBENCH_CONFIG_DIR": str(root)})
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stderr.strip().splitlines() == [
        f"error: {root / 'profiles' / 'mine.yaml'}: `tasks.copy.task.delay` is now spelled `copy.delay` "
        f"(a task's settings sit under its name at the top level)"]
    assert not (tmp_path / "never").exists()


def test_a_mistyped_own_data_path_exits_2_before_training(tmp_path):
    run = cli("run", "--tasks", "forecast", "--models", "lstm", "--set", f"forecast.file={tmp_path / 'no_such.csv'}",
              "--out", tmp_path / "never")
    assert run.returncode == 2, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: forecast.file: no such file or folder"), run.stderr
    assert str(tmp_path / "no_such.csv") in lines[0] and not (tmp_path / "never").exists()


def test_table_of_a_missing_folder(tmp_path):
    run = cli("table", tmp_path / "nothing")
    assert run.returncode == 2 and "results.jsonl" in run.stderr


def test_threads_default_to_one_and_follow_the_option(tmp_path):
    fast = ["--tasks", "adding", "--models", "rnn", "--set", "train.max_steps=3", "--set", "adding.length=6"]
    for threads, out in ((None, tmp_path / "default"), ("2", tmp_path / "two")):
        run = cli("run", *fast, "--out", out, *(["--threads", threads] if threads else []))
        assert run.returncode == 0, run.stderr
        (record,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        assert record["threads"] == int(threads or 1)
        assert 0 <= record["cpu_wait_share"] <= 1 and record["contended"] == (record["cpu_wait_share"] > 0.1)


def test_tables_mark_throughput_measured_on_a_busy_cpu():
    from benchmark.reports.tables import BUSY_MARK, render, summarise

    def record(model, contended):
        return {"key": model, "group": model, "task": "copy", "model": model, "backend": "cudnn", "profile": "p",
                "status": "ok", "metrics": {"test/loss": 1.0}, "params": 10, "train_tokens_per_s": 100.0,
                "peak_mem_bytes": 1, "wall_s": 1.0, "contended": contended, "cpu_wait_share": 0.4 if contended else 0}
    rows = summarise([record("rnn", False), record("lstm", True)])
    md = render(rows, "md")
    assert md.count(BUSY_MARK.strip()) == 2  # the lstm row's tokens/s and the note under the table
    assert "(busy)" not in render(summarise([record("rnn", False)]), "md")
    assert {r["model"]: r["contended"] for r in json.loads(render(rows, "json"))} == {"rnn": False, "lstm": True}


@pytest.mark.parametrize("args, words", [
    (["measure", "params", "--seeds", "0"], ["--seeds"]),
    (["measure", "memory-span", "--set", "memory_span.nope=1"], ["memory_span.nope", "caps"]),
    (["measure", "memory-span", "--set", "memory_span.train=3"], ["memory_span.train"]),
    (["reproduce", "rnn-vs-lstm", "--set", "speeds.hidden=[8]"], ["speeds", "memory_span"]),
    (["reproduce", "rnn-vs-lstm", "--profile", "huge"], ["huge", "smoke"]),
])
def test_bad_measurement_settings_exit_2_before_measuring(tmp_path, args, words):
    run = cli(*args, "--out", tmp_path / "never")
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert all(w in run.stderr for w in words), run.stderr
    assert not (tmp_path / "never").exists()


def test_measurement_seeds_and_settings_come_from_the_command_line(tmp_path):
    out = tmp_path / "m"
    run = cli("measure", "speed", "--seeds", "2", "--set", "speed.hidden=[8]", "--set", "speed.seq=[4]",
              "--set", "speed.families=[rnn,lstm]", "--set", "speed.repeats=1", "--set", "speed.latency_repeats=1",
              "--out", out)
    assert run.returncode == 0, run.stderr
    result = json.loads((out / "speed" / "speed.json").read_text())
    assert result["settings"]["seeds"] == [0, 1] and result["settings"]["hidden"] == [8]
    assert sorted({(r["family"], r["seed"]) for r in result["rows"]}) == [("lstm", 0), ("lstm", 1), ("rnn", 0), ("rnn", 1)]


def test_data_check_prints_what_the_readers_found(tmp_path):
    rows = [{"review": f"{word} film {i}", "stars": label} for i in range(10)
            for word, label in (("good", "positive"), ("bad", "negative"))]
    (tmp_path / "mine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    conll = "John B-PER\nSmith I-PER\nin O\nParis B-LOC\n\nAcme B-ORG\nsaid O\n"
    for name in ("train", "valid", "test"):
        (tmp_path / f"{name}.conll").write_text(conll)
    run = cli("data", "check", "--tasks", "sentiment,ner", "--set", f"sentiment.train_file={tmp_path / 'mine.jsonl'}",
              "--set", "sentiment.label_column=stars", "--set", "sentiment.text_columns=[review]",
              "--set", "sentiment.split=[0.8, 0.1, 0.1]", *[a for s in ("train", "val", "test") for a in (
                  "--set", f"ner.{s}_file={tmp_path / ('valid' if s == 'val' else s)}.conll")],
              env={"RNNBENCH_CACHE": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "labels: 2 classes; label -> id: negative -> 0, positive -> 1" in out
    assert "cut from train: 0.1 of it (split 0.8/0.1/0.1, seed 0)" in out
    assert "columns review, stars; text 'review', label 'stars'" in out
    assert "train  3 / 3 / 3" in out  # length min / median / max
    assert "scheme: iob2" in out and "tags: 7: O, B-LOC, I-LOC, B-ORG, I-ORG, B-PER, I-PER" in out
    assert not (tmp_path / "results").exists()


def test_data_check_exits_2_with_the_readers_message(tmp_path):
    (tmp_path / "mine.jsonl").write_text(json.dumps({"review": "good", "stars": "positive"}) + "\n")
    run = cli("data", "check", "--tasks", "sentiment", "--set", f"sentiment.train_file={tmp_path / 'mine.jsonl'}",
              "--set", "sentiment.split=[0.8, 0.1, 0.1]", env={"RNNBENCH_CACHE": str(tmp_path / "cache")})
    assert run.returncode == 2
    assert "no label column 'label' (columns: review, stars); set sentiment.label_column" in run.stdout
    assert "sentiment" in run.stderr


def test_ctrl_c_says_how_many_cells_were_kept_and_exits_130(tmp_path, monkeypatch, capsys):
    from benchmark.cli import main
    from benchmark.engine.records import base_record
    from benchmark.engine.store import ResultsStore
    from benchmark.launchers import local

    def execute(job, callbacks=()):  # the first cell finishes, Ctrl-C lands in the second
        if job.cell.model.variant == "rnn":
            return {**base_record(job.cell), "status": "ok"}
        raise KeyboardInterrupt

    monkeypatch.setattr(local, "execute", execute)
    out = tmp_path / "run"
    status = main(["run", "--tasks", "copy", "--models", "rnn,lstm,gru", "--out", str(out), "--wandb", "disabled",
                   "--parallel", "1"])  # cells in this process, where the fake `execute` is
    err = capsys.readouterr().err
    assert status == 130
    assert err.strip().splitlines()[-1] == f"interrupted: 1 cell kept in {out}; run the same command to resume"
    assert [r["model"] for r in ResultsStore(out).records()] == ["rnn"]
