"""Speed and memory per family and backend: training and inference throughput, streaming latency, peak memory.

Backends: `cudnn` (torch.nn.RNN/LSTM/GRU: cuDNN on GPU, oneDNN on CPU; a family without a
fused kernel runs its scan), `scratch` (our cells in a Python time loop, or a family's parallel
scan where it has one), `step` and `scan` (our cells forced one step at a time, or by the scan:
minGRU's two ways), `compile` (the scratch cell under torch.compile, which fuses each
step's gate arithmetic; the time loop stays in Python so the graph is one step, not T) and
`graph` (the scratch cell loop captured once as CUDA graphs, forward and backward, and
replayed: the T steps' hundreds of kernel launches cost one launch; CUDA only).
Precisions (`precisions`, default fp32): bf16 and fp16 run under autocast, the path
`train.precision: bf16-mixed | 16-mixed` takes; a row that cannot run here says why.
Input size equals the hidden size, the convention of DeepBench's RNN kernels.

FLOPs (analytic, matmuls only; gate nonlinearities are O(h) per step and left out): per token
the forward pass does G gate blocks of W_ih x and W_hh h, 2*G*h*(x + h) FLOPs (a multiply-add
is 2; 2*G*h*x without a recurrent matrix, `Family.forward_flops`); backward computes gradients for both inputs and weights, about twice the forward, so a
training token costs 3 * 2*G*h*(x + h) (Kaplan et al. 2020's 6N rule per token).
"""
from __future__ import annotations

import torch

from benchmark import families
from benchmark.config import ModelConfig
from benchmark.engine import environment
from benchmark.errors import ConfigError
from benchmark.measurements.timing import device_sync, time_call
from benchmark.models import Encoder
from benchmark.models.cudnn_algo import H100, cudnn_algorithm, gpu_of
from benchmark.models.init import initialise
from benchmark.models.scratch import ScratchRNN

NAME = "speed"
UNITS = {"train_tokens_per_s": "tokens/s (forward+backward)", "infer_tokens_per_s": "tokens/s (forward, no grad)",
         "latency_ms": "ms per step (batch 1, carried state)", "peak_mem_bytes": "bytes (see peak_mem_kind)",
         "train_gflops": "GFLOP/s achieved in training (analytic count)", "train_time_vs_rnn": "x RNN's time",
         "infer_time_vs_rnn": "x RNN's time", "latency_vs_rnn": "x RNN's latency"}


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def skip_reason(backend: str, precision: str, device, family: str) -> str | None:
    """Why a backend at a precision cannot be timed on this device; None when it can."""
    if backend == "graph" and device.type != "cuda":
        return "skipped: CUDA graphs need a CUDA device (the scratch cell loop captured and replayed)"
    if backend == "scan" and families.get(family).scan is None:
        return f"n/a: {family} has no parallel form (its step reads h_(t-1) through a matrix)"
    if backend == "cudnn" and not families.get(family).fused and precision != "fp32":
        return f"skipped: {family} has no fused kernel (cudnn runs its scan; timed in fp32)"
    if backend in ("graph", "compile") and precision != "fp32":
        return f"skipped: {backend} is timed in fp32 only"
    if precision == "fp16" and device.type != "cuda":
        return "skipped: fp16 (cuDNN fp16, train.precision 16-mixed) needs a CUDA device"
    return None


def label(backend: str, precision: str) -> str:
    return backend if precision == "fp32" else f"{backend}+{precision}"


def implementation(family: str, backend: str) -> str:
    """What a speed backend runs for a family: fused, scan or step (compiled or CUDA-graphed for those two)."""
    if backend in ("cudnn", "scratch"):
        return families.get(family).implementation(backend)
    return {"compile": "step, compiled", "graph": f"{families.get(family).implementation('scratch')}, CUDA graphs"}.get(
        backend, backend)


def forward_flops_per_token(family: str, input_size: int, hidden: int) -> int:
    return families.get(family).forward_flops(input_size, hidden)


def train_flops_per_token(family: str, input_size: int, hidden: int) -> int:
    return 3 * forward_flops_per_token(family, input_size, hidden)


class CompiledCellRNN(ScratchRNN):
    """One-layer unidirectional scratch RNN whose cell runs under torch.compile."""

    def __init__(self, family, input_size, hidden):
        super().__init__(family, input_size, hidden, mode="step")
        self.cell = torch.compile(families.get(family).cell, dynamic=False)


class _Outputs(torch.nn.Module):
    """The outputs alone: CUDA graph capture takes a callable that returns tensors."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


def build(family: str, backend: str, hidden: int, device) -> torch.nn.Module:
    if backend == "graph":  # captured in measure_point, once the input exists
        return build(family, "scratch", hidden, device)
    if backend in ("step", "scan"):
        rnn = ScratchRNN(family, hidden, hidden, mode=backend)
        initialise(rnn, family)
        return rnn.to(device)
    if backend == "compile":
        # Dynamo caches per code object and gives up (runs eager) past its recompile limit;
        # a fresh cache per model keeps every size compiled.
        torch._dynamo.reset()
        rnn = CompiledCellRNN(family, hidden, hidden)
        initialise(rnn, family)
        return rnn.to(device)
    return Encoder(hidden, ModelConfig(variant=family, backend=backend, hidden=hidden)).to(device)


def saved_for_backward_bytes(step) -> int:
    """Bytes autograd keeps for the backward pass of one training step (CPU memory measure)."""
    seen = {}

    def pack(t):
        seen[(t.untyped_storage().data_ptr(), t.dtype)] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(seen.values())


def peak_memory(step, device) -> tuple[int, str]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device), "cuda_max_allocated"
    return saved_for_backward_bytes(step), "cpu_saved_for_backward"


def measure_point(family, backend, hidden, seq, settings, device, seed: int = 0, precision: str = "fp32") -> dict:
    torch.manual_seed(seed)
    model = build(family, backend, hidden, device)
    batch, sync = settings["batch"], device_sync(device)
    x = torch.randn(batch, seq, hidden, device=device)
    base = {"family": family, "backend": label(backend, precision), "implementation": implementation(family, backend),
            "precision": precision, "hidden": hidden, "seq": seq, "batch": batch, "seed": seed, "cudnn_algo": algorithm(family, backend, precision, hidden, batch,
                                                                           seq, device)}
    autocast = torch.autocast(device.type, dtype=PRECISIONS[precision], enabled=precision != "fp32")
    outputs = _Outputs(model)
    if backend == "graph":
        # Capture needs warm-up calls on a side stream first; make_graphed_callables does them.
        outputs = torch.cuda.make_graphed_callables(outputs, (x,))
    with autocast:
        out_dtype = outputs(x).dtype
    if backend == "cudnn" and precision != "fp32" and out_dtype == torch.float32:
        # autocast has no low-precision kernel for this op here (the CPU's GRU): it would time float32
        return {**base, "status": f"skipped: autocast runs the {device.type} {family} in float32 ({precision} not applied)"}

    def train_step():
        model.zero_grad(set_to_none=True)
        with autocast:
            out = outputs(x)
        out.float().pow(2).mean().backward()

    def infer():  # a graphed callable runs eagerly without grad, so `graph` infers as `scratch`
        with torch.no_grad(), autocast:
            outputs(x)

    train = time_call(train_step, settings["warmup"], settings["repeats"], sync)
    inference = time_call(infer, settings["warmup"], settings["repeats"], sync)
    mem, mem_kind = peak_memory(train_step, device)
    tokens = batch * seq
    return {**base, "out_dtype": str(out_dtype).replace("torch.", ""),
            "train_s": train.median_s, "train_tokens_per_s": tokens / train.median_s,
            "infer_s": inference.median_s, "infer_tokens_per_s": tokens / inference.median_s,
            "train_gflops": tokens * train_flops_per_token(family, hidden, hidden) / train.median_s / 1e9,
            "infer_gflops": tokens * forward_flops_per_token(family, hidden, hidden) / inference.median_s / 1e9,
            "peak_mem_bytes": mem, "peak_mem_kind": mem_kind, "repeats": train.repeats, "warmup": train.warmup,
            "status": "ok"}


def algorithm(family, backend, precision, hidden, batch, seq, device) -> str | None:
    """The cuDNN algorithm of a cudnn row: on this GPU, or on an H100 when there is none."""
    if backend != "cudnn" or not families.get(family).fused:
        return None
    return cudnn_algorithm(family, precision, hidden, hidden, batch, seq, gpu=gpu_of(device) or H100)


def streaming_latency(family, backend, hidden, settings, device, seed: int = 0, precision: str = "fp32") -> float:
    """Median seconds for one step at batch 1 with the state carried from the previous step
    (`graph` steps eagerly here, as `scratch`: a graphed callable replays only with grad)."""
    torch.manual_seed(seed)
    model = build(family, backend, hidden, device)
    x = torch.randn(1, 1, hidden, device=device)
    carried = [None]
    autocast = torch.autocast(device.type, dtype=PRECISIONS[precision], enabled=precision != "fp32")

    def step():
        with torch.no_grad(), autocast:
            _, carried[0] = model(x, state=carried[0])

    return time_call(step, settings["warmup"] + 2, settings["latency_repeats"], device_sync(device)).median_s


def run(settings: dict, out_dir, profile: str) -> dict:
    device = environment.device()
    bad = [p for p in settings.get("precisions", ["fp32"]) if p not in PRECISIONS]
    if bad:
        raise ConfigError(f"bad speed.precisions {bad}: choose from {', '.join(PRECISIONS)}")
    rows = []
    # Seeds outermost: each seed is a full pass over the grid (fresh weights and inputs), so
    # a slow spell of the machine lands in one seed's pairs, not in one family's numbers.
    for seed in settings.get("seeds", [settings["seed"]]):
        for backend in settings["backends"]:
            for precision in settings.get("precisions", ["fp32"]):
                for family in settings["families"]:
                    for hidden in settings["hidden"]:
                        rows += _backend_rows(family, backend, hidden, settings, device, seed, precision)
    _add_ratios(rows)
    return {"name": NAME, "profile": profile, "settings": settings, "units": UNITS, "rows": rows,
            "flops": "train 3 * F per token, forward F = 2*G*h*(x+h) (2*G*h*x without a recurrent matrix); x = h; "
                     "G = " + ", ".join(f"{f} {families.get(f).blocks}" for f in settings["families"]),
            **environment.provenance(device, settings["seed"])}


def _backend_rows(family, backend, hidden, settings, device, seed, precision="fp32") -> list[dict]:
    base = {"family": family, "backend": label(backend, precision), "precision": precision, "hidden": hidden,
            "batch": settings["batch"], "seed": seed}
    skipped = skip_reason(backend, precision, device, family)
    if backend == "compile" and not settings.get("compile", True):
        skipped = "skipped: compile disabled in this profile"
    if skipped:
        return [{**base, "seq": s, "status": skipped} for s in settings["seq"]]
    try:
        rows = [measure_point(family, backend, hidden, s, settings, device, seed, precision) for s in settings["seq"]]
        ran = all(r["status"] == "ok" for r in rows)  # not: autocast left this family in float32 here
        latency = streaming_latency(family, backend, hidden, settings, device, seed, precision) if ran else None
    except Exception as e:  # noqa: BLE001 - torch.compile may be missing a compiler on this host
        if backend != "compile":
            raise
        reason = unavailable(e)
        print(f"speed: {family}/{backend}/h{hidden}: {reason}")
        return [{**base, "seq": s, "status": reason} for s in settings["seq"]]
    if not ran:
        print(f"speed: {family}/{base['backend']}/h{hidden}: {rows[0]['status']}")
        return rows
    for row in rows:
        row["latency_ms"] = latency * 1e3
    print(f"speed: seed {seed} {family:<4} {base['backend']:<12} h={hidden:<5} train "
          f"{rows[-1]['train_tokens_per_s']:.3g} tok/s, latency {latency * 1e3:.3g} ms")
    return rows


def unavailable(error: Exception) -> str:
    """Why a backend could not be timed (torch.compile without a working compiler), in one line."""
    return f"unavailable: {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"


def _add_ratios(rows):
    """Each row against the RNN's at the same backend, size, length and seed (paired)."""
    rnn = {(r["backend"], r["hidden"], r["seq"], r["seed"]): r for r in rows if r["family"] == "rnn" and r["status"] == "ok"}
    for r in rows:
        ref = rnn.get((r["backend"], r["hidden"], r["seq"], r["seed"]))
        if r["status"] == "ok" and ref:
            r["train_time_vs_rnn"] = r["train_s"] / ref["train_s"]
            r["infer_time_vs_rnn"] = r["infer_s"] / ref["infer_s"]
            r["latency_vs_rnn"] = r["latency_ms"] / ref["latency_ms"]
