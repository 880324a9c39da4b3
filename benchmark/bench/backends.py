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

Several families (`--family gru,lstm,mingru,minlstm --seq 512`): each family's implementations
in fp32, its fused kernel where torch has one, our sequential step, and its parallel scan where
it has one, in tokens/s against the fused GRU. That is the baseline minGRU's speed claim needs:
Feng et al. 2024 report 175x (minGRU) and 235x (minLSTM) at T=512 against sequential loops, not
against cuDNN's GRU.
"""
from __future__ import annotations

import torch

from benchmark import families
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
        skipped = skip_reason(backend, precision, dev, family)
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


def implementations(family: str) -> list[str]:
    """The speed backends that time a family's own ways to run: fused, step, scan."""
    spec = families.get(family)
    return [*(["cudnn"] if spec.fused else []), "step", *(["scan"] if spec.scan else [])]


IMPLEMENTATION = {"cudnn": "fused", "step": "step", "scan": "scan"}


def compare(names: list[str], hidden: int, batch: int, seq: int, repeats: int, seed: int = 0, say=print) -> list[dict]:
    """fp32 rows of each family's implementations, each with its ratio to the fused GRU's tokens/s."""
    dev = device()
    settings = {"seed": seed, "batch": batch, "warmup": 2, "repeats": repeats}
    out = []
    for family in names:
        for backend in implementations(family):
            r = {**measure_point(family, backend, hidden, seq, settings, dev, seed), "family": family,
                 "implementation": IMPLEMENTATION[backend]}
            out.append(r)
    ref = next((r for r in out if r["family"] == "gru" and r["implementation"] == "fused"), None)
    say(f"  {'family':<9} {'implementation':<15} {'train tok/s':>12} {'x fused GRU':>12} {'inference tok/s':>16} "
        f"{'x fused GRU':>12}")
    for r in out:
        vs = (f"{r['train_tokens_per_s'] / ref['train_tokens_per_s']:.3g}x",
              f"{r['infer_tokens_per_s'] / ref['infer_tokens_per_s']:.3g}x") if ref else ("", "")
        r["train_vs_fused_gru"] = r["train_tokens_per_s"] / ref["train_tokens_per_s"] if ref else None
        say(f"  {r['family']:<9} {r['implementation']:<15} {r['train_tokens_per_s']:>12,.0f} {vs[0]:>12} "
            f"{r['infer_tokens_per_s']:>16,.0f} {vs[1]:>12}")
    return out


def main(args) -> int:
    names = [n.strip() for n in args.family.split(",") if n.strip()]
    for name in names:
        families.get(name)  # ConfigError naming the registered families
    if not names:
        raise ConfigError(f"bench backends: no --family given; choose from: {', '.join(families.families())}")
    if min(args.hidden, args.batch, args.seq, args.repeats) < 1:
        raise ConfigError("bench backends needs --hidden, --batch, --seq and --repeats >= 1")
    dev = device()
    if dev.type == "cuda":
        torch.set_float32_matmul_precision("high")  # as matrix cells run on a GPU
    if len(names) > 1:
        print(f"bench backends: {', '.join(names)} hidden={args.hidden} input={args.hidden} batch={args.batch} "
              f"seq={args.seq} layers=1 fp32; repeats={args.repeats} warmup=2 seed=0 threads={torch.get_num_threads()}")
        print(provenance_line())
        print("median time per batch, as tokens/s: forward+backward (train), forward without grad (inference); "
              "fused = torch's kernel (cuDNN on a GPU, oneDNN here), step = our cell one step at a time, "
              "scan = the log-space parallel scan")
        compare(names, args.hidden, args.batch, args.seq, args.repeats)
        return 0
    (family,) = names
    print(f"bench backends: {family} hidden={args.hidden} input={args.hidden} batch={args.batch} "
          f"seq={args.seq} layers=1 fp32 (TF32 matmuls on a GPU), bf16 and fp16 autocast; repeats={args.repeats} "
          f"warmup=3 seed=0 threads={torch.get_num_threads()}")
    print(provenance_line())
    gpu = gpu_of(dev)
    print("median time per batch: forward+backward (train), forward without grad (inference); cuDNN algorithm: "
          + (f"as torch picks it on this GPU (sm_{gpu[0]}{gpu[1]}, {gpu[2]} SMs)" if gpu else
             "what torch would pick on an H100 (sm_90, 132 SMs); on this CPU the cudnn rows run oneDNN"))
    rows(family, args.hidden, args.batch, args.seq, args.repeats)
    return 0
