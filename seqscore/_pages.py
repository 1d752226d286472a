"""Handing pages of a read-only memory map back to the operating system.

Pages read through a map count in the process's resident set until it
unmaps them, so a scan of a file larger than memory would report (and, under
pressure, hold) the whole file. Dropping them once read keeps the resident
set flat; the data stays in the page cache, and reading a page again faults
it back in.
"""

from __future__ import annotations

import contextlib
import mmap

__all__ = ["release_range"]


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
