"""The record schema: what one cell's line in `results.jsonl` holds, in one place.

The runner writes records, the store keeps them, launchers carry them back from workers,
and tables, reports and W&B read them. A record stays a plain JSON-ready dict (so an
existing `results.jsonl` resumes unchanged); `CellRecord` names every field and its
meaning, and the constructors below are the only places a record is started.
"""
from __future__ import annotations

from typing import Literal, TypedDict

from benchmark.engine.cells import Cell

Status = Literal["ok", "failed", "skipped", "n/a", "lost"]
OK, FAILED, SKIPPED, NA, LOST = "ok", "failed", "skipped", "n/a", "lost"


class CellRecord(TypedDict, total=False):
    # --- which cell (every record) ---------------------------------------------------
    key: str                 # cell name + config hash: what resume matches on
    cell: str                # task/variant/backend/seedN
    group: str               # hash of the config without the seed: seeds of one group are averaged
    task: str
    model: str               # the variant (rnn, bilstm, ...)
    family: str              # rnn, lstm or gru
    bidirectional: bool
    backend: str             # cudnn or scratch
    seed: int
    profile: str
    config: dict             # the resolved model/train/task settings (Cell.config())
    status: Status
    # --- why it did not run (n/a, skipped) or failed (failed, lost) ----------------------
    reason: str
    error: str
    traceback: str
    # --- what it measured (ok) -----------------------------------------------------------
    metrics: dict            # "val/..." and "test/..." -> float
    baselines: dict          # baseline or reference name -> {metric: value}
    data: dict               # what the readers found, where they say: sources per split, classes, label_map
    params: int              # trainable parameters of the whole module
    encoder_params: int      # parameters of the recurrent encoder alone
    grad_norm: float         # global gradient norm at the last logged step, before clipping
    train_steps: int
    train_tokens: int
    train_s: float           # the training loop, validation excluded (seconds)
    warmup_step_s: float     # the first step, timed apart (seconds)
    train_tokens_per_s: float  # steady state, steps 2..N
    peak_mem_bytes: int
    peak_mem_kind: str       # cuda_max_allocated or cpu_rss_growth
    cpu_wait_share: float    # share of the training loop's runnable time spent waiting for a CPU
    contended: bool          # cpu_wait_share above throughput.CONTENDED: tokens/s measured on a busy CPU
    reached_target: bool     # train.stop_at set: the last validation met it (training stopped there)
    stopped_at_step: int | None  # train.stop_at set: the step whose validation met it; None if none did
    data_notes: list         # what the loader did to the data: tags rewritten, values filled, the split chosen
    curve: str               # logs/<cell>-<group>/metrics.csv, relative to the run folder: per-step and val metrics
    weights: str             # train.save_weights: logs/<cell>-<group>/weights.pt (a state dict), relative likewise
    # --- where and when ------------------------------------------------------------------
    device: str
    accelerator: str
    devices: int             # processes (devices) that trained the cell, through DDP when > 1
    host: str
    versions: dict
    threads: int
    float32_matmul_precision: str
    started_at: str
    finished_at: str
    wall_s: float            # the whole cell: data, training, validation, test
    worker: dict             # launcher, pid, began, ended


def base_record(cell: Cell) -> CellRecord:
    return {"key": cell.key, "cell": cell.name, "group": cell.group, "task": cell.task,
            "model": cell.model.variant, "family": cell.model.family,
            "bidirectional": cell.model.bidirectional, "backend": cell.model.backend,
            "seed": cell.seed, "profile": cell.profile, "config": cell.config()}


def na_record(cell: Cell) -> CellRecord:
    return {**base_record(cell), "status": NA, "reason": cell.na_reason}


def lost_record(cell: Cell, why: str) -> CellRecord:
    """A cell whose worker died before reporting. Never stored: the next run simply runs it again."""
    return {**base_record(cell), "status": LOST,
            "error": f"{why}; its cell is not recorded and runs again on the next `run`"}
