r"""The numba kernel behind :mod:`.selection` (imported only when numba is).

Compiled once per row dtype and cached on disk next to this file (numba's
``cache=True``), so later processes load it instead of compiling.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["best_per_prompt"]

_CHUNK = 64  # tokens tested together before any is ranked


@numba.njit(cache=True, nogil=True)
def best_per_prompt(rows, sums, peaks, starts, ends, total, flat, count, lo, hi):
    """Fill ``total``/``flat``/``count`` for prompts ``lo`` to ``hi - 1``.

    Prompt ``p`` owns rows ``starts[p]`` to ``ends[p] - 1``; row ``r``'s
    candidate ``v`` has total ``sums[r] + rows[r, v]`` (float64) and flat
    index ``r * V + v``. Rows are scanned in order, so every candidate kept
    has a smaller flat index than any not yet seen: a later candidate enters
    only with a strictly greater total, which is the tie rule. ``worst``
    stays ``-inf`` until ``need`` are kept, so ``-inf`` totals never enter.
    A row whose best total (from ``peaks``) cannot beat ``worst`` is skipped.
    Runs without the GIL, so two threads can fill two halves of the prompts.
    """
    vocab = rows.shape[1]
    need = total.shape[1]
    for p in range(lo, hi):
        kept = 0
        worst = -np.inf
        for r in range(starts[p], ends[p]):
            base = sums[r]
            if not base + peaks[r] > worst:
                continue
            row = rows[r]
            for lo_v in range(0, vocab, _CHUNK):
                hi_v = min(lo_v + _CHUNK, vocab)
                # a branch-free count (the compiler can vectorise it); most chunks
                # hold nothing better than worst and are skipped
                hits = 0
                for v in range(lo_v, hi_v):
                    hits += base + row[v] > worst
                if hits == 0:
                    continue
                for v in range(lo_v, hi_v):
                    value = base + row[v]
                    if value > worst:
                        kept = _insert(total[p], flat[p], kept, value, r * vocab + v)
                        if kept == need:
                            worst = total[p, need - 1]
        count[p] = kept


@numba.njit(cache=True, nogil=True, inline="always")
def _insert(total, flat, kept, value, index):
    """Put ``(value, index)`` after every kept entry of total ``>= value``
    (they came first), dropping the last entry if the list is full."""
    need = len(total)
    slot = kept if kept < need else need - 1
    while slot > 0 and total[slot - 1] < value:
        total[slot] = total[slot - 1]
        flat[slot] = flat[slot - 1]
        slot -= 1
    total[slot] = value
    flat[slot] = index
    return min(kept + 1, need)
