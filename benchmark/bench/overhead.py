"""Harness overhead: a matrix cell against a hand-written PyTorch loop, same model, data and steps.

(a) `cell`: `benchmark.engine.runner.run_cell` (the Lightning Trainer with the matrix's callbacks,
    CSV logging, validation and test) and the record appended to a ResultsStore, exactly as
    `run` does it.
(b) `plain`: the same task module used as a plain nn.Module: `step(batch)`, backward,
    clip_grad_norm_, Adam, on batches generated from the same seed on the same device.

Timed, for both, the way `ThroughputMeter` times every cell: the steady state of the
training loop, from the end of the first step to just after the last optimiser step (device
synchronised at each), validation excluded. The first step is printed apart for both: the
cell's pays for its memory meter handing freed heap back to the OS, so that the cell's peak
memory is its own, and re-faulting it. What the cell costs beyond the loop (building data
and module, the Trainer, validation, test, the record) is its fixed per-cell cost, also
reported apart. Repeats alternate a, b, a, b after one untimed
warm-up of each, so drifts in machine load hit both alike; figures are medians.

One intra-op thread by default (`--threads`, the suite's default; 0 = torch's): on a shared 2-core
machine two OpenMP threads stall at every per-time-step barrier whenever another process
takes a core (copy/lstm/h=256 fell from ~85k to ~7k tok/s here), which swamps the
difference being measured. Both paths always run with the same threads, and with the
process-wide settings the first cell makes (`runner.fast_paths`).
"""
from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device

from benchmark import config
from benchmark.bench import provenance_line
from benchmark.bench.step_profile import ProfileSteps, StepWindow, describe
from benchmark.engine.cells import Cell, build_cells
from benchmark.engine.environment import device, synchronize
from benchmark.engine.host_memory import retain_freed_memory
from benchmark.engine.runner import build_module, quiet_lightning, run_cell
from benchmark.engine.store import ResultsStore
from benchmark.errors import ConfigError, DataUnavailable
from tasks.base import make_optimizer
from tasks.data.synthetic import SPLIT_OFFSET, GeneratedData


@dataclass
class Overhead:
    cell_tps: list = field(default_factory=list)    # tokens/s of each timed cell repeat
    plain_tps: list = field(default_factory=list)   # tokens/s of each timed plain-loop repeat
    cell_fixed_s: list = field(default_factory=list)  # per-cell cost outside the training loop
    cell_first_s: list = field(default_factory=list)  # first (warm-up) step of each cell repeat
    plain_first_s: list = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.cell_tps) / statistics.median(self.plain_tps)

    @property
    def paired(self) -> float:
        """Median of each repeat's cell/plain: steadier when the machine's load drifts."""
        return statistics.median(c / p for c, p in zip(self.cell_tps, self.plain_tps))


def make_cell(task: str, variant: str, hidden: int, steps: int, backend="cudnn", overrides=None) -> Cell:
    """One cell with the repository defaults (configs/defaults.yaml + the task's file), no profile;
    `overrides` ({"train": {...}, "copy": {...}}) apply last."""
    fixed = {"model": {"hidden": hidden},
             "train": {"max_steps": steps, "val_every": 0, "val_batches": 1, "test_batches": 1}}
    (cell,) = build_cells([task], [variant], [backend], 1, None, config.deep_merge(fixed, overrides or {}))
    return cell


def run_cell_timed(cell: Cell, out_dir, data_dir=None) -> tuple[float, float, float]:
    """(a): steady tokens/s, the first step's seconds and the fixed cost of the rest of the cell."""
    start = time.perf_counter()
    record = run_cell(cell, out_dir, data_dir)
    ResultsStore(out_dir).append(record)
    wall = time.perf_counter() - start
    if record["status"] != "ok":
        raise ConfigError(f"cell {cell.name} {record['status']}: {record.get('error') or record.get('reason')}")
    return record["train_tokens_per_s"], record["warmup_step_s"], wall - record["train_s"]


def plain_module(cell: Cell, data_dir=None):
    """The cell's data and task module on the device, built as `run_cell` builds them, for a
    loop without a Trainer. Returns (module, data, device)."""
    retain_freed_memory()  # as the cell's fast_paths do: both paths run with the same allocator
    dev = device()
    data, module = build_module(cell, data_dir)
    return module.to(dev).train(), data, dev


def plain_step(module, train, device):
    """One hand-written training step over `module` as the cell's Trainer takes it: the
    task's loss, its optimiser (Adam by default) with the cell's settings, clipping, its precision."""
    opt = make_optimizer(list(module.parameters()), train)  # the cell's: fused on CUDA, foreach elsewhere
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=train.precision == "bf16-mixed")

    def step(batch):
        with autocast:
            loss, _, _ = module.step(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), train.grad_clip)
        opt.step()
    return step


def run_plain(cell: Cell, data_dir=None, window: StepWindow | None = None) -> tuple[float, float]:
    """(b): steady tokens/s and the first step's seconds of a hand-written loop over the same
    module, optimiser, clipping and batches; each step inside `window` when profiling."""
    module, data, device = plain_module(cell, data_dir)
    if not module.automatic_optimization:
        raise ConfigError(f"bench overhead compares automatic-optimisation tasks; {cell.task} steps by hand")
    step_on = plain_step(module, cell.train, device)
    synchronize(device)
    start = time.perf_counter()
    tokens = 0
    for step, batch in zip(range(cell.train.max_steps), train_batches(data, device)):
        if window:
            window.begin(step)
        step_on(batch)
        if window:
            window.end()
        if step == 0:
            synchronize(device)
            steady = time.perf_counter()
            first_s = steady - start
        else:
            tokens += module.tokens(batch)
    synchronize(device)
    return tokens / (time.perf_counter() - steady), first_s


def train_batches(data, device):
    """The cell's training batches: generated on the device from the same seed, or the task's loader."""
    if isinstance(data, GeneratedData):
        gen = torch.Generator(device=device).manual_seed(data.seed + SPLIT_OFFSET["train"])
        while True:
            yield data.make_batch(data.batch_size, gen, device)
    while True:
        for batch in data.train_dataloader():
            yield move_data_to_device(batch, device)


def measure(cell: Cell, repeats: int, out_dir, data_dir=None, say=print) -> Overhead:
    result = Overhead()
    run_plain(cell, data_dir)  # first: it refuses a task it cannot compare before any training
    run_cell_timed(cell, Path(out_dir) / "warm-up", data_dir)  # kernels, allocator, lazy imports
    for r in range(repeats):
        # one run folder each, as `run` has
        tps, first, fixed = run_cell_timed(cell, Path(out_dir) / f"repeat{r + 1}", data_dir)
        plain, plain_first = run_plain(cell, data_dir)
        result.cell_tps.append(tps)
        result.cell_first_s.append(first)
        result.cell_fixed_s.append(fixed)
        result.plain_tps.append(plain)
        result.plain_first_s.append(plain_first)
        say(f"repeat {r + 1}/{repeats}: cell {tps:,.0f} tok/s  plain {plain:,.0f} tok/s  "
            f"cell/plain {tps / plain:.3f}  (first step: cell {first * 1e3:.0f} ms, plain "
            f"{plain_first * 1e3:.0f} ms; cell fixed cost {fixed:.2f}s)")
    return result


def profile_steps(cell: Cell, out_dir, data_dir=None, say=print) -> None:
    """torch.profiler's host and device time per step (steps 2..N), one more run of each path."""
    dev = device()
    cell_window, plain_window = StepWindow(dev), StepWindow(dev)
    record = run_cell(cell, Path(out_dir) / "profiled", data_dir, callbacks=[ProfileSteps(cell_window)])
    if record["status"] != "ok":
        raise ConfigError(f"cell {cell.name} {record['status']}: {record.get('error') or record.get('reason')}")
    cell_ms = cell_window.per_step_ms()
    run_plain(cell, data_dir, plain_window)
    plain_ms = plain_window.per_step_ms()
    say(f"torch.profiler, steps 2..{cell.train.max_steps}, one run each: cell {describe(*cell_ms, dev)}; "
        f"plain {describe(*plain_ms, dev)}")


def main(args) -> int:
    """Threads are the process's (`--threads`, set by the command line)."""
    if args.steps < 2 or args.repeats < 1:
        raise ConfigError("bench overhead needs --steps >= 2 and --repeats >= 1")
    cell = make_cell(args.task, args.model, args.hidden, args.steps, args.backend, config.parse_set(args.set))
    quiet_lightning()
    t = cell.train
    print(f"bench overhead: {cell.task}/{cell.model.variant}/{cell.model.backend} hidden={cell.model.hidden} "
          f"batch={t.batch_size} steps={t.max_steps} precision={t.precision} log_every={t.log_every} "
          f"settings={cell.config()['settings']} threads={torch.get_num_threads()} repeats={args.repeats}")
    print(provenance_line())
    with tempfile.TemporaryDirectory(prefix="rnnbench-overhead-") as out:
        try:
            result = measure(cell, args.repeats, out, args.data_dir)
            if args.profiler:  # apart from the timed repeats: the profiler slows what it watches
                profile_steps(cell, out, args.data_dir)
        except DataUnavailable as e:  # a real-data task with no data directory (RNNBENCH_DATA_DIR)
            raise ConfigError(str(e)) from None
    cell_tps, plain_tps = statistics.median(result.cell_tps), statistics.median(result.plain_tps)
    print(f"median: cell {cell_tps:,.0f} tok/s, plain {plain_tps:,.0f} tok/s (steps 2..{t.max_steps}); "
          f"first step cell {statistics.median(result.cell_first_s) * 1e3:.0f} ms, plain "
          f"{statistics.median(result.plain_first_s) * 1e3:.0f} ms; "
          f"fixed per-cell cost {statistics.median(result.cell_fixed_s):.2f}s (neither in tok/s)")
    print(f"paired: median of per-repeat cell/plain {result.paired:.3f}")
    print(f"ratio cell/plain (of medians) {result.ratio:.3f}")
    return 0
