"""Handing pages back to the operating system.

* :func:`release_range`: pages read through a memory map count in the
  process's resident set until it unmaps them, so a scan of a file larger
  than memory would report (and, under pressure, hold) the whole file.
  Dropping them once read keeps the resident set flat; the data stays in the
  page cache, and reading a page again faults it back in.
* :func:`return_large_blocks`: glibc's malloc keeps freed blocks of up to
  32 MiB in its heaps for reuse. A model's forward passes free hundreds of
  tensors of changing sizes, and the holes they leave kept about 250 MB
  above the live tensors when scoring with a GPT-2-small-sized model; served
  by ``mmap`` instead, a freed tensor's pages go back at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os

__all__ = ["LARGE_BLOCK", "release_range", "return_large_blocks"]

#: Blocks of at least this many bytes are mapped, not taken from the heap,
#: once :func:`return_large_blocks` has run.
LARGE_BLOCK = 1 << 20
# mallopt's parameter number for the mmap threshold (glibc's malloc.h)
_M_MMAP_THRESHOLD = -3


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


def return_large_blocks(threshold: int = LARGE_BLOCK) -> bool:
    """Have glibc's malloc map every block of ``threshold`` bytes or more,
    so that freeing it returns its pages (``mallopt(M_MMAP_THRESHOLD)``,
    which also stops glibc from raising the threshold as blocks are freed).

    For processes seqscore owns (its commands and their workers) that run a
    model: the price is a page fault per fresh page of a large block. A
    threshold the user set (``MALLOC_MMAP_THRESHOLD_``) is left alone.
    Returns whether the setting was made (False on other C libraries).
    """
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is not None:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, int(threshold)))
