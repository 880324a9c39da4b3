"""The harness-speed work: the overhead benchmark, fast `list`/`--help`, GPU paths that fall back on CPU."""
import re
import subprocess
import sys

import pytest
import torch

from benchmark import config
from benchmark.bench.overhead import make_cell, train_batches
from benchmark.cli import main
from benchmark.config import ConfigError, TrainConfig, parse_set
from benchmark.engine.progress import time_breakdown


def _modules_after(argv: list[str]) -> set:
    code = ("import sys; from benchmark.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.splitlines()[-1].split())


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["bench", "--help"]])
def test_help_and_list_load_neither_torch_nor_lightning(argv):
    loaded = _modules_after(argv)
    assert "torch" not in loaded and "lightning" not in loaded


def test_catalog_read_from_source_matches_the_registry():
    import tasks
    registered = {name: {"kind": cls.kind, "description": cls.description}
                  for name, cls in tasks.all_tasks().items()}
    assert tasks.catalog() == registered


def test_list_prints_every_task_with_its_kind(capsys):
    import tasks
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name, task in tasks.catalog().items():
        assert re.search(rf"^  {name}\s+{task['kind']}", out, re.M)


def test_bench_overhead_prints_both_throughputs_and_the_ratio(capsys):
    code = main(["bench", "overhead", "--hidden", "8", "--steps", "3", "--repeats", "2",
                 "--set", "copy.delay=5", "--set", "train.batch_size=4"])
    out = capsys.readouterr().out
    assert code == 0
    assert len(re.findall(r"repeat \d/2: cell [\d,]+ tok/s  plain [\d,]+ tok/s", out)) == 2
    ratio = float(re.findall(r"ratio[^0-9]*([0-9.]+)", out)[-1])
    assert 0 < ratio < 10


def test_bench_overhead_rejects_bad_arguments(capsys):
    assert main(["bench", "overhead", "--steps", "1"]) == 2
    assert main(["bench", "overhead", "--task", "nope"]) == 2


def test_plain_loop_draws_the_cells_training_batches():
    from tasks import get_task
    cell = make_cell("copy", "lstm", 8, 3, overrides=parse_set(["copy.delay=5", "train.batch_size=4"]))
    data = get_task("copy").datamodule(cell.settings, cell.train, cell.seed, None)
    lightning_batches = iter(data.train_dataloader())
    plain_batches = train_batches(data, torch.device("cpu"))
    for _ in range(3):
        for a, b in zip(next(lightning_batches), next(plain_batches)):
            assert torch.equal(a, b)


def test_compile_flag_is_validated_and_off_by_default():
    assert TrainConfig().compile is False
    with pytest.raises(ConfigError, match="train.compile"):
        config.build(TrainConfig, {"compile": "yes"}, "train")


def test_fast_paths_fall_back_on_cpu_and_compile_only_when_asked():
    from benchmark.engine.runner import fast_paths
    from tasks import get_task
    cell = make_cell("copy", "lstm", 8, 3, backend="scratch", overrides=parse_set(["copy.delay=5"]))
    task = get_task("copy")
    data = task.datamodule(cell.settings, cell.train, 0, None)
    before = torch.get_float32_matmul_precision()
    module = task(cell.settings, cell.model, cell.train, data)
    fast_paths(module, cell.train)
    assert module.encoder._compiled_call_impl is None
    if not torch.cuda.is_available():
        assert torch.get_float32_matmul_precision() == before
    compiled = TrainConfig(compile=True)
    fast_paths(module, compiled)
    assert module.encoder._compiled_call_impl is not None


def test_cpu_peak_memory_needs_no_sampling_thread():
    import threading

    from benchmark.engine.throughput import _rss_meter
    threads = threading.active_count()
    meter = _rss_meter()
    assert threading.active_count() == threads  # the kernel's high-water mark, no sampler
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    del block
    assert meter.stop() >= 48 * 2**20


def test_loader_pins_memory_only_with_a_gpu_and_shuffles_by_seed():
    from tasks.data.loader import loader
    data = list(range(20))
    first = [b.tolist() for b in loader(data, 5, shuffle=True, seed=3)]
    again = [b.tolist() for b in loader(data, 5, shuffle=True, seed=3)]
    other = [b.tolist() for b in loader(data, 5, shuffle=True, seed=4)]
    assert first == again != other
    assert loader(data, 5).pin_memory == torch.cuda.is_available()


def test_time_breakdown_names_the_slowest_cells():
    records = [{"cell": f"c{i}", "wall_s": float(i), "train_s": i / 2} for i in range(1, 8)]
    text = time_breakdown(records, slowest=2)
    assert "7 cells, 28.0s in cells (14.0s training loops, 14.0s data" in text
    assert text.endswith("slowest cells: c7 7.0s, c6 6.0s")


_LSTM_STEPS_FAULTS = """
import resource, sys, torch
from benchmark.engine.host_memory import retain_freed_memory
if sys.argv[1] == "retain":
    assert retain_freed_memory()
torch.set_num_threads(1)
lstm = torch.nn.LSTM(8, 256, batch_first=True)
x = torch.randn(64, 120, 8)
def step():
    lstm(x)[0].sum().backward()
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_retained_heap_spares_the_page_faults_of_lstm_steps():
    def faults(mode):
        out = subprocess.run([sys.executable, "-c", _LSTM_STEPS_FAULTS, mode], capture_output=True, text=True,
                             check=True, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
        return int(out.stdout.split()[-1])
    default, retained = faults("default"), faults("retain")
    assert default > 1000
    assert retained < default / 3  # measured here: ~60k -> ~10k


def test_bench_backends_times_every_backend_at_one_size(capsys):
    code = main(["bench", "backends", "--family", "gru", "--hidden", "8", "--batch", "2", "--seq", "4",
                 "--repeats", "2"])
    out = capsys.readouterr().out
    assert code == 0
    device = "cuda" if torch.cuda.is_available() else "cpu"  # the suite runs on a GPU machine too
    assert "gru hidden=8 input=8 batch=2 seq=4" in out and re.search(rf"^device: {device}", out, re.M)
    for backend in ("cudnn", "scratch", "compile"):  # compile: timed, or says why it is unavailable
        assert re.search(rf"^  {backend} +(train +[\d,]+ tok/s|unavailable: )", out, re.M), backend
    assert re.search(r"^  cudnn +train .*\(1\.00x cudnn\)", out, re.M)


def test_bench_backends_compares_families_against_the_fused_gru(capsys):
    code = main(["bench", "backends", "--family", "gru,mingru,minlstm", "--hidden", "8", "--batch", "2", "--seq", "16",
                 "--repeats", "2"])
    out = capsys.readouterr().out
    assert code == 0
    rows = re.findall(r"^  (\w+) +(fused|step|scan) +([\d,]+) +([\d.e+-]+)x", out, re.M)
    assert {(f, i) for f, i, *_ in rows} == {("gru", "fused"), ("gru", "step"), ("mingru", "step"), ("mingru", "scan"),
                                             ("minlstm", "step"), ("minlstm", "scan")}
    assert [r for r in rows if r[:2] == ("gru", "fused")][0][3] == "1"  # the reference of every ratio


def test_bench_backends_rejects_an_unknown_family(capsys):
    assert main(["bench", "backends", "--family", "transformer"]) == 2
    assert "transformer" in capsys.readouterr().err


def test_plan_extrapolates_each_cell_from_its_own_schedule():
    from benchmark.bench.plan import Estimate
    cell = make_cell("copy", "lstm", 8, 1000, overrides=parse_set(["train.val_every=250", "train.val_batches=4",
                                                                    "train.test_batches=10"]))
    e = Estimate(cell, step_s=0.01, eval_s=0.002, fixed_s=1.5, val_batches=4, test_batches=10)
    assert e.validations == 4
    assert e.total_s == pytest.approx(1.5 + 1000 * 0.01 + (4 * 4 + 10) * 0.002)


def test_bench_plan_times_every_cell_and_profiles_the_largest(capsys):
    code = main(["bench", "plan", "--tasks", "copy", "--models", "rnn,lstm,bilstm", "--steps", "3",
                 "--set", "copy.delay=5", "--set", "model.hidden=8", "--set", "train.max_steps=200"])
    out = capsys.readouterr().out
    assert code == 0
    rows = re.findall(r"^(copy/\w+/cudnn/seed0) +200 +([\d.]+) ", out, re.M)
    assert [name for name, _ in rows] == ["copy/rnn/cudnn/seed0", "copy/lstm/cudnn/seed0"]  # bilstm: n/a
    assert all(float(ms) > 0 for _, ms in rows)
    assert re.search(r"estimated total \d+m\d\ds \(2 cells", out)
    assert "torch.profiler" in out and "Self CPU" in out


def test_bench_plan_times_one_seed_of_each_cell_and_counts_them_all(capsys):
    code = main(["bench", "plan", "--tasks", "copy", "--models", "rnn", "--steps", "2", "--seeds", "3", "--parallel", "2",
                 "--set", "copy.delay=5", "--set", "model.hidden=8", "--set", "train.max_steps=100"])
    out = capsys.readouterr().out
    assert code == 0
    assert re.findall(r"^copy/\w+/cudnn/seed\d", out, re.M) == ["copy/rnn/cudnn/seed0"]  # timed once
    total = re.search(r"estimated total (\d+)m(\d\d)s \(3 cells, one after another; 1 timed", out)
    assert total and "with 2 cells in flight: at best" in out


def test_bench_plan_needs_a_cell_selection(capsys):
    assert main(["bench", "plan"]) == 2
    assert "--all or --tasks" in capsys.readouterr().err


def test_bench_overhead_refuses_what_it_cannot_compare_with_a_message(capsys, monkeypatch, data_dir):
    monkeypatch.delenv("RNNBENCH_DATA_DIR", raising=False)
    assert main(["bench", "overhead", "--task", "sentiment", "--steps", "2"]) == 2
    assert "no data directory set" in capsys.readouterr().err
    assert main(["bench", "overhead", "--task", "char_lm", "--steps", "2", "--data-dir", str(data_dir)]) == 2
    assert "automatic-optimisation" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_busy_times_the_cells_alone_and_beside_a_twin():
    run = subprocess.run([sys.executable, "-m", "benchmark", "bench", "busy", "--tasks", "adding", "--models", "rnn",
                          "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert re.search(r"^alone: +[\d.]+ s +\(threads \[1\], cpu_wait_share mean [\d.]+", run.stdout, re.M)
    assert re.search(r"^beside a twin: +[\d.]+ s", run.stdout, re.M)
    assert re.search(r"^busy/idle [\d.]+x$", run.stdout, re.M)
