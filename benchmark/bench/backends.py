"""Backends side by side at one size: cuDNN vs our scratch cells vs the scratch cells compiled.

Default: LSTM, hidden 512, batch 64, sequence 100, input size = hidden: the setting of
PyTorch's fastrnns benchmark (benchmarks/fastrnns), so figures compare with theirs. Each
backend is timed by the speed measurement's harness (`benchmark.measurements.speed`):
warm-up calls (they absorb torch.compile's tracing and cuDNN's plan selection), then the
median of repeats, with the device synchronised around every timed call. On a GPU a
`cudnn+bf16` row adds bf16 autocast, the path `train.precision: bf16-mixed` takes.
"""
from __future__ import annotations

import torch

from benchmark.bench import provenance_line
from benchmark.engine.environment import device
from benchmark.errors import ConfigError
from benchmark.measurements.speed import measure_point, unavailable

BACKENDS = ("cudnn", "scratch", "compile")


def rows(family: str, hidden: int, batch: int, seq: int, repeats: int, seed: int = 0, say=print) -> list[dict]:
    dev = device()
    settings = {"seed": seed, "batch": batch, "warmup": 3, "repeats": repeats}
    runs = [(b, b, False) for b in BACKENDS] + ([("cudnn+bf16", "cudnn", True)] if dev.type == "cuda" else [])
    out = []
    for name, backend, bf16 in runs:
        try:
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                r = measure_point(family, backend, hidden, seq, settings, dev, seed)
        except Exception as e:  # noqa: BLE001 - torch.compile needs a working compiler on this host
            if backend != "compile":
                raise
            out.append({"backend": name, "status": unavailable(e)})
        else:
            out.append({**r, "backend": name})
        say(_line(out[-1], out[0]))
    return out


def _line(r: dict, ref: dict) -> str:
    if r["status"] != "ok":
        return f"  {r['backend']:<11} {r['status']}"
    return (f"  {r['backend']:<11} train {r['train_tokens_per_s']:>12,.0f} tok/s ({r['train_s'] * 1e3:8.2f} ms/batch, "
            f"{ref['train_s'] / r['train_s']:.2f}x cudnn)  inference {r['infer_tokens_per_s']:>12,.0f} tok/s "
            f"({ref['infer_s'] / r['infer_s']:.2f}x cudnn)  {r['train_gflops']:.1f} GFLOP/s")


def main(args) -> int:
    if args.family not in ("rnn", "lstm", "gru"):
        raise ConfigError(f"unknown --family {args.family!r}; choose from: rnn, lstm, gru")
    if min(args.hidden, args.batch, args.seq, args.repeats) < 1:
        raise ConfigError("bench backends needs --hidden, --batch, --seq and --repeats >= 1")
    print(f"bench backends: {args.family} hidden={args.hidden} input={args.hidden} batch={args.batch} "
          f"seq={args.seq} layers=1 float32 (TF32 matmuls on a GPU) repeats={args.repeats} warmup=3 seed=0 "
          f"threads={torch.get_num_threads()}")
    print(provenance_line())
    print("median time per batch: forward+backward (train), forward without grad (inference)")
    if device().type == "cuda":
        torch.set_float32_matmul_precision("high")  # as matrix cells run on a GPU
    rows(args.family, args.hidden, args.batch, args.seq, args.repeats)
    return 0
