"""One cell: build the task's data and module, train with a Lightning Trainer, measure, record.

Every model the suite trains goes through `fit_cell` (the matrix's workers, the
measurements, `bench overhead` and `bench plan`): one Trainer, one set of callbacks, one
precision policy. `build_module` is the first half of it, for callers that need the module
as the cell would start training it (gradient flow at initialisation, plain loops).
"""
from __future__ import annotations

import functools
import gc
import json
import logging
import math
import os
import sys
import signal
import threading
import time
import traceback
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.callbacks.early_stopping import EarlyStopping
from lightning.pytorch.loggers import CSVLogger

from benchmark.config import parse_stop_at
from benchmark.engine.cells import Cell, unseen_lengths
from benchmark.engine.environment import device_name, host, versions
from benchmark.engine.host_memory import retain_freed_memory
from benchmark.engine.records import FAILED, OK, SKIPPED, CellRecord, base_record
from benchmark.engine.throughput import CONTENDED, PEAK_MEM_KIND, ThroughputMeter, published
from benchmark.errors import ConfigError, DataUnavailable, NonFiniteLoss, Terminated
from tasks import get_task

UNSEEN_SEED = 4_000_037  # the length-generalisation sequences' seed, past the splits' (tasks/data/synthetic.py)


@dataclass
class CellRun:
    record: CellRecord
    module: L.LightningModule | None = None  # the fitted module; None unless the cell trained


def run_cell(cell: Cell, out_dir, data_dir=None, loggers=(), callbacks=(), devices=1) -> CellRecord:
    """Train and evaluate one cell; its record. Never raises for a failure of the cell itself:
    the record says `failed` (or `skipped`) with the reason, so the matrix can go on."""
    return fit_cell(cell, out_dir, data_dir, loggers, callbacks, devices).record


def fit_cell(cell: Cell, out_dir, data_dir=None, loggers=(), callbacks=(), devices=1) -> CellRun:
    """`run_cell`, handing back the fitted module too, for a caller that needs its weights."""
    run = CellRun(base_record(cell))
    record = run.record
    record["started_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    start = time.perf_counter()
    try:
        run.module = _train(cell, out_dir, data_dir, loggers, callbacks, devices, record)
        record["status"] = OK
    except KeyboardInterrupt:
        raise
    except DataUnavailable as e:  # offline, no local copy: nothing is wrong with the cell
        record.update(status=SKIPPED, reason=str(e))
    except Exception as e:  # noqa: BLE001 - a cell's failure must not stop the matrix
        record.update(status=FAILED, error=_describe(e), traceback="".join(traceback.format_exception(e)[-6:]))
    if record["status"] == FAILED:
        # Outside the except block: the traceback's frames (module, trainer, batches) are gone by now,
        # so their device memory can really be returned before the next cell.
        _free_device_memory()
    record["wall_s"] = round(time.perf_counter() - start, 3)
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return run


def build_module(cell: Cell, data_dir=None):
    """(data, module) of a cell as it starts training: seeded, data set up, module built (on the CPU)."""
    L.seed_everything(cell.seed, workers=True, verbose=False)
    task_cls = get_task(cell.task)
    data = task_cls.datamodule(cell.settings, cell.train, cell.seed, data_dir)
    data.prepare_data()
    data.setup("fit")
    return data, task_cls(cell.settings, cell.model, cell.train, data)


def _describe(error: Exception) -> str:
    text = f"{type(error).__name__}: {error}"
    if is_out_of_memory(error):
        where = "host" if isinstance(error, MemoryError) or "cpu" in str(error).lower() else "device"
        text += f" -- the cell did not fit in {where} memory: lower train.batch_size or model.hidden (--set)"
    return text


def is_out_of_memory(error: BaseException) -> bool:
    # The CPU allocator raises RuntimeError "DefaultCPUAllocator: can't allocate memory" (or MemoryError).
    text = str(error).lower()
    return isinstance(error, (torch.cuda.OutOfMemoryError, MemoryError)) or (
        isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text))


def _train(cell: Cell, out_dir, data_dir, loggers, callbacks, devices, record: CellRecord):
    """Fit, validate and test the cell, filling `record`; returns the fitted module."""
    quiet_lightning()
    data, module = build_module(cell, data_dir)
    if getattr(data, "notes", None):  # what the loader did to the user's data (repairs, fills, the split)
        record["data_notes"] = list(data.notes)
    fast_paths(module, cell.train)
    meter = ThroughputMeter()
    # The config hash keeps apart cells that share a name (e.g. one model at several copy delays).
    name = f"{cell.name.replace('/', '-')}-{cell.group}"
    rotate_log_folder(os.path.join(out_dir, "logs", name))
    csv = CSVLogger(os.path.join(out_dir, "logs"), name=name, version="")
    train = cell.train
    target = stop_at_target(train.stop_at, module)
    keeper = checkpoint_callback(train, os.path.join(csv.log_dir, "checkpoints"))
    trainer = L.Trainer(
        accelerator="auto", max_steps=train.max_steps, precision=train.precision,
        # Manual-optimisation tasks (truncated BPTT) clip inside their own step.
        gradient_clip_val=train.grad_clip if module.automatic_optimization else None,
        val_check_interval=min(train.val_every or train.max_steps, train.max_steps),
        check_val_every_n_epoch=None,
        limit_val_batches=train.val_batches or 1.0, limit_test_batches=train.test_batches or 1.0,
        log_every_n_steps=train.log_every, logger=[csv, *loggers],
        callbacks=[meter, *([target] if target else []), *([keeper] if keeper else []), *callbacks],
        **device_settings(devices),
        enable_checkpointing=keeper is not None, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0,
        # With several devices the data modules shard training data themselves (tasks/data/loader.py).
        use_distributed_sampler=False,
    )
    interruptible(trainer.fit, module, datamodule=data)
    metrics = _stage_metrics(trainer, "val/")  # the test loop resets callback_metrics
    measured = published(trainer.callback_metrics)  # the meter's figures, from rank 0 with several devices
    interruptible(trainer.test, module, datamodule=data, verbose=False)
    metrics.update(_stage_metrics(trainer, "test/"))
    lengths = unseen_lengths(cell)
    if lengths:  # trained on lengths up to N: each longer one scored apart, their mean beside the test's
        scores = module.length_generalisation(lengths, cell.eval.per_length, cell.seed + UNSEEN_SEED)
        record["length_generalisation"] = {str(n): round(v, 6) for n, v in scores.items()}
        metrics["test/unseen_acc"] = sum(scores.values()) / len(scores)
    if target is not None:
        # Judged by the callback's own test on the last validation (where it stopped training),
        # not its state: with several devices the callback ran in the spawned processes.
        last = metrics.get(target.monitor, math.nan)
        reached = bool(target.monitor_op(torch.tensor(last, dtype=torch.float32), target.stopping_threshold))
        steps = int(measured.get("steps", 0))
        record.update(stopped_at_step=steps if reached else None, reached_target=reached)
    curve = os.path.join(csv.log_dir, "metrics.csv")
    if os.path.exists(curve):
        record["curve"] = os.path.relpath(curve, out_dir)
    if train.save_weights:  # tensors only: torch.load(weights_only=True) reads it back without running code
        weights = os.path.join(csv.log_dir, "weights.pt")
        torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, weights)
        record["weights"] = os.path.relpath(weights, out_dir)
    if keeper is not None:
        saved = save_for_loading(cell, data, keeper.dirpath)
        record["checkpoint"] = {which: os.path.relpath(path, out_dir) for which, path in saved.items()}
    bad = [k for k, v in metrics.items() if v != v or v in (float("inf"), float("-inf"))]
    if bad:
        raise NonFiniteLoss(f"non-finite {', '.join(bad)} after training; lower train.lr or train.grad_clip")
    device = trainer.strategy.root_device
    wait = measured.get("cpu_wait_share")
    record.update({
        "metrics": metrics,
        "baselines": module.baselines(data),
        # The reader's summary (which file or hub split each split came from, the label -> id
        # mapping): a string label's id depends on the other labels, so the record must say it.
        **({"data": data.summary} if getattr(data, "summary", None) else {}),
        "params": sum(p.numel() for p in module.parameters() if p.requires_grad),
        "encoder_params": sum(p.numel() for p in module.encoder.parameters()),
        "grad_norm": measured.get("grad_norm"),
        "train_steps": int(measured.get("steps", 0)),
        "train_tokens": int(measured.get("tokens", 0)),
        "train_s": round(measured.get("train_s", 0.0), 3),
        "warmup_step_s": round(measured["warmup_s"], 4) if "warmup_s" in measured else None,
        "train_tokens_per_s": measured.get("tokens_per_s"),
        "peak_mem_bytes": int(measured["peak_mem_bytes"]) if "peak_mem_bytes" in measured else None,
        "peak_mem_kind": PEAK_MEM_KIND.get(device.type) if "peak_mem_bytes" in measured else None,
        "cpu_wait_share": round(wait, 4) if wait is not None else None,
        "contended": wait is not None and wait > CONTENDED,
        "device": device_name(device),
        "accelerator": device.type,
        "devices": devices,
        "host": host(),
        "versions": versions(),
        "threads": torch.get_num_threads(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    })
    return module


def interruptible(trainer_fn, *args, **kwargs):
    """`trainer.fit` / `trainer.test`, with Ctrl-C raised as the KeyboardInterrupt it is.

    Lightning 2.x catches a KeyboardInterrupt inside its entry points, tears the trainer down,
    sets SIGINT to be ignored and calls `sys.exit(1)` (`_call_and_handle_interrupt` in
    lightning/pytorch/trainer/call.py). A SystemExit passes every `except Exception`, so the
    interrupt would end the whole program with status 1 and no word, and later Ctrl-Cs would be
    ignored. Here that exit becomes the KeyboardInterrupt again (the one it was raised while
    handling), so the matrix can stop as interrupted, and SIGINT gets its handler back.

    SIGTERM: Lightning's signal connector runs its own handler and then ours (cli.main's, which
    raises errors.Terminated, a KeyboardInterrupt: the path above). Without ours, Lightning would
    raise its SIGTERMException, a SystemExit with no code, and the program would end with status
    0 and the cell silently dropped; that too becomes Terminated here.
    """
    handler = signal.getsignal(signal.SIGINT)
    try:
        return trainer_fn(*args, **kwargs)
    except SystemExit as e:
        if isinstance(e.__context__, KeyboardInterrupt):  # Ctrl-C, or SIGTERM (errors.Terminated, from cli.main)
            raise e.__context__ from None
        if type(e).__name__ == "SIGTERMException":  # Lightning's own SIGTERM exit (status 0!) when our
            raise Terminated(signal.SIGTERM) from None  # handler was not installed (an embedding caller)
        raise
    finally:
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) != handler:
            signal.signal(signal.SIGINT, handler)


def rotate_log_folder(folder: str) -> str | None:
    """Move a cell's earlier, non-empty log folder to `<folder>.prevN` (the next free N, so .prev1
    is the oldest) and return where it went. Lightning's CSVLogger would otherwise delete the
    earlier metrics.csv of a cell run again (interrupted, failed and retried, or a rerun)."""
    if not os.path.isdir(folder) or not os.listdir(folder):
        return None
    n = 1
    while os.path.exists(f"{folder}.prev{n}"):
        n += 1
    os.rename(folder, f"{folder}.prev{n}")
    return f"{folder}.prev{n}"


def stop_at_target(stop_at: str, module) -> EarlyStopping | None:
    """`train.stop_at` as Lightning's EarlyStopping: stop at the first validation that meets the
    target (patience never runs out; only the threshold stops). None when it is off."""
    parsed = parse_stop_at(stop_at)
    if parsed is None:
        return None
    metric, op, value = parsed
    names = sorted({"loss", *module.make_metrics().keys(), *module.derived(1.0)})
    if metric not in names:
        raise ConfigError(f"bad train.stop_at {stop_at!r}: task {module.name} validates {', '.join(names)}")
    # EarlyStopping compares strictly (current > threshold), and the logged metric is float32:
    # the float32 just past VALUE makes the test `>=` (or `<=`), so recall_acc>=1.0 can fire.
    toward = -math.inf if op == ">=" else math.inf
    threshold = torch.nextafter(torch.tensor(value, dtype=torch.float32), torch.tensor(toward)).item()
    return EarlyStopping(monitor=f"val/{metric}", mode="max" if op == ">=" else "min", stopping_threshold=threshold,
                         patience=2**62, check_on_train_epoch_end=False, verbose=False)


CHECKPOINT_FILES = {"best": "best.ckpt", "last": "last.ckpt"}  # in logs/<cell>-<group>/checkpoints/
CELL_FILE, VOCAB_FILE = "cell.json", "vocab.json"                # beside them: what loading needs, as plain data


def checkpoint_callback(train, folder: str) -> ModelCheckpoint | None:
    """`train.checkpoint` as Lightning's ModelCheckpoint (None when it is `none`): the weights only
    (a state dict that torch.load(weights_only=True) reads), saved after each validation into
    `folder` as best.ckpt (the best validation so far: train.stop_at's metric and direction when
    set, else val/loss, lower better) and/or last.ckpt."""
    if train.checkpoint == "none":
        return None
    parsed = parse_stop_at(train.stop_at)
    monitor, mode = (f"val/{parsed[0]}", "max" if parsed[1] == ">=" else "min") if parsed else ("val/loss", "min")
    best = train.checkpoint in ("best", "both")
    return ModelCheckpoint(dirpath=folder, filename=CHECKPOINT_FILES["best"].removesuffix(".ckpt"),
                           monitor=monitor if best else None, mode=mode, save_top_k=1 if best else 0,
                           save_last=train.checkpoint in ("last", "both"), save_weights_only=True,
                           auto_insert_metric_name=False, enable_version_counter=False, verbose=False)


def save_for_loading(cell: Cell, data, folder: str) -> dict[str, str]:
    """Beside a cell's checkpoints, what rebuilding its module needs without the data directory,
    as plain JSON: the cell's config (cell.json) and, for a task with a vocabulary (the language
    models), its id -> token list (vocab.json). Returns {best|last: path} of the checkpoints saved."""
    saved = {which: os.path.join(folder, name) for which, name in CHECKPOINT_FILES.items()
             if os.path.exists(os.path.join(folder, name))}
    if not saved:
        return saved
    for path in saved.values():
        weights_only(path)
    vocab = getattr(getattr(data, "corpus", None), "vocab", None)
    about = {"cell": cell.name, "group": cell.group, "config": cell.config(),
             "vocab": VOCAB_FILE if vocab is not None else None}
    with open(os.path.join(folder, CELL_FILE), "w", encoding="utf-8") as f:
        json.dump(about, f, indent=1, default=list)
    if vocab is not None:
        with open(os.path.join(folder, VOCAB_FILE), "w", encoding="utf-8") as f:
            json.dump(list(vocab), f, ensure_ascii=False)
    return saved


def weights_only(path: str) -> None:
    """Make sure torch.load(path, weights_only=True) reads the checkpoint: a Lightning file holding
    anything else (a callback's state, hparams of a type torch refuses) is rewritten as its state dict."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - unpickling refused: keep the tensors alone
        state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
        torch.save({"state_dict": {k: v.detach().cpu() for k, v in state.items()}}, path)


def fast_paths(module, train) -> None:
    """The GPU's fast paths; on the CPU they are off or do nothing.

    - TF32 for float32 matmuls (scratch cells, heads): tensor-core speed with a 10-bit
      mantissa on Ampere and later. cuDNN's RNNs already allow TF32
      (torch.backends.cudnn.allow_tf32 defaults to True); cudnn.benchmark is left off, as it
      tunes convolutions only, not cuDNN's RNN kernels.
    - `train.compile`: torch.compile the encoder, which fuses the scratch cells' per-step
      gate arithmetic into few kernels; it costs a compile per cell, so it is off by default.
      `reduce-overhead` also captures the compiled encoder in CUDA graphs (one launch per
      replay instead of a few per time step): for fixed-shape tasks (a new shape recaptures)
      on a GPU; elsewhere it compiles as `true` does and says so once.
    - bf16 mixed precision is `train.precision: bf16-mixed`, applied by the Trainer.
    - Host memory: freed blocks stay in the heap (benchmark/engine/host_memory.py), which on
      the CPU spares each step ~30k page faults.
    """
    retain_freed_memory()
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")
    if train.compile:
        # Dynamo's cache is per code object (the encoder's forward), shared by every cell in
        # this process; past its recompile limit it silently runs eager. A fresh cache per
        # cell keeps each cell compiled.
        torch._dynamo.reset()
        module.encoder.compile(**compile_options(train.compile, torch.cuda.is_available()))


def compile_options(setting, cuda: bool) -> dict:
    """torch.compile's options for `train.compile` (true or reduce-overhead) on this machine."""
    if setting != "reduce-overhead":
        return {}
    if cuda:
        return {"mode": "reduce-overhead"}
    _note_once("train.compile reduce-overhead: CUDA graphs need a GPU; compiling the encoder in the default mode")
    return {}


@functools.cache
def _note_once(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def device_settings(devices: int) -> dict:
    """Trainer settings for `devices` accelerators (or CPU processes).

    Several devices train one cell with data-parallel DDP. `ddp_spawn` starts the ranks from
    inside this process; plain `ddp` would re-run the command line in each rank, matrix and all.
    Lightning's `deterministic=True` stays off: on the CPU, seeding alone already gives the
    same metrics for the same cell and seed (torch's CPU kernels are deterministic; a test
    checks it), and the flag cost ~3% of a CPU LSTM step in its per-op checks (measured); on
    CUDA it would force slower cuDNN/cuBLAS paths.
    """
    if not isinstance(devices, int) or devices < 1:
        raise ConfigError(f"bad --devices {devices!r}: expected an integer >= 1")
    gpu = torch.cuda.is_available()
    if gpu and devices > torch.cuda.device_count():
        raise ConfigError(f"--devices {devices} but only {torch.cuda.device_count()} GPU(s) here")
    return {"devices": devices, "strategy": "ddp_spawn" if devices > 1 else "auto"}


def _stage_metrics(trainer, prefix) -> dict:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(prefix)}


def quiet_lightning():
    """One line per cell is our progress view; Lightning's per-Trainer banners would bury it."""
    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*(does not have many workers|LitLogger|litlogger|treespec).*")


def _free_device_memory():
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
