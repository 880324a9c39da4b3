"""How long a matrix will take, before running it: each cell trained for a few steps, then extrapolated.

For every cell of the matrix (`--profile`, `--tasks`, `--models`, `--backend` as for `run`):
- `run_cell` trains it for `--steps` steps exactly as the matrix would (same Trainer,
  callbacks, data): its steady-state time per training step, harness included, and its
  fixed cost (data, Trainer, one validation and one test batch);
- one evaluation batch is timed apart (forward, no grad, median of 3 after a warm-up).
Extrapolated cell time = fixed + max_steps x step + (validations x val batches + test
batches) x eval batch, with the profile's own max_steps, val_every and batch counts.

The cells are then ranked by their share of the total, and one training step of the most
expensive is profiled with torch.profiler: the operators that dominate it.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
import statistics
import tempfile
import time

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from torch.profiler import ProfilerActivity, profile

from benchmark.bench import provenance_line
from benchmark.bench.overhead import plain_module, plain_step, train_batches
from benchmark.bench.step_profile import quiet_profiler
from benchmark.engine.cells import Cell
from benchmark.engine.environment import synchronize
from benchmark.engine.runner import quiet_lightning, run_cell
from benchmark.errors import ConfigError
from tasks.data.synthetic import GeneratedData


@dataclasses.dataclass
class Estimate:
    cell: Cell
    step_s: float      # one training step, steady state, harness included
    eval_s: float      # one evaluation batch
    fixed_s: float     # data, module, Trainer, one val and one test batch
    val_batches: int   # per validation
    test_batches: int

    @property
    def validations(self) -> int:
        t = self.cell.train
        return t.max_steps // min(t.val_every or t.max_steps, t.max_steps)

    @property
    def train_s(self) -> float:
        return self.cell.train.max_steps * self.step_s

    @property
    def evaluate_s(self) -> float:
        return (self.validations * self.val_batches + self.test_batches) * self.eval_s

    @property
    def total_s(self) -> float:
        return self.fixed_s + self.train_s + self.evaluate_s


def short(cell: Cell, steps: int) -> Cell:
    train = dataclasses.replace(cell.train, max_steps=steps, val_every=0, val_batches=1, test_batches=1)
    return dataclasses.replace(cell, train=train)


def estimate(cell: Cell, steps: int, data_dir, out_dir) -> Estimate | str:
    """An Estimate, or the reason the cell could not be timed."""
    record = run_cell(short(cell, steps), out_dir, data_dir)
    if record["status"] != "ok":
        return f"{record['status']}: {record.get('error') or record.get('reason')}"
    tokens_per_step = record["train_tokens"] / record["train_steps"]
    eval_s, val_batches, test_batches = _eval_batch(cell, data_dir)
    return Estimate(cell, tokens_per_step / record["train_tokens_per_s"], eval_s,
                    record["wall_s"] - record["train_s"], val_batches, test_batches)


def _eval_batch(cell: Cell, data_dir) -> tuple[float, int, int]:
    module, data, device = plain_module(cell, data_dir)
    module.eval()
    batches = iter(data.val_dataloader())
    batch = move_data_to_device(next(batches), device)
    times = []
    with torch.no_grad():
        for _ in range(4):  # the first is a warm-up
            synchronize(device)
            start = time.perf_counter()
            module.step(batch)
            synchronize(device)
            times.append(time.perf_counter() - start)
    t = cell.train
    return statistics.median(times[1:]), t.val_batches or _length(data, "val"), t.test_batches or _length(data, "test")


def _length(data, split) -> int:
    if isinstance(data, GeneratedData):
        return getattr(data, f"{split}_batches")
    return len(getattr(data, f"{split}_dataloader")())


def profile_step(cell: Cell, data_dir, steps: int = 3, rows: int = 10) -> str:
    """torch.profiler's operator table for `steps` training steps of `cell` (after one warm-up step)."""
    module, data, device = plain_module(cell, data_dir)
    step, batches = plain_step(module, cell.train, device), train_batches(data, device)
    step(next(batches))
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    prof = profile(activities=activities)
    with quiet_profiler():  # kineto's "profiler_start"/"profiler_stop" lines stay out of the plan
        prof.start()
    try:
        for _ in range(steps):
            step(next(batches))
        synchronize(device)
    finally:
        with quiet_profiler():
            prof.stop()
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def main(cells: list[Cell], steps: int, data_dir=None, parallel: int = 1) -> int:
    """Time `steps` steps of each cell (n/a cells left out), print the extrapolated matrix.

    Seeds of one cell cost the same: only the first seed of each is timed, and counted once per
    seed. `parallel`: cells in flight; the total is also printed divided by it, the ideal that
    packing approaches only when the cells do not contend (measure it: `run --parallel`)."""
    if steps < 2:
        raise ConfigError("bench plan needs --steps >= 2 (the first step is warm-up)")
    seeds = Counter(_seedless(c) for c in cells if not c.na_reason)
    cells = list({_seedless(c): c for c in reversed(cells) if not c.na_reason}.values())[::-1]  # each one's first seed
    quiet_lightning()
    profiles = ", ".join(dict.fromkeys(c.profile for c in cells))
    print(f"bench plan: profile {profiles}, {len(cells)} cells (n/a left out; {sum(seeds.values())} with seeds), "
          f"each trained {steps} steps to time a step, threads={torch.get_num_threads()}")
    print(provenance_line())
    print(f"{'cell':<32} {'steps':>7} {'ms/step':>9} {'eval ms':>8} {'train':>9} {'eval':>8} {'fixed':>7} {'total':>9}")
    estimates, said = [], {}  # (task, why not timed) -> the first cell it was said for
    with tempfile.TemporaryDirectory(prefix="rnnbench-plan-") as out:
        for cell in cells:
            e = estimate(cell, steps, data_dir, out)
            if isinstance(e, str):  # a task's data absent: its every model says the same, once is enough
                first = said.setdefault((cell.task, e), cell.name)
                print(f"{cell.name:<32} not timed: {e if first == cell.name else 'as ' + first}")
                continue
            estimates.append(e)
            print(f"{cell.name:<32} {cell.train.max_steps:>7} {e.step_s * 1e3:>9.2f} {e.eval_s * 1e3:>8.2f} "
                  f"{_clock(e.train_s):>9} {_clock(e.evaluate_s):>8} {_clock(e.fixed_s):>7} {_clock(e.total_s):>9}")
    if not estimates:
        print("no cell could be timed")
        return 1
    _summary(estimates, {e.cell.key: seeds[_seedless(e.cell)] for e in estimates}, parallel)
    top = max(estimates, key=lambda e: e.total_s)
    print(f"\nwhat dominates a training step of {top.cell.name} (torch.profiler, 3 steps, self time):")
    print(profile_step(top.cell, data_dir))
    return 0


def _seedless(cell: Cell) -> str:
    return cell.key.replace(f"/seed{cell.seed}/", "/")


def _summary(estimates: list[Estimate], seeds: dict[str, int] | None = None, parallel: int = 1) -> None:
    seeds = seeds or {}
    n = {e.cell.key: seeds.get(e.cell.key, 1) for e in estimates}
    total = sum(e.total_s * n[e.cell.key] for e in estimates)
    train = sum(e.train_s * n[e.cell.key] for e in estimates)
    evaluate = sum(e.evaluate_s * n[e.cell.key] for e in estimates)
    runs = sum(n.values())
    print(f"\nestimated total {_clock(total)} ({runs} cells, one after another"
          f"{f'; {len(estimates)} timed, each seed costs the same' if runs > len(estimates) else ''}): training "
          f"{train / total:.0%}, evaluation {evaluate / total:.0%}, fixed costs {1 - (train + evaluate) / total:.0%}")
    if parallel > 1:
        longest = max(e.total_s for e in estimates)
        print(f"with {parallel} cells in flight: at best {_clock(max(total / parallel, longest))} (the total / "
              f"{parallel}, never below the longest cell, {_clock(longest)}); reached only where cells do not "
              f"contend for the device: check it against `run --parallel {parallel}`")

    by_task: dict[str, float] = {}
    for e in estimates:
        by_task[e.cell.task] = by_task.get(e.cell.task, 0.0) + e.total_s * n[e.cell.key]
    print("by task: " + ", ".join(f"{t} {_clock(s)} ({s / total:.0%})"
                                  for t, s in sorted(by_task.items(), key=lambda kv: -kv[1])))
    top = sorted(estimates, key=lambda e: -e.total_s)[:5]
    print("largest cells: " + ", ".join(f"{e.cell.name} {_clock(e.total_s)} (x{n[e.cell.key]} seeds: "
                                        f"{e.total_s * n[e.cell.key] / total:.0%})" for e in top))


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"
