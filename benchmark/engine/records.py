"""The record schema: what one cell's line in `results.jsonl` holds, in one place.

The runner writes records, the store keeps them, launchers carry them back from workers,
and tables, reports and W&B read them. A record stays a plain JSON-ready dict (so an
existing `results.jsonl` resumes unchanged); `CellRecord` names every field and its
meaning, and the constructors below are the only places a record is started. `not_a_record`
is what a line must hold to be read as one (REQUIRED); the store ignores, and reports, any other.

A record carries what the reports need: its group, its settings with every default filled in
(`config`) and its task's defaults (`settings_defaults`), so `table`, `report` and
`reproduce papers` read a folder without the task modules (and so without torch). `upgrade` is
the one place a record is read as this version has it; every reader calls it.
"""
from __future__ import annotations

import math
from typing import Literal, TypedDict

from benchmark.config import ModelConfig, TrainConfig
from benchmark.engine.cells import (Cell, current_config, current_settings_defaults, declared_defaults, group_hash,
                                    settings_defaults)

Status = Literal["ok", "diverged", "failed", "skipped", "n/a", "lost"]
OK, FAILED, SKIPPED, NA, LOST = "ok", "failed", "skipped", "n/a", "lost"
# Trained, but the loss blew up (non-finite, or above DIVERGED_LOSS): metrics kept where there are
# any, never a table's best; `--retry-failed` runs it again, as it does a failed cell (`finalise`).
DIVERGED = "diverged"
DIVERGED_LOSS = 1e6
# 2: records carry `record_version` and `settings_defaults`. Bump it when a task setting is added,
# removed or its default changes (tests/test_records_alone.py pins the task settings it stands for):
# the records written before are then upgraded through the task modules, which know the new ones.
RECORD_VERSION = 2


class CellRecord(TypedDict, total=False):
    # --- which cell (every record) ---------------------------------------------------
    key: str                 # cell name + config hash: what resume matches on
    cell: str                # task/variant/backend/seedN
    group: str               # hash of the config without the seed: seeds of one group are averaged
    task: str
    model: str               # the variant (rnn, bilstm, ...)
    family: str              # a registered family (benchmark/families): rnn, lstm, gru, mingru, ...
    bidirectional: bool
    backend: str             # cudnn or scratch: what was asked for
    implementation: str      # what ran: fused (torch's kernel), scan or step (ours); cudnn without a fused kernel runs the scan
    seed: int
    profile: str
    config: dict             # Cell.config(); task settings stay in `settings` (hash stability), shown as <task>.<key>
    settings_defaults: dict  # the task's settings when nothing sets them: a paper's protocol is completed with them
    record_version: int      # RECORD_VERSION when written; absent from records written before version 2
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
    peak_mem_kind: str       # cuda_max_allocated or cpu_rss_peak (before: cpu_rss_growth, over the cell's start)
    cpu_wait_share: float    # share of the training loop's runnable time spent waiting for a CPU
    contended: bool          # cpu_wait_share above throughput.CONTENDED: tokens/s measured on a busy CPU
    reached_target: bool     # train.stop_at set: the last validation met it (training stopped there)
    length_generalisation: dict  # {length: accuracy} at each unseen length N+1..M (eval.max_length); mean: test/unseen_acc
    stopped_at_step: int | None  # train.stop_at set: the step whose validation met it; None if none did
    data_notes: list         # what the loader did to the data: tags rewritten, values filled, the split chosen
    curve: str               # logs/<cell>-<group>/metrics.csv, relative to the run folder: per-step and val metrics
    weights: str             # train.save_weights: logs/<cell>-<group>/weights.pt (a state dict), relative likewise
    checkpoint: dict         # train.checkpoint: {best|last: logs/<cell>-<group>/checkpoints/<which>.ckpt}, relative
                             # likewise; beside them cell.json (the config) and vocab.json (language models)
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


# What a line must hold to be a record (every record has them since before record_version 2):
# the fields of base_record that resume, tables and reports index, with their types. A line
# without them is no record: the store reports it once, ignores it, and its cell runs again.
REQUIRED = {"key": str, "cell": str, "group": str, "task": str, "model": str, "backend": str, "seed": int,
            "profile": str, "config": dict, "status": str}
STORED = (OK, DIVERGED, FAILED, SKIPPED, NA)  # the statuses a stored record has (a lost cell is never stored)


def not_a_record(record) -> str | None:
    """Why a parsed line is not a record (`"lacks group, config"`), or None when it is one."""
    if not isinstance(record, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(record), "number")
        return f"is a JSON {kind}, not an object"
    missing = [k for k, kind in REQUIRED.items() if not isinstance(record.get(k), kind)
               or (kind is int and isinstance(record.get(k), bool))]
    if missing:
        return "lacks " + ", ".join(missing) if all(k not in record for k in missing) else \
            "lacks or mistypes " + ", ".join(missing)
    if record["status"] not in STORED:
        return f"has status {record['status']!r}, not one of {', '.join(STORED)}"
    return None  # the rest is optional: readers take a missing field (metrics, params, error) as none


def base_record(cell: Cell) -> CellRecord:
    return {"key": cell.key, "cell": cell.name, "group": cell.group, "task": cell.task,
            "model": cell.model.variant, "family": cell.model.family,
            "bidirectional": cell.model.bidirectional, "backend": cell.model.backend,
            "implementation": cell.model.implementation,
            "seed": cell.seed, "profile": cell.profile, "config": cell.config(),
            "settings_defaults": settings_defaults(type(cell.settings)), "record_version": RECORD_VERSION}


def na_record(cell: Cell) -> CellRecord:
    return {**base_record(cell), "status": NA, "reason": cell.na_reason}


def lost_record(cell: Cell, why: str) -> CellRecord:
    """A cell whose worker died before reporting. Never stored: the next run simply runs it again."""
    return {**base_record(cell), "status": LOST,
            "error": f"{why}; its cell is not recorded and runs again on the next `run`"}


def diverged(metrics) -> str | None:
    """Why a cell's metrics say training diverged (a loss, train/val/test, above DIVERGED_LOSS, or
    any metric non-finite), or None. Pure: the runner may call it on the metrics it measured."""
    for name, value in (metrics or {}).items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if not math.isfinite(value):
            return f"{name} is {value}"
        if name.rpartition("/")[2] == "loss" and abs(value) > DIVERGED_LOSS:
            return f"{name} {value:.3g} > {DIVERGED_LOSS:.0e}"
    return None


def finalise(record: CellRecord) -> CellRecord:
    """The record with its final status: `ok` whose loss diverged (`diverged`), and `failed` by a
    non-finite loss (errors.NonFiniteLoss, raised during or after training), become `diverged`
    with a `reason`; metrics are kept. Every other record is returned as it is. `run_matrix`
    calls it on each record before storing it, and `upgrade` on each record read (older folders)."""
    status = record.get("status")
    if status == OK and (why := diverged(record.get("metrics"))):
        return {**record, "status": DIVERGED, "reason": f"training diverged: {why}; lower train.lr or set "
                                                         f"train.grad_clip"}
    if status == FAILED and str(record.get("error") or "").startswith("NonFiniteLoss: "):
        return {**record, "status": DIVERGED, "reason": "training diverged: " + record["error"].partition(": ")[2]}
    return record


def upgrade(record: CellRecord) -> CellRecord:
    """The record as this version reads it: the one place a record is upgraded. Every reader
    (ResultsStore.current, the tables, `reproduce papers`) calls it; a current one costs nothing.

    - every version: its final status (`finalise`: a diverged loss is `diverged`).
    - RECORD_VERSION: as written, its stored group and settings; model and train settings added
      since (known here without the task modules) take their defaults, and its group follows.
    - older (no `record_version`): through the task modules, once per read (torch loads): the
      settings added since it was written take their defaults, the values it trained with
      (engine.cells.current_config); its group and key are then this version's, and it gets
      its task's `settings_defaults`. A record of a task not registered here stays as written.
    """
    record = finalise(record)  # a diverged cell stored as `ok` (or `failed`) before `diverged` existed
    cfg = record.get("config")
    if not isinstance(cfg, dict):
        return record
    if record.get("record_version", 1) >= RECORD_VERSION:
        model, train = cfg.get("model") or {}, cfg.get("train") or {}
        if _MODEL.keys() <= model.keys() and _TRAIN.keys() <= train.keys():
            return record
        return _regrouped(record, {**cfg, "model": {**_MODEL, **model}, "train": {**_TRAIN, **train}})
    upgraded, defaults = current_config(cfg), current_settings_defaults(cfg.get("task"))
    if upgraded is None or defaults is None:
        return record
    return {**_regrouped(record, upgraded), "settings_defaults": defaults, "record_version": RECORD_VERSION}


def _regrouped(record: CellRecord, cfg: dict) -> CellRecord:
    group = group_hash(cfg)
    key = f"{record['cell']}/{group}" if record.get("cell") else record.get("key")
    return {**record, "config": cfg, "group": group, "key": key}


_MODEL, _TRAIN = declared_defaults(ModelConfig), declared_defaults(TrainConfig)
