"""The GPU paths (precision rows, --parallel auto, fused optimisers, CUDA graphs, MPS), built and
checked on a CPU: the decisions are pure functions fed fake devices; the paths fall back cleanly."""
import re

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
