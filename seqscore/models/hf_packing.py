r"""Several continuations of one context in one row of one forward pass.

A packed row (:class:`~seqscore.models.batching.PackedRow`) holds a
context once and then, one after another, the continuations of some of its
requests (each but its last token). A 4-D attention mask lets a context
token see the context tokens before it, and a continuation token see the
whole context and its own continuation's earlier tokens, nothing else;
position ids restart after the context for each continuation. Every
position then computes what it would in its own sequence
``context + continuation``, so the row scores all its continuations with
one run of the context, and no keys and values are copied or kept.

For a row ``[c0 c1 c2 | a0 a1 | b0]`` (context ``c``, continuations
``a0 a1 a2`` and ``b0 b1``), positions ``0 1 2 | 3 4 | 3``; ``c2``
predicts ``a0`` and ``b0``, ``a0`` predicts ``a1``, ``a1`` predicts ``a2``
and ``b0`` predicts ``b1``.

A model takes such a mask only if its attention applies a custom 4-D mask
as given (transformers passes one through unchanged; sliding-window layers
then do not apply their window on top of it, so only models whose cache
layers are all plain full attention pack): :func:`packing_works` checks
it on a probe, and scoring falls back to a cache of the context's keys and
values where it does not hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqscore.models._torch import torch
from seqscore.models.batching import PackedRow
from seqscore.models.hf_keys import Keys, cache_layers

__all__ = ["PackingProbe", "packed_inputs", "packing_works", "probe_packing"]


def packed_inputs(
    rows: Sequence[PackedRow], continuations, pad_id: int, dtype, device, start: int = 0
):
    """``(ids, mask, positions, picks)`` of a batch of packed rows, placed
    after ``start`` tokens (a shared prefix whose cached keys every query
    may read).

    ``continuations[r]`` is request ``r``'s continuation; ``ids`` and
    ``positions`` are ``(B, W)`` (right padding; positions count from
    ``start``), ``mask`` the additive ``(B, 1, W, start + W)`` mask in
    ``dtype`` (0 where a query may attend, the dtype's most negative number
    elsewhere), and ``picks[i]`` the flat positions (into ``B * W``) whose
    outputs predict the tokens of the ``i``-th request of the rows, in the
    rows' order.
    """
    width = max(row.width for row in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    positions = np.zeros((len(rows), width), dtype=np.int64)
    segments = np.full((len(rows), width), -1, dtype=np.int64)  # -1: padding
    picks: list[list[int]] = []
    for b, row in enumerate(rows):
        arrays = ids[b], positions[b], segments[b]
        picks += _write_row(row, continuations, arrays, b * width)
    positions += start
    # the (B, W) segments go to the device, not the (B, W, start + W) mask
    ids_on, positions_on, segments_on = (
        torch().from_numpy(a).to(device) for a in (ids, positions, segments)
    )
    return ids_on, _packed_mask(segments_on, dtype, start), positions_on, picks


def _write_row(row: PackedRow, continuations, arrays, offset: int) -> list[list[int]]:
    """Write one packed row into its ``(ids, positions, segments)`` rows and
    return, per request, the flat positions (the row's start is ``offset``)
    that predict its tokens."""
    ids, positions, segments = arrays
    length = len(row.context)
    ids[:length] = row.context
    positions[:length] = np.arange(length)
    segments[:length] = 0
    picks, at = [], length
    for segment, request in enumerate(row.requests, start=1):
        tokens = continuations[request][:-1]
        stop = at + len(tokens)
        ids[at:stop] = tokens
        # each continuation is placed as if it came straight after the context
        positions[at:stop] = np.arange(length, length + len(tokens))
        segments[at:stop] = segment
        picks.append([offset + length - 1, *range(offset + at, offset + stop)])
        at = stop
    return picks


def _packed_mask(segments, dtype, start: int = 0):
    """The additive mask of rows whose positions belong to ``segments``
    (0: the context, ``j``: the ``j``-th continuation, -1: padding): a
    query attends to the ``start`` keys before the rows (a prefix's) and to
    the keys at or before it of the context and of its own segment (padding
    queries to the context and padding, never empty), on the segments'
    device."""
    rows, width = segments.shape
    device = segments.device
    index = torch().arange(width, device=device)
    causal = index[None, :] <= index[:, None]
    keys, queries = segments[:, None, :], segments[:, :, None]
    allowed = causal & ((keys == 0) | (keys == queries))
    if start:
        prefix = torch().ones((rows, width, start), dtype=torch().bool, device=device)
        allowed = torch().cat([prefix, allowed], dim=-1)
    mask = torch().zeros(allowed.shape, dtype=dtype, device=device)
    return mask.masked_fill_(~allowed, torch().finfo(dtype).min)[:, None]


@dataclass(frozen=True)
class PackingProbe:
    """What :func:`probe_packing` found: whether packed rows give the
    logits of whole sequences (``packs``), whether they do after a prefix's
    cached keys and values too (``shares_prefixes``), and the bytes of keys
    and values one token of one row costs (``token_bytes``; 0 when not
    measured)."""

    packs: bool
    shares_prefixes: bool = False
    token_bytes: int = 0


def packing_works(model) -> bool:
    """Whether ``model``'s logits for a packed row equal its logits for
    the same sequences run one by one (:func:`probe_packing`)."""
    return probe_packing(model, None).packs


#: What a model that cannot take a probe's inputs raises.
_REFUSALS = (TypeError, ValueError, RuntimeError, IndexError, AttributeError)


def probe_packing(model, cache_argument: str | None) -> PackingProbe:
    """Run the sequences ``1 2 3 4 5 6`` and ``1 2 3 7 8`` one by one, then
    as one packed row (context ``1 2 3``, continuations ``4 5 6`` and
    ``7 8``), then, with a ``cache_argument``, as a 2-token prefix's keys
    and values followed by the packed row of the rest (``3 | 4 5 6 | 7
    8``, the layout of :class:`~seqscore.models.hf_passes.PackedPasses`),
    and compare the logits (:func:`_agree`)."""
    size = int(model.get_output_embeddings().weight.shape[0])
    rows = tuple(tuple(t % size for t in s) for s in ((1, 2, 3), (4, 5, 6), (7, 8)))
    context, first, second = rows
    parameter = next(model.parameters())
    place = parameter.dtype, parameter.device
    try:
        with torch().inference_mode():
            alone = [
                _logits(model, input_ids=_ids(context + t, place))
                for t in (first, second)
            ]
            expected = torch().cat([alone[0], alone[1][3:]])
            packed = _logits(model, **_packed(context, first, second, 0, place))
    except _REFUSALS:
        return PackingProbe(False)
    if not _agree(packed, expected, place[0]):
        return PackingProbe(False)
    if cache_argument is None:
        return PackingProbe(True)
    try:
        with torch().inference_mode():
            out = model(input_ids=_ids(context[:2], place), use_cache=True)
            cache = getattr(out, cache_argument)
            token_bytes = Keys(cache_layers(cache), None).nbytes() // 2
            inputs = _packed(context[2:], first, second, 2, place)
            after = _logits(model, **inputs, use_cache=False, **{cache_argument: cache})
    except _REFUSALS:
        return PackingProbe(True)
    if not _agree(after, expected[2:], place[0]):
        return PackingProbe(True)
    return PackingProbe(True, True, token_bytes)


def _logits(model, **inputs):
    """The logits of a one-row forward pass."""
    return model(**inputs).logits[0]


def _ids(tokens, place):
    """One row of ids on the model's device."""
    return torch().tensor([tokens], device=place[1])


def _packed(context, first, second, start: int, place) -> dict:
    """The inputs of one packed row of ``context`` and two continuations,
    placed after ``start`` tokens whose keys every query may read."""
    row = PackedRow(context, (0, 1), len(context) + len(first) + len(second))
    dtype, device = place
    ids, mask, positions, _ = packed_inputs(
        [row], [(*first, 0), (*second, 0)], 0, dtype, device, start=start
    )
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions}


def _agree(got, expected, dtype) -> bool:
    """Equal to 1e-4 of the largest magnitude in float32 and float64, 2e-2
    in half precision."""
    expected = expected.float()
    scale = float(expected.abs().max())
    exact = dtype in (torch().float32, torch().float64)
    tolerance = (1e-4 if exact else 2e-2) * scale
    return bool((got.float() - expected).abs().max() <= tolerance)
