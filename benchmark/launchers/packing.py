"""`--parallel auto`: how many cells to run at once, from what this machine has free.

On a CPU, cells in flight x threads per cell never exceed the idle cores: oversubscribed
OpenMP threads thrash (README, "Threads": 4.8x slower beside a twin). Idle cores are the
cores this process may use less those other work keeps busy now: the busy clock ticks of
those cores in /proc/stat over SAMPLE_S, less this process tree's own (/proc/<pid>/stat of
this process and its descendants), per tick of wall time. Not the 1-minute load average: it
decays over minutes, so it still counted a job (often our own previous one) that had ended.

On GPUs, small RNN cells leave the device idle most of a step (host-side Python and kernel
launches), so several cells share each GPU. Per GPU: as many cells as its free memory holds
at a cell's peak (measured: the largest `peak_mem_bytes` among this folder's CUDA records,
plus a CUDA context; without one, CELL_BYTES, a conservative guess), no more than
MAX_PER_GPU (a cap until packing is measured on a GPU), and fewer when the GPU is already
busy with other work (its utilisation now, where NVML can tell). The Ray launcher turns the
same choice into fractional GPUs per task (`ray_gpus_per_task`).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import torch

from benchmark.engine.environment import cpu_set

AUTO = "auto"
CONTEXT_BYTES = 600 * 2**20  # a CUDA context and cuDNN/cuBLAS workspaces, per process
CELL_BYTES = 2 * 2**30       # a cell's peak when no record measured one: above the full profile's cells
MAX_PER_GPU = 4              # cells sharing one GPU, at most
MEMORY_HEADROOM = 0.9        # of the free memory: fragmentation, the allocator's cache
SAMPLE_S = 0.3               # how long others' CPU use is watched: short, yet many clock ticks (100/s)


@dataclass(frozen=True)
class Gpu:
    free_bytes: int
    busy_percent: int | None  # utilisation by work already running; None where NVML is missing


@dataclass(frozen=True)
class CpuSample:
    """Clock ticks since boot: of the CPUs watched (busy, and all), and of this process tree."""
    busy: int
    total: int
    own: int
    cpus: int  # how many CPUs `busy` and `total` sum over


def others_busy_cores(before: CpuSample, after: CpuSample) -> float:
    """Cores kept busy between two samples by work outside this process tree; pure."""
    elapsed = (after.total - before.total) / max(1, after.cpus)  # ticks of wall time, per CPU
    if elapsed <= 0:
        return 0.0
    return max(0.0, ((after.busy - before.busy) - (after.own - before.own)) / elapsed)


def cpu_sample(cpus: set[int], pid: int | None = None) -> CpuSample | None:
    """Now's CpuSample of the CPUs `cpus` (/proc/stat) and of process `pid` (default: this one)
    with its descendants; None without /proc (not Linux)."""
    busy = total = counted = 0
    try:
        with open("/proc/stat") as f:
            for line in f:
                name, *fields = line.split()
                if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
                    continue
                # user nice system idle iowait irq softirq steal (guest time is inside user)
                ticks = [int(x) for x in fields[:8]]
                busy, total, counted = busy + sum(ticks) - ticks[3] - ticks[4], total + sum(ticks), counted + 1
    except OSError:
        return None
    return CpuSample(busy, total, _tree_ticks(pid or os.getpid()), counted) if counted else None


def _tree_ticks(root: int) -> int:
    """CPU ticks of `root` and every live descendant (pool workers), each with its reaped children."""
    ppid, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        except (OSError, IndexError):  # ended meanwhile
            continue
        ppid[int(entry)] = int(fields[1])
        ticks[int(entry)] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in ppid.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier += children
    return sum(ticks.get(p, 0) for p in tree)


def others_busy_now(cpus: set[int], sample_s: float = SAMPLE_S) -> float | None:
    """Cores of `cpus` that other work keeps busy, watched for `sample_s`; None where it cannot be told."""
    before = cpu_sample(cpus)
    if before is None:
        return None
    time.sleep(sample_s)
    after = cpu_sample(cpus)
    return others_busy_cores(before, after) if after else None


def choose(cells: int, cpus: int, threads: int | None, busy: float | None = 0.0, gpus: tuple = (),
           cell_bytes: int | None = None) -> tuple[int, str]:
    """(cells in flight, why) for `cells` cells to run, with `busy` cores used by others' work
    (None: unknown, counted as none); pure, so tests feed it fake machines."""
    if cells < 1:
        return 1, "nothing to run"
    if gpus:
        return _on_gpus(cells, gpus, cell_bytes)
    per_cell = threads or 1  # with --threads 0 every worker gets an equal share, at least one core
    idle = max(0, cpus - round(busy or 0.0))
    n = max(1, min(cells, idle // per_cell))
    others = "others' use unknown" if busy is None else f"others' work uses {busy:.1f} now"
    why = f"{idle} idle core(s) of {cpus} ({others}) / {per_cell} thread(s) per cell"
    if n == cells and cells < idle // per_cell:
        why += f", capped by {cells} cell(s) to run"
    return n, why + (", one at least" if idle < per_cell else "")


def _on_gpus(cells, gpus, cell_bytes):
    need = (cell_bytes or CELL_BYTES) + CONTEXT_BYTES
    origin = "measured peak" if cell_bytes else "assumed peak, no CUDA record yet"
    per_gpu, why = [], []
    for i, gpu in enumerate(gpus):
        by_memory = int(gpu.free_bytes * MEMORY_HEADROOM // need)
        by_compute = MAX_PER_GPU if gpu.busy_percent is None else \
            max(1, math.floor(MAX_PER_GPU * (100 - gpu.busy_percent) / 100))
        per_gpu.append(max(1, min(by_memory, by_compute)))
        busy = "utilisation unknown" if gpu.busy_percent is None else f"{gpu.busy_percent}% busy"
        why.append(f"GPU {i}: {gpu.free_bytes / 2**30:.1f} GiB free / {need / 2**30:.2f} GiB per cell "
                   f"({origin}) = {by_memory}, {busy} -> {per_gpu[-1]}")
    n = min(cells, sum(per_gpu))
    return n, "; ".join(why) + f" (at most {MAX_PER_GPU} per GPU)" + (f", capped by {cells} cell(s)" if n == cells
                                                                       and cells < sum(per_gpu) else "")


def cells_per_gpu(parallel: int, gpus: int) -> int:
    """Cells that share one GPU when `parallel` run on `gpus` GPUs, round robin."""
    return max(1, math.ceil(parallel / gpus)) if gpus else 0


def ray_gpus_per_task(devices: int, cluster_gpus: float, parallel: int) -> float:
    """A Ray task's num_gpus: `devices` whole GPUs for a multi-device cell, else 1/k of one GPU
    where k cells share it, so Ray packs k tasks per GPU; 0 on a cluster without the GPUs."""
    if cluster_gpus < devices or cluster_gpus < 1:
        return 0
    if devices > 1:
        return devices
    return 1 / cells_per_gpu(parallel, int(cluster_gpus))


def measured_cell_bytes(records) -> int | None:
    """The largest CUDA peak among earlier records (a resumed or re-run folder): a measured cell size."""
    peaks = [r["peak_mem_bytes"] for r in records
             if r.get("peak_mem_kind") == "cuda_max_allocated" and r.get("peak_mem_bytes")]
    return max(peaks) if peaks else None


def machine_gpus() -> tuple:
    """Free memory and current utilisation of each visible GPU; () without CUDA."""
    if not torch.cuda.is_available():
        return ()
    out = []
    for i in range(torch.cuda.device_count()):
        free, _ = torch.cuda.mem_get_info(i)
        try:
            busy = int(torch.cuda.utilization(i))
        except Exception:  # noqa: BLE001 - NVML (pynvml) missing or not permitted: say unknown
            busy = None
        out.append(Gpu(free, busy))
    return tuple(out)


def resolve(parallel, cells: int, threads: int | None, records, cpus: int, say=print) -> int:
    """`--parallel`: an integer as given, or `auto` chosen now, with one line saying why."""
    if parallel != AUTO:
        return parallel
    gpus = machine_gpus()
    busy = others_busy_now(cpu_set()) if cells > 1 and not gpus else 0.0  # one cell: nothing to choose
    n, why = choose(cells, cpus, threads, busy, gpus, measured_cell_bytes(records))
    say(f"--parallel auto: {n} cell(s) at once: {why}")
    return n
