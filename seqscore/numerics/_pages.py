"""Handing pages back to the operating system: read pages of a read-only
memory map, and freed pages of malloc's heap.

Pages read through a map count in the process's resident set until it
unmaps them, so a scan of a file larger than memory would report (and, under
pressure, hold) the whole file. Dropping them once read keeps the resident
set flat; the data stays in the page cache, and reading a page again faults
it back in.

glibc's malloc keeps freed blocks below its mmap threshold (up to 32 MiB)
in its heaps. A model's passes allocate tensors of a new shape each pass, so
freed blocks seldom fit the next ones and the heaps grow with the run: a
GPT-2-small-sized model scoring 800 candidates kept about 400 MB of freed
heap (see BENCHMARKS.md). :func:`release_free_heap` hands the whole free
pages back between passes once enough are free.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import mmap
import sys

__all__ = ["release_free_heap", "release_range"]


def release_range(handle: mmap.mmap, offset: int, length: int) -> None:
    """Drop the whole pages of bytes ``[offset, offset + length)`` of
    ``handle`` from this process's resident set (``MADV_DONTNEED``).

    Pages only partly inside the range are kept. Advice only: where the
    platform refuses it, memory is spent, never correctness.
    """
    if not hasattr(handle, "madvise"):
        return
    page = mmap.PAGESIZE
    lo, hi = -(-offset // page) * page, (offset + length) // page * page
    if lo < 0 or hi <= lo:
        return
    with contextlib.suppress(OSError, ValueError):
        handle.madvise(mmap.MADV_DONTNEED, lo, hi - lo)


#: Free heap bytes below which :func:`release_free_heap` leaves the heap be:
#: each release costs page faults when the memory is used again.
FREE_HEAP_SLACK = 64 << 20


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


@functools.cache
def _glibc_malloc():
    """glibc's ``(malloc_trim, mallinfo2)``, or None (another C library, or
    glibc before 2.33)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim, info = libc.malloc_trim, libc.mallinfo2
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    info.argtypes, info.restype = [], _Mallinfo2
    return trim, info


def free_heap_bytes() -> int | None:
    """Bytes malloc holds free in its heaps (all arenas), or None where
    that cannot be asked (not glibc)."""
    malloc = _glibc_malloc()
    return None if malloc is None else int(malloc[1]().fordblks)


def release_free_heap(slack: int = FREE_HEAP_SLACK) -> bool:
    """Hand malloc's free heap pages back to the system (glibc's
    ``malloc_trim(0)``) when more than ``slack`` bytes are free; return
    whether it did. Elsewhere a no-op: memory is spent, never correctness.
    """
    free = free_heap_bytes()
    if free is None or free <= slack:
        return False
    _glibc_malloc()[0](0)
    return True
