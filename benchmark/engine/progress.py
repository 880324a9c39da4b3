"""A live view of the matrix: one line per cell with done/total, the cell, its outcome and an ETA."""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class Progress:
    def __init__(self, total: int, to_run: int, stream=sys.stdout, parallel: int = 1):
        self.total, self.to_run, self.stream, self.parallel = total, to_run, stream, max(1, parallel)
        self.done = total - to_run  # already finished before this run, or n/a
        self.ran, self.spent = 0, 0.0
        self._t0 = time.perf_counter()
        print(f"matrix: {total} cells, {total - to_run} already done or n/a, {to_run} to run", file=stream, flush=True)

    def start(self, name: str) -> None:
        self._t0 = time.perf_counter()
        print(f"[{self.done + 1}/{self.total}] {name} ...", file=self.stream, flush=True)

    def finish(self, name: str, record: dict, took: float | None = None) -> None:
        """`took`: the cell's own time, where cells overlap (parallel launchers) and the clock here can't tell."""
        took = time.perf_counter() - self._t0 if took is None else took
        self.done, self.ran, self.spent = self.done + 1, self.ran + 1, self.spent + took
        eta = self.spent / self.ran * (self.to_run - self.ran) / self.parallel
        detail = record.get("error", "") if record["status"] == "failed" else ""
        print(f"[{self.done}/{self.total}] {name} {record['status']} in {took:.1f}s"
              f" | ETA {_clock(eta)} {detail}".rstrip(), file=self.stream, flush=True)


def time_breakdown(records: list[dict], slowest: int = 5) -> str:
    """Where a run's time went: total, training loop vs the fixed per-cell cost, the slowest cells."""
    timed = [r for r in records if r.get("wall_s") is not None]
    if not timed:
        return "time: no cells ran"
    wall = sum(r["wall_s"] for r in timed)
    train = sum(r.get("train_s") or 0.0 for r in timed)
    top = sorted(timed, key=lambda r: r["wall_s"], reverse=True)[:slowest]
    return (f"time: {len(timed)} cells, {wall:.1f}s in cells ({train:.1f}s training loops, "
            f"{wall - train:.1f}s data, setup, validation and test)\n"
            "slowest cells: " + ", ".join(f"{r['cell']} {r['wall_s']:.1f}s" for r in top))
