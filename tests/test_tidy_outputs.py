"""Issue 25, tidy outputs: a task with nothing trained is one line, counts agree in number,
`data check` skips what `run` skips, `bench plan` says a reason once and keeps the profiler
quiet, peak memory is one statistic of an order-independent figure, diverged cells are
`diverged`, and every unknown name gets its "did you mean"."""
import io
import math

import pytest
import torch

from benchmark.engine.cells import build_cells
from benchmark.engine.records import DIVERGED, base_record, diverged, finalise, upgrade
from benchmark.engine.store import ResultsStore
from benchmark.reports.tables import PEAK_COLUMN, render, summarise
from conftest import DATA, cli

REASON = ("sentiment: DATA/sst2 not found; put the SST-2 files there (train.tsv, dev.tsv, test.tsv) or point "
          "--data-dir elsewhere, or use --set sentiment.source=hub")


def cell(task="copy", model="rnn", seed=0):
    (c,) = build_cells([task], [model], ["cudnn"], [seed], "smoke", {})
    return c


def ok(model="rnn", seed=0, loss=0.5, acc=0.2, peak=2**20):
    return {**base_record(cell("copy", model, seed)), "status": "ok", "params": 100, "wall_s": 1.0,
            "train_tokens_per_s": 1000.0, "peak_mem_bytes": peak, "peak_mem_kind": "cpu_rss_peak", "device": "cpu",
            "metrics": {"test/loss": loss, "test/recall_acc": acc, "val/loss": loss}}


# --- a. a task whose every cell was skipped ---------------------------------------------------
def test_a_task_with_every_cell_skipped_is_one_line_not_an_empty_table():
    skipped = [{**base_record(cell("sentiment", m)), "status": "skipped", "reason": REASON}
               for m in ("rnn", "lstm", "gru", "birnn", "bilstm", "bigru")]
    md = render(summarise(skipped + [ok()]), "md")
    line = next(x for x in md.splitlines() if x.startswith("sentiment"))
    assert line == f"sentiment: 6 cells skipped: {REASON}"
    assert md.count(REASON) == 1 and "; ;" not in md and "nothing trained" not in md
    assert "### sentiment" not in md and "### copy" in md  # the trained task keeps its table
    one = render(summarise(skipped[:1]), "md")
    assert one == f"sentiment: 1 cell skipped: {REASON}\n"


# --- b. plurals -------------------------------------------------------------------------------
def test_run_summary_lines_say_1_cell_not_1_cells(tmp_path, capsys):
    from benchmark.cli import _report_run
    from benchmark.engine.progress import count, time_breakdown
    from benchmark.launchers import Summary

    record = {**ok(), "train_s": 0.5}
    ResultsStore(tmp_path).append(record)
    assert _report_run(tmp_path, Summary(ran=1, skipped=0, records=[record])) == 0
    out = capsys.readouterr().out
    assert "(1 cell run, 0 already done or n/a)" in out and "1 cells" not in out
    assert time_breakdown([record]).startswith("time: 1 cell, ") and "slowest cell: " in time_breakdown([record])
    assert count(0) == "0 cells" and count(2) == "2 cells"


# --- c. data check skips a default data set that is absent, as run does ------------------------
@pytest.mark.skipif((DATA / "mnist").exists() or not DATA.is_dir(), reason="needs shared/data without MNIST")
def test_data_check_skips_an_absent_default_data_set_but_not_a_named_file(tmp_path):
    env = {"RNNBENCH_CACHE": str(tmp_path / "cache")}
    run = cli("data", "check", "--tasks", "smnist,copy", "--data-dir", DATA, env=env)
    assert run.returncode == 0, run.stderr
    assert "  skipped: smnist: " in run.stdout and "mnist not found" in run.stdout
    assert "skipped smnist" in run.stderr and "error" not in run.stdout
    named = cli("data", "check", "--tasks", "ner", "--set", "ner.train_file=missing.conll", "--data-dir", DATA,
                env=env)
    assert named.returncode == 2 and "  error: ner: " in named.stdout and "missing.conll" in named.stdout


# --- d. bench plan: a task's reason once, no profiler chatter ----------------------------------
@pytest.mark.skipif((DATA / "mnist").exists() or not DATA.is_dir(), reason="needs shared/data without MNIST")
def test_bench_plan_says_a_skipped_tasks_reason_once_and_the_profiler_stays_quiet(capfd):
    from benchmark.bench import plan

    cells = build_cells(["smnist"], ["rnn,lstm,gru"], ["cudnn"], 1, "smoke", {}) + [cell("copy", "rnn")]
    assert plan.main(cells, steps=2, data_dir=str(DATA)) == 0
    out, err = capfd.readouterr()
    assert out.count("mnist not found") == 1
    assert "smnist/lstm/cudnn/seed0" in out and "not timed: as smnist/rnn/cudnn/seed0" in out
    assert "what dominates a training step of copy/rnn" in out
    assert "profiler_start" not in err and "profiler_stop" not in err and "USDT" not in out + err


def test_step_window_profiles_without_its_log_lines(capfd):
    from benchmark.bench.step_profile import StepWindow, quiet_profiler

    window = StepWindow(torch.device("cpu"))
    for step in range(3):
        window.begin(step)
        torch.ones(64, 64) @ torch.ones(64, 64)
        window.end()
    host, device = window.per_step_ms()
    assert host > 0 and device is None
    with quiet_profiler():
        pass
    print("still here", file=__import__("sys").stderr)
    err = capfd.readouterr().err
    assert "profiler_st" not in err and "still here" in err  # stderr is back after the profiler's calls


# --- e. peak memory ---------------------------------------------------------------------------
def test_cpu_peak_memory_is_the_cells_own_peak_resident_set_whatever_ran_before():
    from benchmark.engine.throughput import PEAK_MEM_KIND, _rss_bytes, _rss_meter

    first = _rss_meter()
    block = torch.ones(128 * 2**20 // 4)  # 128 MiB touched in the first cell only
    del block
    big = first.stop()
    second = _rss_meter()  # the next cell of the same process: the high-water mark starts again
    small = second.stop()
    assert small < big - 64 * 2**20  # the reset took: the first cell's peak does not leak into the second
    assert small >= _rss_bytes() * 0.5  # no baseline subtracted: the process's resident set, not a growth
    assert PEAK_MEM_KIND["cpu"] == "cpu_rss_peak"


def test_cpu_peak_memory_samples_the_resident_set_where_the_reset_is_not_allowed(monkeypatch):
    import builtins

    from benchmark.engine import throughput

    real_open = builtins.open

    def no_clear_refs(path, *args, **kwargs):
        if str(path) == "/proc/self/clear_refs":
            raise PermissionError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", no_clear_refs)
    meter = throughput._rss_meter()
    assert isinstance(meter, throughput._RssSampler)
    base = throughput._rss_bytes()
    assert meter.stop() >= base * 0.9


def test_tables_and_the_memory_chart_both_show_the_max_over_seeds(monkeypatch, tmp_path):
    from benchmark.reports import matrix_plots

    records = [ok(seed=0, peak=17 * 2**20), ok(seed=1, peak=3 * 2**20), ok(seed=2, peak=3 * 2**20)]
    md = render(summarise(records), "md")
    assert PEAK_COLUMN in md and "| 17.00 |" in md
    drawn = {}
    monkeypatch.setattr(matrix_plots, "save", lambda fig, path: drawn.setdefault("fig", fig) and path)
    names = matrix_plots.labels(records)
    matrix_plots.memory(records, names, matrix_plots.colours(names, records), tmp_path / "memory.png")
    ax = drawn["fig"].axes[0]
    assert [round(p.get_width(), 3) for p in ax.patches] == [17.0]
    assert "max over seeds" in ax.get_xlabel() and "peak resident set" in ax.get_xlabel()


# --- f. diverged ------------------------------------------------------------------------------
def test_a_huge_or_non_finite_loss_is_diverged_and_keeps_its_metrics():
    assert diverged({"val/loss": 0.3, "test/acc": 0.9}) is None
    assert "1e+31" in diverged({"val/loss": 1e31})
    assert "nan" in diverged({"test/loss": math.nan})
    assert diverged({"train/loss": 2e6}) and not diverged({"test/ppl": 5e5})
    huge = {**ok(loss=1e31)}
    record = finalise(huge)
    assert record["status"] == DIVERGED and record["metrics"]["val/loss"] == 1e31 and "train.lr" in record["reason"]
    nan = {**base_record(cell()), "status": "failed", "error": "NonFiniteLoss: training loss became nan at step 3"}
    assert finalise(nan)["status"] == DIVERGED and "nan at step 3" in finalise(nan)["reason"]
    other = {**base_record(cell()), "status": "failed", "error": "RuntimeError: boom"}
    assert finalise(other) is other
    assert upgrade(huge)["status"] == DIVERGED  # a folder written before `diverged` reads as diverged


def test_tables_show_diverged_rows_and_never_bold_them():
    md = render(summarise([ok("rnn", loss=1e31, acc=0.9), ok("lstm", loss=0.4, acc=0.2), ok("gru", loss=0.5, acc=0.1)]),
                "md")
    rnn = next(x for x in md.splitlines() if x.startswith("| rnn"))
    lstm = next(x for x in md.splitlines() if x.startswith("| lstm"))
    assert "diverged: training diverged" in rnn and "**" not in rnn  # acc 0.9 is the highest, still not bold
    assert "**0.4000**" in lstm and "**0.2000**" in lstm
    assert "diverged: the loss blew up" in md


def test_run_records_diverged_cells_and_retry_failed_runs_them_again(tmp_path, monkeypatch):
    from benchmark.launchers import local, run_matrix

    calls = []

    def execute(job, callbacks=()):
        calls.append(job.cell.model.variant)
        if job.cell.model.variant == "rnn":
            return {**ok("rnn", loss=1e31), "key": job.cell.key}
        if job.cell.model.variant == "lstm":
            return {**base_record(job.cell), "status": "failed", "error": "NonFiniteLoss: training loss became nan"}
        return {**ok("gru"), "key": job.cell.key}

    monkeypatch.setattr(local, "execute", execute)
    cells = build_cells(["copy"], ["rnn,lstm,gru"], ["cudnn"], 1, "smoke", {})
    summary = run_matrix(cells, tmp_path, stream=io.StringIO())
    assert [r["model"] for r in summary.diverged] == ["rnn", "lstm"] and not summary.failed
    assert [r["status"] for r in ResultsStore(tmp_path).records()] == [DIVERGED, DIVERGED, "ok"]
    calls.clear()
    run_matrix(cells, tmp_path, stream=io.StringIO())
    assert calls == []  # done, as a failed cell is without --retry-failed
    run_matrix(cells, tmp_path, retry_failed=True, stream=io.StringIO())
    assert calls == ["rnn", "lstm"]


def test_run_lists_diverged_cells_and_exits_1(tmp_path, capsys):
    from benchmark.cli import _report_run
    from benchmark.launchers import Summary

    record = finalise(ok(loss=1e31))
    ResultsStore(tmp_path).append(record)
    assert _report_run(tmp_path, Summary(ran=1, diverged=[record], records=[record])) == 1
    err = capsys.readouterr().err
    assert "1 cell diverged" in err and "copy/rnn/cudnn/seed0: training diverged: test/loss 1e+31" in err


# --- g. did you mean --------------------------------------------------------------------------
@pytest.mark.parametrize("argv, suggestion", [
    (["run", "--tasks", "cpoy"], "did you mean 'copy'?"),
    (["run", "--tasks", "copy", "--models", "lstn"], "did you mean 'lstm'?"),
    (["run", "--tasks", "copy", "--set", "model.hiden=3"], "did you mean 'hidden'?"),
    (["run", "--tasks", "copy", "--backend", "cudn"], "did you mean 'cudnn'?"),
    (["run", "--tasks", "copy", "--profile", "smoek"], "did you mean 'smoke'?"),
    (["run", "--tasks", "copy", "--set", "copy.delya=3"], "did you mean 'delay'?"),
    (["data", "check", "--tasks", "cpoy"], "did you mean 'copy'?"),
    (["bench", "plan", "--tasks", "copy", "--models", "lstn"], "did you mean 'lstm'?"),
])
def test_unknown_names_say_the_nearest_known_one(argv, suggestion, capsys):
    from benchmark.cli import main

    assert main([*argv, "--print-config"] if argv[0] == "run" else argv) == 2
    assert suggestion in capsys.readouterr().err


def test_every_raise_on_an_unknown_name_suggests_the_nearest():
    from benchmark import config, families
    from benchmark.engine.cells import settings_from_defaults
    from benchmark.errors import ConfigError
    from benchmark.launchers import _check
    from tasks import get_task

    for call, suggestion in [(lambda: get_task("cpoy"), "'copy'"), (lambda: families.get("lstn"), "'lstm'"),
                             (lambda: config.ModelConfig(variant="lstn"), "'lstm'"),
                             (lambda: config.ModelConfig(backend="cudn"), "'cudnn'"),
                             (lambda: settings_from_defaults("copy", {"delay": 10}, {"delya": 3}), "'delay'"),
                             (lambda: _check("rya", 1, 1), "'ray'")]:
        with pytest.raises(ConfigError, match=f"did you mean {suggestion}"):
            call()
