"""A live view of the matrix: one line per cell with done/total, the cell, its outcome and an ETA,
and, on a terminal, a bar inside the cell that is training (steps, loss, steps/s, ETA).

Off a terminal (a log file, a pipe, CI) the per-cell lines are all there is: a per-step bar
would fill the log with carriage returns. On a terminal, lines and bar go through one rich
Console, so a line printed while the bar is drawn lands above it instead of through it.
"""
from __future__ import annotations

import sys
import time

import lightning as L
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as Bar
from rich.text import Text


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def count(n: int, word: str = "cell") -> str:
    """"1 cell", "2 cells", "0 cells": the run's summary lines."""
    return f"{n} {word}{'' if n == 1 else 's'}"


class Progress:
    def __init__(self, total: int, to_run: int, stream=sys.stdout, parallel: int = 1):
        self.total, self.to_run, self.stream, self.parallel = total, to_run, stream, max(1, parallel)
        self.done = total - to_run  # already finished before this run, or n/a
        self.ran, self.spent = 0, 0.0
        self._t0 = time.perf_counter()
        # isatty() decides, not rich's own detection: rich also treats e.g. FORCE_COLOR as a terminal.
        self.console = Console(file=stream, force_terminal=True, highlight=False) if is_terminal(stream) else None
        self._say(f"matrix: {count(total)}, {total - to_run} already done or n/a, {to_run} to run")

    def _say(self, line: str) -> None:
        if self.console is not None:
            self.console.print(line, markup=False, soft_wrap=True)
        else:
            print(line, file=self.stream, flush=True)

    def cell_callbacks(self, name: str) -> list:
        """Callbacks for a cell trained in this process: its bar on a terminal, none otherwise."""
        return [CellProgress(self.console, name)] if self.console is not None else []

    def start(self, name: str) -> None:
        self._t0 = time.perf_counter()
        self._say(f"[{self.done + 1}/{self.total}] {name} ...")

    def finish(self, name: str, record: dict, took: float | None = None) -> None:
        """`took`: the cell's own time, where cells overlap (parallel launchers) and the clock here can't tell."""
        took = time.perf_counter() - self._t0 if took is None else took
        self.done, self.ran, self.spent = self.done + 1, self.ran + 1, self.spent + took
        eta = self.spent / self.ran * (self.to_run - self.ran) / self.parallel
        detail = record.get("error", "") if record["status"] == "failed" else \
            record.get("reason", "") if record["status"] == "diverged" else ""
        self._say(f"[{self.done}/{self.total}] {name} {record['status']} in {took:.1f}s"
                  f" | ETA {_clock(eta)} {detail}".rstrip())


def is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _StepsPerSecond(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:.1f} steps/s" if task.speed else "")


class CellProgress(L.Callback):
    """A cell's training on the terminal: step/max_steps, the latest training loss, steps/s and the
    training loop's ETA (validation and test come on top), as a rich bar that goes when the cell ends.

    The loss is read only on the steps where the task logs it (every `train.log_every`), which
    already bring it to the host (the logger, the task's finiteness check): the bar adds no
    device sync to the other steps.
    """

    def __init__(self, console: Console, name: str):
        self.console, self.name = console, name
        self.bar: Bar | None = None
        self.task = None

    def on_train_start(self, trainer, pl_module):
        self.bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[loss]}"), _StepsPerSecond(), TimeRemainingColumn(),
                                console=self.console, transient=True)
        self.bar.start()
        self.task = self.bar.add_task(self.name, total=trainer.max_steps, completed=trainer.global_step, loss="")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.bar is None:
            return
        step = trainer.global_step
        fields = {}
        if step % max(1, trainer.log_every_n_steps) == 0:
            loss = trainer.callback_metrics.get("train/loss")
            if loss is not None:
                fields["loss"] = f"loss {float(loss):.4g}"
        self.bar.update(self.task, completed=step, **fields)

    def on_validation_start(self, trainer, pl_module):
        if self.bar is not None:
            self.bar.update(self.task, description=f"{self.name} (validating)")

    def on_validation_end(self, trainer, pl_module):
        if self.bar is not None:
            self.bar.update(self.task, description=self.name)

    def on_train_end(self, trainer, pl_module):
        self._stop()

    def on_exception(self, trainer, pl_module, exception):
        self._stop()  # Ctrl-C or a failing cell: the message that follows must not land in the bar

    def teardown(self, trainer, pl_module, stage):
        self._stop()

    def _stop(self):
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def time_breakdown(records: list[dict], slowest: int = 5) -> str:
    """Where a run's time went: total, training loop vs the fixed per-cell cost, the slowest cells."""
    timed = [r for r in records if r.get("wall_s") is not None]
    if not timed:
        return "time: no cells ran"
    wall = sum(r["wall_s"] for r in timed)
    train = sum(r.get("train_s") or 0.0 for r in timed)
    top = sorted(timed, key=lambda r: r["wall_s"], reverse=True)[:slowest]
    return (f"time: {count(len(timed))}, {wall:.1f}s in cells ({train:.1f}s training loops, "
            f"{wall - train:.1f}s data, setup, validation and test)\n"
            f"slowest {'cell' if len(top) == 1 else 'cells'}: " + ", ".join(f"{r['cell']} {r['wall_s']:.1f}s" for r in top))
