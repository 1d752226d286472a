"""Next-token log-probs for decoding, with the last call's keys and values.

Decoders (:mod:`seqscore.decoding`) ask for the next token after many
prefixes, step after step; a step of greedy or beam search extends each of
the previous step's prefixes (beams reselected in any order) by one token.
:class:`CachedDecoder` keeps the keys and values of the last call
(:class:`DecodingCache`), so such a call runs one position per row, as
``generate()`` does with its cache. Anything else (a first step, the jumps
of best-first search) runs the whole prefixes. Prefixes are grouped by
length, so no row is padded.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from seqscore.models._torch import torch
from seqscore.models.hf_forward import ForwardRunner
from seqscore.models.hf_keys import Keys, cache_layers, decoding_cache
from seqscore.models.hf_tokens import check_length, model_input
from seqscore.numerics.softmax import log_softmax

__all__ = ["DECODE_CACHE_BUDGET", "CachedDecoder", "DecodingCache"]

#: Bytes of keys and values next_logprobs keeps between calls.
DECODE_CACHE_BUDGET = 1 << 30

Prefix = tuple[int, ...]


class DecodingCache:
    """The keys and values of the last call, by prefix length, within
    :data:`DECODE_CACHE_BUDGET` bytes.

    The size of one position's keys is unknown until the first group is
    kept (it depends on the model's layers, heads and dtype): it is
    measured then, and every later group is kept only if it fits."""

    def __init__(self):
        self.kept: dict[int, Keys] = {}
        self._bytes_per_position: float | None = None

    def parent(self, prefixes: Sequence[Prefix], length: int) -> Keys | None:
        """The kept keys that hold every one of ``prefixes`` (of ``length``)
        but its last token, or None."""
        parent = self.kept.get(length - 1) if length >= 2 else None
        if parent is not None and all(p[:-1] in parent.index for p in prefixes):
            return parent
        return None

    def may_keep(self, rows: int, length: int) -> bool:
        """Whether the keys of ``rows`` prefixes of ``length`` fit the
        budget (unknown before the first measurement)."""
        per = self._bytes_per_position
        return per is None or rows * length * per <= DECODE_CACHE_BUDGET

    def measure(self, keys: Keys | None, rows: int, length: int) -> None:
        """Learn the bytes a position's keys take from the first ``keys``
        kept (``rows`` prefixes of ``length``)."""
        if keys is not None and self._bytes_per_position is None:
            self._bytes_per_position = keys.nbytes() / max(1, rows * length)


class CachedDecoder:
    """Next-token log-probs after prefixes, reading the last call's keys
    and values where each prefix extends one of the last call's prefixes.

    A long group runs in chunks of ``batch_size`` rows (64 by default);
    ``bos_id`` is fed for an empty prefix; ``max_length`` is the most
    positions the model reads; ``vocab_size`` the width of a row."""

    def __init__(
        self,
        runner: ForwardRunner,
        *,
        bos_id: int | None,
        batch_size: int | None,
        max_length: int,
        vocab_size: int,
    ):
        self.runner = runner
        self.vocab_size = vocab_size
        self.bos_id = bos_id
        self.chunk_rows = batch_size or 64
        self.max_length = max_length
        self.cache = DecodingCache()

    def next_logprobs(self, prefixes) -> np.ndarray:
        """Next-token log-probs after each prefix, float32 ``(B, V)``."""
        out = np.empty((len(prefixes), self.vocab_size), dtype=np.float32)
        groups: defaultdict[int, list[int]] = defaultdict(list)
        for row, prefix in enumerate(prefixes):
            groups[len(prefix)].append(row)
        kept: dict[int, Keys] = {}
        for length, rows in groups.items():
            check_length(max(length, 1), prefixes[rows[0]], self.max_length)
            group = [tuple(int(i) for i in prefixes[r]) for r in rows]
            logits, keys = self._group_logits(length, group)
            out[rows] = logits
            if keys is not None:
                kept[length] = keys
        self.cache.kept = kept
        return log_softmax(out)

    def _group_logits(self, length: int, prefixes: list[Prefix]):
        """``(last-position logits, keys to keep or None)`` for prefixes of
        one length, from the last call's keys where each extends one."""
        parent = self.cache.parent(prefixes, length)
        if parent is not None:
            return self._extend(parent, prefixes, length)
        return self._run_whole(prefixes, length)

    def _run_whole(self, prefixes: list[Prefix], length: int):
        """The prefixes run from their first position, in chunks."""
        keep = self.cache.may_keep(len(prefixes), length)
        chunks, caches = [], []
        size = self.chunk_rows
        for start in range(0, len(prefixes), size):
            part = prefixes[start : start + size]
            ids = self.runner.tensor([model_input(p, self.bos_id) for p in part])
            logits, cache = self.runner.forward(ids, keep_last=True, use_cache=keep)
            # the last position only leaves the device (a model without
            # logits_to_keep gives every position's)
            chunks.append(self.runner.numpy(logits[:, -1]))
            if keep:
                caches.append(cache_layers(cache))
        keys = Keys.join(caches, prefixes) if keep else None
        self.cache.measure(keys, len(prefixes), length)
        return np.concatenate(chunks), keys

    def _extend(self, parent: Keys, prefixes: list[Prefix], length: int):
        """Each prefix's last token run after its parent's kept keys."""
        runner = self.runner
        rows = runner.tensor([parent.index[p[:-1]] for p in prefixes])
        ids = runner.tensor([[p[-1]] for p in prefixes])
        logits, cache = runner.forward(
            ids,
            positions=torch().full_like(ids, length - 1),
            cache=decoding_cache(parent.select(rows), runner.config),
            keep_last=True,
            use_cache=True,
        )
        keys: Keys | None = Keys(
            cache_layers(cache), None, {p: i for i, p in enumerate(prefixes)}
        )
        if not self.cache.may_keep(len(prefixes), length):
            keys = None
        return runner.numpy(logits[:, -1]), keys
