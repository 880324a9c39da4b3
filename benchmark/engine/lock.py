"""One runner per results folder: `<out>/.lock`, an exclusive flock held for the run's duration.

The lock belongs to the process that plans the matrix (`run_matrix`). Its workers (pool
processes, Ray tasks, Slurm jobs) never take it: they only return records, which the runner
appends under the store's own per-append lock. The kernel drops an flock when its holder
dies, so a runner killed with -9 leaves no stale lock behind; the file itself stays, holding
the pid of the last holder for the message.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from benchmark.errors import ConfigError


class FolderBusy(ConfigError):
    """Another runner holds the folder: reported as one line, exit status 2, like a config error."""


class RunLock:
    def __init__(self, folder):
        self.path = Path(folder) / ".lock"
        self._fd = None

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # os.open makes a non-inheritable descriptor: spawned workers never hold the lock.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderBusy(f"{self.path.parent} is in use by another run (pid {holder}); "
                             f"wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
