"""The GPU paths (precision rows, --parallel auto, fused optimisers, CUDA graphs, MPS), built and
checked on a CPU: the decisions are pure functions fed fake devices; the paths fall back cleanly."""
import re

import pytest
import torch

from benchmark.cli import main
from benchmark.models.cudnn_algo import H100, PERSISTENT, STANDARD, cudnn_algorithm

A100, A40, T4, V100 = (8, 0, 108), (8, 6, 84), (7, 5, 40), (7, 0, 80)


def test_persistent_kernels_only_for_fp16_single_unidirectional_layers_of_multiples_of_128():
    fastrnns = dict(input_size=512, hidden=512, batch=64, seq=100)
    assert cudnn_algorithm("lstm", "fp16", **fastrnns) == PERSISTENT
    assert cudnn_algorithm("lstm", "bf16", **fastrnns) == STANDARD
    assert cudnn_algorithm("lstm", "fp32", **fastrnns) == STANDARD
    assert cudnn_algorithm("lstm", "fp16", **fastrnns, num_layers=2) == STANDARD
    assert cudnn_algorithm("lstm", "fp16", **fastrnns, bidirectional=True) == STANDARD
    assert cudnn_algorithm("lstm", "fp16", **fastrnns, packed=True) == STANDARD
    assert cudnn_algorithm("lstm", "fp16", 512, 500, 64, 100) == STANDARD    # hidden not a multiple of 128
    assert cudnn_algorithm("lstm", "fp16", 100, 512, 64, 100) == STANDARD    # input size neither
    assert cudnn_algorithm("lstm", "fp16", 1280, 1280, 64, 100) == STANDARD  # hidden > 1024


def test_persistent_kernels_depend_on_batch_family_and_gpu():
    def algo(family, batch, gpu=H100, hidden=512, seq=100):
        return cudnn_algorithm(family, "fp16", hidden, hidden, batch, seq, gpu=gpu)
    assert algo("lstm", 128) == PERSISTENT and algo("lstm", 136) == STANDARD and algo("lstm", 60) == STANDARD
    assert algo("gru", 64) == STANDARD and algo("gru", 64, A100) == STANDARD  # never GRU on Ampere and later
    assert algo("rnn", 96, hidden=1024) == STANDARD and algo("rnn", 88, hidden=1024) == PERSISTENT
    assert algo("lstm", 64, A40) == STANDARD and algo("lstm", 64, T4) == STANDARD  # sm_86, Turing
    assert algo("gru", 64, V100) == PERSISTENT and algo("lstm", 80, V100) == STANDARD  # Volta's own rule
    assert algo("lstm", 64, V100, seq=10) == STANDARD


def test_bench_backends_names_every_precision_and_why_a_row_cannot_run(capsys):
    code = main(["bench", "backends", "--family", "lstm", "--hidden", "8", "--batch", "2", "--seq", "4",
                 "--repeats", "1"])
    out = capsys.readouterr().out
    assert code == 0
    for row in ("cudnn", "cudnn+bf16", "cudnn+fp16", "scratch", "scratch+bf16", "scratch+fp16", "compile", "graph"):
        assert re.search(rf"^  {re.escape(row)} +(train +[\d,]+ tok/s|skipped: |unavailable: )", out, re.M), row
    assert re.search(r"^  cudnn +train .*cuDNN algorithm: standard", out, re.M)
    if not torch.cuda.is_available():
        assert re.search(r"^  cudnn\+fp16 +skipped: fp16 .* needs a CUDA device; on a GPU, cuDNN algorithm: standard",
                         out, re.M)
        assert re.search(r"^  graph +skipped: CUDA graphs need a CUDA device", out, re.M)
        assert re.search(r"^  cudnn\+bf16 +train .* out bfloat16", out, re.M)  # the CPU's LSTM has a bf16 kernel


def test_speed_rows_say_when_autocast_would_time_float32(capsys):
    from benchmark.measurements.speed import measure_point
    settings = {"batch": 2, "warmup": 0, "repeats": 1}
    row = measure_point("gru", "cudnn", 8, 4, settings, torch.device("cpu"), precision="bf16")
    if row["status"] == "ok":  # a torch whose CPU autocast covers GRU: then it really ran in bf16
        assert row["out_dtype"] == "bfloat16"
    else:
        assert row["status"].startswith("skipped: autocast runs the cpu gru in float32")


def test_speed_measurement_takes_precisions_and_skips_what_this_device_cannot_run():
    from benchmark.measurements import speed
    settings = {"seed": 0, "seeds": [0], "batch": 2, "warmup": 0, "repeats": 1, "latency_repeats": 1,
                "backends": ["cudnn", "graph"], "precisions": ["fp32", "bf16", "fp16"], "families": ["lstm"],
                "hidden": [8], "seq": [4]}
    rows = {r["backend"]: r for r in speed.run(settings, None, "test")["rows"]}
    assert set(rows) == {"cudnn", "cudnn+bf16", "cudnn+fp16", "graph", "graph+bf16", "graph+fp16"}
    assert rows["cudnn"]["status"] == "ok" and rows["cudnn"]["precision"] == "fp32"
    assert rows["graph+bf16"]["status"].startswith("skipped: ")  # graphs are timed in fp32 only
    if not torch.cuda.is_available():
        assert rows["cudnn+fp16"]["status"].startswith("skipped: fp16")
        assert rows["graph"]["status"].startswith("skipped: CUDA graphs need a CUDA device")
        assert rows["cudnn+bf16"]["status"] == "ok" and rows["cudnn+bf16"]["out_dtype"] == "bfloat16"


def test_parallel_auto_on_a_cpu_never_oversubscribes_the_idle_cores():
    from benchmark.launchers.packing import choose
    assert choose(20, cpus=16, threads=1)[0] == 16
    assert choose(10, cpus=16, threads=4)[0] == 4
    assert choose(3, cpus=16, threads=1) == (3, "16 idle core(s) of 16 (others' work uses 0.0 now) / 1 thread(s) "
                                                "per cell, capped by 3 cell(s) to run")
    assert choose(10, cpus=16, threads=2, busy=10.2)[0] == 3    # others' work takes 10 cores
    assert "others' use unknown" in choose(10, cpus=2, threads=1, busy=None)[1]
    n, why = choose(10, cpus=2, threads=1, busy=3.4)
    assert n == 1 and why.endswith("one at least")
    assert choose(10, cpus=8, threads=None)[0] == 8              # --threads 0: an equal share, one core each


def test_parallel_auto_on_gpus_fits_free_memory_and_leaves_busy_gpus_alone():
    from benchmark.launchers.packing import CONTEXT_BYTES, MAX_PER_GPU, Gpu, choose
    gib = 2**30
    big = Gpu(free_bytes=70 * gib, busy_percent=0)
    assert choose(20, cpus=16, threads=1, gpus=(big,))[0] == MAX_PER_GPU                # compute caps it
    assert choose(20, cpus=16, threads=1, gpus=(big, big))[0] == 2 * MAX_PER_GPU
    assert choose(3, cpus=16, threads=1, gpus=(big,))[0] == 3                           # cells cap it
    tight = Gpu(free_bytes=int((3 * (gib + CONTEXT_BYTES)) / 0.9) + 1, busy_percent=None)
    n, why = choose(20, cpus=16, threads=1, gpus=(tight,), cell_bytes=gib)             # memory caps it
    assert n == 3 and "measured peak" in why and "utilisation unknown" in why
    assert choose(20, cpus=16, threads=1, gpus=(Gpu(70 * gib, 80),))[0] == 1           # someone else's job
    assert choose(20, cpus=16, threads=1, gpus=(Gpu(gib // 2, 0),))[0] == 1            # always one at least
    assert "assumed peak" in choose(20, cpus=16, threads=1, gpus=(big,))[1]


def test_a_cells_measured_peak_comes_from_earlier_cuda_records():
    from benchmark.launchers.packing import measured_cell_bytes
    records = [{"peak_mem_kind": "cuda_max_allocated", "peak_mem_bytes": 5}, {"peak_mem_kind": "cpu_rss_growth",
                                                                              "peak_mem_bytes": 99},
               {"peak_mem_kind": "cuda_max_allocated", "peak_mem_bytes": 7}, {"status": "failed"}]
    assert measured_cell_bytes(records) == 7
    assert measured_cell_bytes(records[1:2]) is None


def test_ray_tasks_get_a_fraction_of_a_gpu_when_cells_share_it():
    from benchmark.launchers.packing import ray_gpus_per_task
    assert ray_gpus_per_task(devices=1, cluster_gpus=1, parallel=4) == 0.25
    assert ray_gpus_per_task(devices=1, cluster_gpus=2, parallel=5) == 1 / 3
    assert ray_gpus_per_task(devices=1, cluster_gpus=4, parallel=2) == 1
    assert ray_gpus_per_task(devices=2, cluster_gpus=4, parallel=2) == 2
    assert ray_gpus_per_task(devices=1, cluster_gpus=0, parallel=4) == 0


def test_parallel_accepts_auto_or_a_positive_integer(tmp_path, capsys):
    import json
    assert main(["run", "--tasks", "copy", "--parallel", "0", "--out", str(tmp_path)]) == 2
    assert "expected auto or an integer >= 1" in capsys.readouterr().err
    code = main(["run", "--tasks", "copy", "--models", "rnn", "--parallel", "auto", "--set", "train.max_steps=2",
                 "--set", "copy.delay=3", "--set", "model.hidden=4", "--out", str(tmp_path), "--wandb", "disabled"])
    assert code == 0
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok"]


def test_parallel_auto_says_its_choice_in_one_line_and_a_number_passes_through():
    from benchmark.launchers.packing import resolve
    said = []
    assert resolve(3, 10, 1, [], cpus=2, say=said.append) == 3 and said == []
    n = resolve("auto", 1, 1, [], cpus=2, say=said.append)
    assert n == 1 and len(said) == 1
    assert torch.cuda.is_available() or re.match(r"--parallel auto: 1 cell\(s\) at once: \d+ idle core\(s\) of 2 ", said[0])


def test_optimisers_step_every_parameter_at_once_fused_on_cuda_foreach_elsewhere():
    from benchmark.config import TrainConfig
    from tasks.base import make_optimizer, multi_tensor
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert multi_tensor(cuda, TrainConfig()) == {"fused": True}
    assert multi_tensor(cuda, TrainConfig(precision="bf16-mixed")) == {"fused": True}
    assert multi_tensor(cuda, TrainConfig(precision="16-mixed")) == {"foreach": True}  # Lightning clips then
    assert multi_tensor(cpu, TrainConfig()) == {"foreach": True}
    params = [torch.nn.Parameter(torch.ones(3))]
    for name, kind in (("adam", torch.optim.Adam), ("sgd", torch.optim.SGD), ("rmsprop", torch.optim.RMSprop)):
        opt = make_optimizer(params, TrainConfig(optimizer=name, lr=0.1))
        assert isinstance(opt, kind) and opt.defaults["foreach"] is True and not opt.defaults.get("fused")


def test_a_cell_trains_with_the_multi_tensor_optimiser(tmp_path):
    from benchmark.bench.overhead import make_cell
    from benchmark.config import parse_set
    from benchmark.engine.runner import fit_cell
    cell = make_cell("copy", "lstm", 8, 20, overrides=parse_set(["copy.delay=3", "train.batch_size=8",
                                                                 "train.lr=0.03"]))
    run = fit_cell(cell, tmp_path)
    assert run.record["status"] == "ok"
    (opt,) = run.module.trainer.optimizers
    assert opt.defaults["foreach"] is True or (torch.cuda.is_available() and opt.defaults["fused"] is True)
    assert run.record["metrics"]["val/loss"] < 1.5  # it learned: 2.15 after one step, 0.95 after 20 here


def test_compile_reduce_overhead_uses_cuda_graphs_on_a_gpu_and_says_it_falls_back_elsewhere(capsys):
    from benchmark import config
    from benchmark.config import ConfigError, TrainConfig, parse_set
    from benchmark.engine import runner
    assert config.build(TrainConfig, parse_set(["train.compile=reduce-overhead"])["train"], "train").compile == \
        "reduce-overhead"
    with pytest.raises(ConfigError, match=r"train.compile 'max': expected bool or reduce-overhead"):
        config.build(TrainConfig, parse_set(["train.compile=max"])["train"], "train")
    assert runner.compile_options("reduce-overhead", cuda=True) == {"mode": "reduce-overhead"}
    assert runner.compile_options(True, cuda=True) == {}
    runner._note_once.cache_clear()
    assert runner.compile_options("reduce-overhead", cuda=False) == {}
    assert "CUDA graphs need a GPU; compiling the encoder in the default mode" in capsys.readouterr().err


def test_bench_overhead_profiler_prints_host_and_device_time_per_step(capsys):
    code = main(["bench", "overhead", "--hidden", "8", "--steps", "4", "--repeats", "1", "--profiler",
                 "--set", "copy.delay=5", "--set", "train.batch_size=4"])
    out = capsys.readouterr().out
    assert code == 0
    line = re.search(r"^torch.profiler, steps 2..4, one run each: cell host ([\d.]+) ms/step, device (.+?); "
                     r"plain host ([\d.]+) ms/step, device (.+)$", out, re.M)
    assert line and float(line[1]) > 0 and float(line[3]) > 0
    if not torch.cuda.is_available():
        assert line[2].startswith("n/a (cpu") and line[4].startswith("n/a (cpu")


def test_the_profiled_window_leaves_out_the_first_step():
    import time

    from benchmark.bench.step_profile import StepWindow
    window = StepWindow(torch.device("cpu"))
    for step, pause in enumerate((0.2, 0.01, 0.01)):  # a slow first step, as a warm-up is
        window.begin(step)
        time.sleep(pause)
        torch.ones(4).sum()
        window.end()
    host_ms, device_ms = window.per_step_ms()
    assert window.steps == 2 and 10 <= host_ms < 100 and device_ms is None


def test_mps_starts_only_when_cells_share_a_gpu_and_nobody_runs_it():
    from benchmark.launchers.mps import decide
    binary = "/usr/bin/nvidia-cuda-mps-control"
    assert decide(4, cuda=True, binary=binary, running=False)[0] == "start"
    assert decide(4, cuda=True, binary=binary, running=True)[0] == "use"    # someone else's: left alone
    assert decide(4, cuda=True, binary=None, running=False)[0] == "none"
    assert decide(1, cuda=True, binary=binary, running=False)[0] == "none"  # nothing shares the GPU
    action, why = decide(4, cuda=False, binary=None, running=False)
    assert action == "none" and "no CUDA device" in why


def test_mps_on_a_cpu_is_one_note_and_nothing_started(monkeypatch):
    import subprocess

    from benchmark.launchers import mps
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("nothing may start on a CPU"))
    said = []
    with mps.for_run(2, said.append) as action:
        assert action == "none"
    assert said == ["MPS: not used: no CUDA device (cells share CPU cores, not a GPU)"]
    with mps.for_run(1, said.append):
        pass
    assert len(said) == 1


def test_an_unknown_speed_precision_is_named(capsys):
    assert main(["measure", "speed", "--set", "speed.precisions=[fp8]"]) == 2
    assert "bad speed.precisions ['fp8']: choose from fp32, bf16, fp16" in capsys.readouterr().err
