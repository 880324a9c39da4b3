"""The results store: one JSON line per cell, appended whole, so a kill never tears a record.

A run folder holds `results.jsonl`. Each append is one write of a complete line under an
exclusive file lock, flushed and fsynced, so concurrent writers neither interleave nor
lose lines. A line that does not parse (power loss mid-write) is reported and ignored; its
cell then counts as not run and runs again. An append after such a torn tail first ends the
torn line, so the new record never merges into it. The newest record of a cell wins.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

from benchmark.engine.records import FAILED, SKIPPED, CellRecord, upgrade


class ResultsStore:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / "results.jsonl"

    def append(self, record: CellRecord) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn tail: end it, keep ours whole
                line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def records(self, warn=True) -> list[CellRecord]:
        if not self.path.exists():
            return []
        out = []
        with open(self.path, "rb") as f:
            for number, raw in enumerate(f, 1):
                try:
                    record = json.loads(raw)
                    if not isinstance(record, dict) or "key" not in record:
                        raise ValueError("not a cell record")
                except ValueError:
                    if warn:
                        print(f"warning: {self.path}:{number} is not a complete record (torn write?); "
                              f"ignoring it, its cell will run again", file=sys.stderr)
                    continue
                out.append(record)
        return out

    def latest(self) -> dict[str, CellRecord]:
        """Newest record per cell key, the key as this version computes it: a record written before a
        setting existed counts as trained with its default (engine.cells.current_group), so adding
        a setting does not make finished cells run again."""
        return {current_key(r): r for r in self.records()}

    def current(self) -> list[CellRecord]:
        """The newest record of each cell, in first-seen order, each as this version reads it
        (records.upgrade): what tables and reports summarise. Records of this version are read
        as written, without the task modules (no torch); older ones are upgraded through them."""
        newest = {}
        for record in map(upgrade, self.records()):
            newest[record["key"]] = record
        return list(newest.values())

    def todo(self, key: str, latest: dict, retry_failed: bool) -> bool:
        record = latest.get(key)
        if record is None or record["status"] == SKIPPED:  # skipped: data may be there now
            return True
        return record["status"] == FAILED and retry_failed


def current_key(record: CellRecord) -> str:
    from benchmark.engine.cells import current_group  # loads the task registry: only once records are read

    group = current_group(record["config"]) if isinstance(record.get("config"), dict) else None
    return f"{record['cell']}/{group}" if group and record.get("cell") else record["key"]
