"""One runner per results folder: `<out>/.lock`, an exclusive flock held for the run's duration.

The lock belongs to the process that plans the matrix (`run_matrix`). Its workers (pool
processes, Ray tasks, Slurm jobs) never take it: they only return records, which the runner
appends under the store's own per-append lock. The kernel drops an flock when its holder
dies, so a runner killed with -9 leaves no stale lock behind; the file itself stays, holding
the pid of the last holder for the message.

The lock file, like the results files (engine/store.py), is opened without following a
symbolic link (`open_in_folder`), and only a regular file is truncated and written: a link
there, or a folder or a device, is a ConfigError that names it, never a file elsewhere overwritten.
"""
from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path

from benchmark.errors import ConfigError

LINK = ("{path} is a symbolic link; rnnbench does not follow links in a results folder "
        "(remove it, or point --out at the real folder)")
NOT_A_FILE = "{path} is not a regular file; rnnbench keeps only plain files there (remove it, or choose another --out)"


class FolderBusy(ConfigError):
    """Another runner holds the folder: reported as one line, exit status 2, like a config error."""


def open_in_folder(path, flags: int, mode: int = 0o644) -> int:
    """os.open of a file of a results folder, without following a link at `path` (the folders
    above it may be links: users point --out through one). A link, or anything but a regular
    file, is a ConfigError naming it; other OSErrors propagate and name the path (os.open's do).
    The descriptor is non-inheritable and blocking; O_NONBLOCK only spares a FIFO's open."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as e:
        if e.errno == errno.ELOOP and os.path.islink(path):
            raise ConfigError(LINK.format(path=path)) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(NOT_A_FILE.format(path=path))
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def named(e: OSError, path) -> OSError:
    """`e` naming `path` (os.write, os.fsync and flock errors name no file), for the one-line message."""
    return e if e.filename else OSError(e.errno, e.strerror or str(e), str(path))


class RunLock:
    def __init__(self, folder):
        self.path = Path(folder) / ".lock"
        self._fd = None

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Non-inheritable (open_in_folder): spawned workers never hold the lock.
        fd = open_in_folder(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise FolderBusy(f"{self.path.parent} is in use by another run (pid {holder}); "
                             f"wait for it to finish or choose another --out") from None
        except OSError as e:
            os.close(fd)
            raise named(e, self.path) from e
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:  # no room even for a pid: stop now, before a cell trains that could not be stored
            os.close(fd)
            raise named(e, self.path) from e
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
