"""glibc malloc settings for training on the CPU: reuse freed memory instead of page-faulting it back.

An LSTM step on the CPU allocates and frees gate buffers of tens of MiB (B x T x 4H floats:
31 MiB for copy/lstm/h=256). glibc serves such blocks with fresh mmaps (its threshold tops
out at 32 MiB) and trims the heap's free top, so every step faults the same memory back in:
~30k minor faults per step there, a quarter of the wall time spent in the kernel, measured
with getrusage. Keeping freed blocks in the heap (no mmap, no automatic trim) removes that:
1.26x the tokens/s of that cell on this machine, and the same for a plain PyTorch loop.
Between cells `release_freed_memory()` hands the free pages back (malloc_trim), so each
cell's resident-set growth (the CPU peak-memory figure) starts from live memory only.
Elsewhere than glibc both are no-ops.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4


@functools.cache
def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def retain_freed_memory() -> bool:
    """Serve big blocks from the heap and never trim it on free. True if glibc took the settings."""
    libc = _libc()
    return bool(libc and libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def release_freed_memory() -> None:
    """Return the heap's free pages to the OS now."""
    libc = _libc()
    if libc:
        libc.malloc_trim(0)
