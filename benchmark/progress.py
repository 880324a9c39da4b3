"""A live view of the matrix: one line per cell with done/total, the cell, its outcome and an ETA."""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class Progress:
    def __init__(self, total: int, to_run: int, stream=sys.stdout):
        self.total, self.to_run, self.stream = total, to_run, stream
        self.done = total - to_run  # already finished before this run, or n/a
        self.ran, self.spent = 0, 0.0
        self._t0 = time.perf_counter()
        print(f"matrix: {total} cells, {total - to_run} already done or n/a, {to_run} to run", file=stream, flush=True)

    def start(self, name: str) -> None:
        self._t0 = time.perf_counter()
        print(f"[{self.done + 1}/{self.total}] {name} ...", file=self.stream, flush=True)

    def finish(self, name: str, record: dict) -> None:
        took = time.perf_counter() - self._t0
        self.done, self.ran, self.spent = self.done + 1, self.ran + 1, self.spent + took
        eta = self.spent / self.ran * (self.to_run - self.ran)
        detail = record.get("error", "") if record["status"] == "failed" else ""
        print(f"[{self.done}/{self.total}] {name} {record['status']} in {took:.1f}s"
              f" | ETA {_clock(eta)} {detail}".rstrip(), file=self.stream, flush=True)
