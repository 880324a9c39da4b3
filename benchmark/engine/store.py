"""The results store: one JSON line per cell, appended whole or not at all: a kill or a full disk tears no record.

A run folder holds `results.jsonl`. Each append writes one complete line under an exclusive
file lock, then fsyncs, so concurrent writers neither interleave nor lose lines. A write that
fails part-way (no space, the file-size limit, an I/O error) is cut back to the size the file
had before it (should even that fail, the next append cuts it as a torn tail) and the error is
raised naming the file, for the command to print as one line: the new line is whole or absent,
and every record before it is kept.

A torn last line (power loss or kill -9 in the middle of a write) is cut off by the next append,
under the lock, before it writes; the bytes cut are first saved to `results.jsonl.torn`, so
nothing is destroyed unseen and the new record starts a line of its own. A line that is not a
record (torn, or a JSON value without the fields every record has: records.not_a_record) is
reported once per process and ignored; its cell then counts as not run and runs again. The
newest record of a cell wins.

`results.jsonl` and `results.jsonl.torn` are opened without following symbolic links, to read
as well as to write (engine.lock.open_in_folder): a link there is a ConfigError, never written
through, and `run` stops on it before it trains a cell it could not store. The folder itself
may be a link.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import sys
from pathlib import Path

from benchmark.engine.lock import named, open_in_folder
from benchmark.engine.records import DIVERGED, FAILED, SKIPPED, CellRecord, finalise, not_a_record, upgrade

CHUNK = 1 << 16
_warned: set[tuple[str, int, int]] = set()  # (file, offset, hash of the line): each bad line is reported once


class ResultsStore:
    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / "results.jsonl"
        self.torn_path = self.folder / "results.jsonl.torn"

    def append(self, record: CellRecord) -> None:
        line = (json.dumps(record, default=str) + "\n").encode()
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = open_in_folder(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as e:
                raise named(e, self.path) from e
            size = self._cut_torn_tail(fd)
            try:
                _write_all(fd, line)
                os.fsync(fd)
            except OSError as e:  # whole or nothing: take back what part of the line got written
                try:
                    os.ftruncate(fd, size)
                    os.fsync(fd)
                except OSError:
                    pass  # the next append cuts a torn tail all the same
                raise named(e, self.path) from e
        finally:
            os.close(fd)

    def _cut_torn_tail(self, fd: int) -> int:
        """Under the lock: cut a last line that lacks its newline, saving its bytes to
        results.jsonl.torn first. Returns the file's size after."""
        size = os.fstat(fd).st_size
        if not size or os.pread(fd, 1, size - 1) == b"\n":
            return size
        keep, end = 0, size
        while end > 0:  # the last newline, read back from the end
            start = max(0, end - CHUNK)
            found = os.pread(fd, end - start, start).rfind(b"\n")
            if found >= 0:
                keep = start + found + 1
                break
            end = start
        torn = os.pread(fd, size - keep, keep)
        aside = open_in_folder(self.torn_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            _write_all(aside, torn + b"\n")
            os.fsync(aside)
        except OSError as e:  # results.jsonl untouched: the torn line stays until it can be saved
            raise named(e, self.torn_path) from e
        finally:
            os.close(aside)
        try:
            os.ftruncate(fd, keep)
        except OSError as e:
            raise named(e, self.path) from e
        print(f"note: {self.path} ended in a torn line ({len(torn)} bytes, not a record); cut it off before "
              f"appending, its bytes are kept in {self.torn_path}", file=sys.stderr)
        return keep

    def records(self, warn=True) -> list[CellRecord]:
        try:
            fd = open_in_folder(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return []
        out, offset = [], 0
        with open(fd, "rb") as f:
            for number, raw in enumerate(f, 1):
                at, offset = offset, offset + len(raw)
                if not raw.strip():
                    continue  # an empty line holds nothing to lose
                try:
                    record = json.loads(raw)
                except (ValueError, RecursionError):
                    why = "is not a complete record (torn write?)"
                else:
                    problem = not_a_record(record)
                    if problem is None:
                        out.append(record)
                        continue
                    why = f"is not a cell record (it {problem})"
                seen = (str(self.path.absolute()), at, hash(raw))
                if warn and seen not in _warned:
                    _warned.add(seen)
                    print(f"warning: {self.path}:{number} {why}; ignoring it, its cell will run again",
                          file=sys.stderr)
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
        return finalise(record)["status"] in (FAILED, DIVERGED) and retry_failed  # diverged: failed before it existed


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written: a short write (a disk filling up) is not the end."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # nothing more fits
        view = view[written:]


def current_key(record: CellRecord) -> str:
    from benchmark.engine.cells import current_group  # loads the task registry: only once records are read

    group = current_group(record["config"]) if isinstance(record.get("config"), dict) else None
    return f"{record['cell']}/{group}" if group and record.get("cell") else record["key"]
