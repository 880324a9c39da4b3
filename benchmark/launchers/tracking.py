"""Weights & Biases: one W&B run per cell through Lightning's WandbLogger, one summary run per matrix.

Each cell's run carries the cell's resolved config, the per-step curves the task module
already logs (loss, metrics, gradient norm) plus tokens/s per logging interval, and the
record's numbers as its summary. Runs of one results folder share a `group`; `job_type` is
the task and the tags are family, direction and backend, so the dashboard can slice the
matrix the way the tables do. The summary run, which holds the comparison tables and plots,
is drawn by the reports (benchmark/reports/wandb_summary.py).

W&B must never prompt or block: the mode is chosen up front (see `resolve_mode`), an
online mode without a key or without a reachable server turns offline with one warning,
and offline runs end with the `wandb sync` command that uploads them later. wandb itself is
imported only when tracking is on (it is slow to import, and only W&B users need it).
"""
from __future__ import annotations

import netrc
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import lightning as L

from benchmark.errors import ConfigError

MODES = ("online", "offline", "disabled")
DEFAULT_PROJECT = "rnnbench"
_ENV_MODES = {"dryrun": "offline", "run": "online"}  # older spellings wandb still accepts
_warned: set = set()


@dataclass(frozen=True)
class Tracking:
    """What a worker needs to open a cell's W&B run: small and picklable."""
    mode: str = "disabled"
    project: str = DEFAULT_PROJECT
    group: str = ""
    folder: str = ""  # the results folder; wandb writes under <folder>/wandb
    names: tuple = ()  # (cell key, run name) where a name carries settings (`run_names`)

    @property
    def enabled(self) -> bool:
        return self.mode != "disabled"

    @property
    def wandb_dir(self) -> Path:
        return Path(self.folder) / "wandb"


def resolve_mode(flag: str | None) -> str:
    """--wandb if given; else WANDB_MODE if set; else disabled in CI; else online with a key, offline without."""
    if flag:
        if flag not in MODES:
            raise ConfigError(f"bad --wandb {flag!r}: choose from {', '.join(MODES)}")
        return flag
    env = os.environ.get("WANDB_MODE", "").strip().lower()
    if env:
        env = _ENV_MODES.get(env, env)
        if env not in MODES:
            raise ConfigError(f"bad WANDB_MODE {env!r}: choose from {', '.join(MODES)}")
        return env
    if os.environ.get("CI"):
        return "disabled"
    return "online" if api_key_configured() else "offline"


def _host() -> str:
    return urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"


def api_key_configured() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(_host()) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def server_reachable(timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((_host(), 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def warn_once(message: str, stream=None) -> None:
    if message not in _warned:
        _warned.add(message)
        print(f"warning: {message}", file=stream or sys.stderr, flush=True)


def plan(flag: str | None, project: str, folder, stream=None) -> Tracking:
    """Decide the mode once, in the runner, before any worker starts."""
    mode = resolve_mode(flag)
    if mode == "online" and not api_key_configured():
        warn_once("--wandb online but no W&B API key (WANDB_API_KEY or `wandb login`); logging offline", stream)
        mode = "offline"
    elif mode == "online" and not server_reachable():
        warn_once(f"W&B server {_host()} unreachable; logging offline", stream)
        mode = "offline"
    folder = Path(folder).resolve()
    project = project or DEFAULT_PROJECT
    if mode == "disabled":
        return Tracking(mode, project, "", str(folder))
    group = _group(folder)
    (folder / "wandb" / "project").write_text(project + "\n")  # for `report` and `wandb dashboard` later
    return Tracking(mode, project, group, str(folder))


def reopen(folder, stream=None) -> Tracking | None:
    """The tracking of a folder whose cells logged to W&B (its group and project kept in
    <folder>/wandb), in the mode W&B would choose now (`plan`); None if it never logged."""
    folder = Path(folder).resolve()
    if not (folder / "wandb" / "group").is_file():
        return None
    project_file = folder / "wandb" / "project"
    project = project_file.read_text().strip() if project_file.is_file() else DEFAULT_PROJECT
    tracked = plan(None, project, folder, stream)
    return tracked if tracked.enabled else None


def _group(folder: Path) -> str:
    """`<folder name>-<id>`, kept in the folder so a resumed matrix stays one group on the dashboard."""
    path = folder / "wandb" / "group"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    group = f"{folder.name}-{uuid.uuid4().hex[:6]}"
    path.write_text(group + "\n")
    return group


def run_names(cells) -> dict[str, str]:
    """{cell key: run name} for cells that share a name (task/model/backend/seedN) but not their
    settings: the name gets the settings that differ among them, as `--set` spells them
    (`copy/lstm/cudnn/seed0 copy.delay=40`), so the dashboard tells the runs apart."""
    def flat(cell) -> dict:
        cfg = cell.config()
        return {**{f"{cell.task}.{k}": v for k, v in cfg["settings"].items()},
                **{f"{section}.{k}": v for section in ("model", "train") for k, v in cfg[section].items()}}

    by_name: dict[str, list] = {}
    for cell in cells:
        by_name.setdefault(cell.name, []).append(cell)
    names = {}
    for name, same in by_name.items():
        if len({c.key for c in same}) < 2:
            continue
        values = [flat(c) for c in same]
        differ = [k for k in values[0] if len({repr(v.get(k)) for v in values}) > 1]
        for cell, v in zip(same, values):
            names[cell.key] = " ".join([name, *(f"{k}={v[k]}" for k in differ)])
    return names


def with_names(tracked: Tracking, cells) -> Tracking:
    return replace(tracked, names=tuple(run_names(cells).items())) if tracked.enabled else tracked


def wandb_settings():
    import wandb  # only W&B users need it, and it is slow to import
    # console off: our progress lines stay ours; init_timeout bounds a slow server.
    return wandb.Settings(console="off", silent=True, init_timeout=30)


def cell_logger(tracking: Tracking, cell):
    """A WandbLogger for one cell, its run opened now so that a failing online init falls back to offline."""
    from lightning.pytorch.loggers import WandbLogger  # on use: W&B users only (see wandb_settings)

    tracking.wandb_dir.mkdir(parents=True, exist_ok=True)
    model = cell.model
    # The task's settings under its name, so the dashboard spells them as everywhere else (copy.delay);
    # the record keeps them under `settings` (group_hash is the record's group).
    config = {**cell.config(), "cell": cell.name, "key": cell.key, "group_hash": cell.group,
              "family": model.family, "direction": "bi" if model.bidirectional else "uni"}
    config[cell.task] = config.pop("settings")
    options = dict(project=tracking.project, name=dict(tracking.names).get(cell.key, cell.name), group=tracking.group, job_type=cell.task,
                   tags=[model.family, "bi" if model.bidirectional else "uni", model.backend],
                   config=config, save_dir=tracking.folder, settings=wandb_settings())
    logger = _quiet(WandbLogger(mode=tracking.mode, **options))
    try:
        logger.experiment  # noqa: B018 - opens the run
    except Exception as e:  # noqa: BLE001 - tracking must never stop a cell
        if tracking.mode != "online":
            raise
        warn_once(f"W&B online init failed ({type(e).__name__}: {e}); logging offline. {sync_hint(tracking)}")
        logger = _quiet(WandbLogger(mode="offline", **options))
        logger.experiment  # noqa: B018
    return logger


def _quiet(logger):
    # Lightning always passes `anonymous`, which wandb >= 0.19 ignores with a warning per run.
    logger._wandb_init.pop("anonymous", None)
    return logger


def summary_of(record: dict) -> dict:
    keys = ("status", "params", "encoder_params", "train_steps", "train_tokens", "train_s", "train_tokens_per_s",
            "peak_mem_bytes", "peak_mem_kind", "wall_s", "device", "devices", "threads", "cpu_wait_share",
            "contended", "grad_norm", "error", "reason")
    out = {k: record[k] for k in keys if record.get(k) is not None}
    out.update(record.get("metrics", {}))
    return out


def finish_cell_run(logger, record: dict) -> None:
    try:
        run = logger.experiment
        run.summary.update(summary_of(record))
        run.finish(exit_code=1 if record["status"] == "failed" else 0)
    except Exception as e:  # noqa: BLE001 - the record is already safe; W&B is a view of it
        warn_once(f"could not finish the W&B run of {record['cell']}: {type(e).__name__}: {e}")


INTERRUPTED_EXIT_CODE = 130  # a shell's status for a command ended by SIGINT (128 + 2); SIGTERM's is 143


def interrupt_cell_run(logger, cell, exit_code: int = INTERRUPTED_EXIT_CODE) -> None:
    """A signal stopped the cell: end its run as interrupted (summary status `interrupted`, exit code
    128 + the signal: 130 for Ctrl-C), so the dashboard, and `wandb sync` of an offline run, show it
    ended and why. Its record is never stored; the cell runs again on resume, as a new W&B run."""
    try:
        run = logger.experiment
        run.summary.update({"status": "interrupted"})
        run.finish(exit_code=exit_code)
    except Exception as e:  # noqa: BLE001 - stopping must not fail on the dashboard's account
        warn_once(f"could not finish the W&B run of {cell.name}: {type(e).__name__}: {e}")


def sync_hint(tracking: Tracking) -> str:
    return f"upload later with: wandb sync {tracking.wandb_dir}/offline-run-*"


class StepThroughput(L.Callback):
    """Training tokens/s over each logging interval, as a curve (the record keeps the whole-run figure).

    Reads the clock without a device sync: over `log_every` steps the queue of pending
    kernels is short next to the interval, and validation time is left out.
    """

    def __init__(self, every: int):
        self.every, self.tokens, self.t0 = every, 0, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.t0 is None:
            self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.tokens += pl_module.tokens(batch)
        if trainer.global_step % self.every == 0:
            took = time.perf_counter() - self.t0
            if took > 0:
                pl_module.log("train/tokens_per_s", self.tokens / took, on_step=True, on_epoch=False)
            self.tokens, self.t0 = 0, time.perf_counter()

    def on_validation_end(self, trainer, pl_module):
        self.tokens, self.t0 = 0, None
