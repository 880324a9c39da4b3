"""Backends side by side at one size: cuDNN vs our scratch cells (eager, compiled, CUDA-graphed), per precision.

Default: LSTM, hidden 512, batch 64, sequence 100, input size = hidden: the setting of
PyTorch's fastrnns benchmark (benchmarks/fastrnns), so figures compare with theirs. Each
row is timed by the speed measurement's harness (`benchmark.measurements.speed`):
warm-up calls (they absorb torch.compile's tracing, cuDNN's plan selection and CUDA graph
capture), then the median of repeats, with the device synchronised around every timed call.
cudnn and scratch run in fp32, bf16 and fp16 (autocast, the path `train.precision:
bf16-mixed | 16-mixed` takes); a cudnn row names the cuDNN algorithm torch picks for its
shapes (`models/cudnn_algo.py`: persistent kernels for fp16 only). A row that cannot run
on this device says `skipped:` and why (fp16 and CUDA graphs need a GPU).
"""
from __future__ import annotations

import torch

from benchmark.bench import provenance_line
from benchmark.engine.environment import device
from benchmark.errors import ConfigError
from benchmark.measurements.speed import algorithm, label, measure_point, skip_reason, unavailable
from benchmark.models.cudnn_algo import gpu_of

# (backend, precision) rows in order; the first is the reference of every ratio
RUNS = (("cudnn", "fp32"), ("cudnn", "bf16"), ("cudnn", "fp16"), ("scratch", "fp32"), ("scratch", "bf16"),
        ("scratch", "fp16"), ("compile", "fp32"), ("graph", "fp32"))


def rows(family: str, hidden: int, batch: int, seq: int, repeats: int, seed: int = 0, say=print) -> list[dict]:
    dev = device()
    settings = {"seed": seed, "batch": batch, "warmup": 3, "repeats": repeats}
    out = []
    for backend, precision in RUNS:
        skipped = skip_reason(backend, precision, dev)
        if skipped:
            algo = algorithm(family, backend, precision, hidden, batch, seq, dev)
            out.append({"backend": label(backend, precision), "status": skipped + (f"; on a GPU, cuDNN algorithm: {algo}"
                                                                                   if algo else "")})
            say(_line(out[-1], out[0]))
            continue
        try:
            r = measure_point(family, backend, hidden, seq, settings, dev, seed, precision)
        except Exception as e:  # noqa: BLE001 - torch.compile needs a working compiler on this host
            if backend != "compile":
                raise
            r = {"backend": label(backend, precision), "status": unavailable(e)}
        out.append(r)
        say(_line(r, out[0]))
    return out


def _line(r: dict, ref: dict) -> str:
    if r["status"] != "ok":
        return f"  {r['backend']:<13} {r['status']}"
    vs = (f"{ref['train_s'] / r['train_s']:.2f}x cudnn", f"{ref['infer_s'] / r['infer_s']:.2f}x cudnn") \
        if ref["status"] == "ok" else ("", "")
    algo = f"  cuDNN algorithm: {r['cudnn_algo']}" if r.get("cudnn_algo") else ""
    return (f"  {r['backend']:<13} train {r['train_tokens_per_s']:>12,.0f} tok/s ({r['train_s'] * 1e3:8.2f} ms/batch, "
            f"{vs[0]})  inference {r['infer_tokens_per_s']:>12,.0f} tok/s ({vs[1]})  "
            f"{r['train_gflops']:.1f} GFLOP/s  out {r['out_dtype']}{algo}")


def main(args) -> int:
    if args.family not in ("rnn", "lstm", "gru"):
        raise ConfigError(f"unknown --family {args.family!r}; choose from: rnn, lstm, gru")
    if min(args.hidden, args.batch, args.seq, args.repeats) < 1:
        raise ConfigError("bench backends needs --hidden, --batch, --seq and --repeats >= 1")
    dev = device()
    print(f"bench backends: {args.family} hidden={args.hidden} input={args.hidden} batch={args.batch} "
          f"seq={args.seq} layers=1 fp32 (TF32 matmuls on a GPU), bf16 and fp16 autocast; repeats={args.repeats} "
          f"warmup=3 seed=0 threads={torch.get_num_threads()}")
    print(provenance_line())
    gpu = gpu_of(dev)
    print("median time per batch: forward+backward (train), forward without grad (inference); cuDNN algorithm: "
          + (f"as torch picks it on this GPU (sm_{gpu[0]}{gpu[1]}, {gpu[2]} SMs)" if gpu else
             "what torch would pick on an H100 (sm_90, 132 SMs); on this CPU the cudnn rows run oneDNN"))
    if dev.type == "cuda":
        torch.set_float32_matmul_precision("high")  # as matrix cells run on a GPU
    rows(args.family, args.hidden, args.batch, args.seq, args.repeats)
    return 0
