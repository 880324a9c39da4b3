"""`--parallel auto`: how many cells to run at once, from what this machine has free.

On a CPU, cells in flight x threads per cell never exceed the idle cores: oversubscribed
OpenMP threads thrash (README, "Threads": 4.8x slower beside a twin). Idle cores are the
cores this process may use less the 1-minute load average (other people's work).

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
from dataclasses import dataclass

import torch

AUTO = "auto"
CONTEXT_BYTES = 600 * 2**20  # a CUDA context and cuDNN/cuBLAS workspaces, per process
CELL_BYTES = 2 * 2**30       # a cell's peak when no record measured one: above the full profile's cells
MAX_PER_GPU = 4              # cells sharing one GPU, at most
MEMORY_HEADROOM = 0.9        # of the free memory: fragmentation, the allocator's cache


@dataclass(frozen=True)
class Gpu:
    free_bytes: int
    busy_percent: int | None  # utilisation by work already running; None where NVML is missing


def choose(cells: int, cpus: int, threads: int | None, load: float = 0.0, gpus: tuple = (),
           cell_bytes: int | None = None) -> tuple[int, str]:
    """(cells in flight, why) for `cells` cells to run; pure, so tests feed it fake machines."""
    if cells < 1:
        return 1, "nothing to run"
    if gpus:
        return _on_gpus(cells, gpus, cell_bytes)
    per_cell = threads or 1  # with --threads 0 every worker gets an equal share, at least one core
    idle = max(0, cpus - round(load))
    n = max(1, min(cells, idle // per_cell))
    why = f"{idle} idle core(s) of {cpus} (1-min load {load:.1f}) / {per_cell} thread(s) per cell"
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
    n, why = choose(cells, cpus, threads, os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0,
                    machine_gpus(), measured_cell_bytes(records))
    say(f"--parallel auto: {n} cell(s) at once: {why}")
    return n
