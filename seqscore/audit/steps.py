r"""The one pass over the logits: every per-position fact the hypotheses need.

The expensive part of an audit is reading ``N x T x V`` logits. It is done
once, by the token kernel (:func:`seqscore.numerics.kernels.token_stats`), which gives
for each position :math:`p` the argmax :math:`a_p` and its log-probability
:math:`\ell^\star_p = z_p[a_p] - \mathrm{lse}(z_p)`. Everything else is a
*gather* of a few logits per position, read while the candidate's logits are
still resident (so no second pass over ``V``):

* the normaliser :math:`\mathrm{lse}(z_p) = z_p[a_p] - \ell^\star_p` (to
  float64 rounding: the kernel formed :math:`\ell^\star_p` from this very
  logit);
* the logit of the next, the same and the after-next token,
  :math:`z_p[x_{p+1}]`, :math:`z_p[x_p]`, :math:`z_p[x_{p+2}]`; any
  log-probability of these is the logit minus the normaliser;
* for the softmax-over-time bug, :math:`\mathrm{lse}_{p'} z_{p'}[x_{q+1}]`
  over the sequence's positions (an ``L x L`` gather);
* for the softmax-across-candidates bug, :math:`\mathrm{lse}_j z^{(j)}_q[x_{q+1}]`
  over the candidates ``j`` of the same prompt that have a position ``q``
  (prompts of at most :data:`MAX_BATCH_GROUP` candidates);
* for the appended-EOS bug, the log-probability of a given EOS id at the last
  position, or -- when the id is unknown -- the :data:`EOS_NEAREST` ids whose
  log-probability there is closest to what the reported number requires.

Padding (positions past a candidate's length) is never read.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seqscore.audit.run import PipelineRun
from seqscore.errors import SeqScoreError

# the kernel's own page-release helpers: one implementation of that chore
from seqscore.numerics.kernels import release_pages, token_logprobs, token_stats
from seqscore.numerics.softmax import logsumexp

__all__ = ["EOS_NEAREST", "MAX_BATCH_GROUP", "EosProbe", "StepTable", "collect_steps"]

#: Prompts with more candidates than this are left out of the
#: softmax-across-candidates hypothesis (its gathers grow as the square).
MAX_BATCH_GROUP = 64
#: Candidate EOS ids kept per candidate when the EOS id is not given.
EOS_NEAREST = 8
# logits gathered at once for the softmax over time (8 MB of float64)
_OVER_TIME_BLOCK = 1 << 20
# Logits per kernel call: enough to amortise the call and its threads, few
# enough that a chunk stays resident until its gathers are done.
_CHUNK_BYTES = 256 * 1024 * 1024
_MAX_CHUNK_CANDIDATES = 1024

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class EosProbe:
    """How to look for an appended EOS: a known id, or the reported numbers.

    With ``eos_id=None`` the probe asks, per candidate, which token's
    log-probability at the last position would turn the correct score into
    the reported one: ``r - S`` for a sum, ``r (n + 1) - S`` for a mean.
    """

    eos_id: int | None
    reported: np.ndarray
    mean: bool


@dataclass(frozen=True)
class StepTable:
    """Per-position facts of every candidate, ``(N, W)`` arrays padded with NaN.

    ``W`` is the longest sequence; position ``p`` of candidate ``i`` is valid
    for ``p < L_i`` (``next_logit`` and ``time_lse`` for ``p <= L_i - 2``,
    ``skip_logit`` for ``p <= L_i - 3``, ``batch_lse`` in the scored window).
    ``eos_ids``/``eos_logprobs`` are ``(N, k)``: the given EOS id (``k = 1``)
    or the ``k`` nearest candidates (id -1 where there are none).
    """

    lse: np.ndarray
    top_logprob: np.ndarray
    next_logit: np.ndarray
    own_logit: np.ndarray
    skip_logit: np.ndarray
    time_lse: np.ndarray
    batch_lse: np.ndarray
    eos_ids: np.ndarray
    eos_logprobs: np.ndarray
    eos_given: bool


def collect_steps(
    run: PipelineRun,
    probe: EosProbe,
    *,
    on_progress: Progress | None = None,
    workers: int | None = None,
) -> StepTable:
    """Read every candidate's logits once and fill the :class:`StepTable`."""
    n, width = run.n, run.width
    k = 1 if probe.eos_id is not None else EOS_NEAREST
    table = {
        name: np.full((n, width), np.nan)
        for name in (
            "lse",
            "top_logprob",
            "next_logit",
            "own_logit",
            "skip_logit",
            "time_lse",
            "batch_lse",
        )
    }
    table["eos_ids"] = np.full((n, k), -1, np.int64)
    table["eos_logprobs"] = np.full((n, k), np.nan)
    done = 0
    for chunk, whole_groups in _chunks(run):
        stats = _kernel(run, chunk, workers)
        for i in chunk:
            _gather_candidate(run, i, stats[i], table, probe)
        for members in whole_groups:
            _gather_batch(run, members, table)
        for i in chunk:
            release(run, i)
        done += len(chunk)
        if on_progress is not None:
            on_progress(done, n)
    return StepTable(eos_given=probe.eos_id is not None, **table)


def tempered_logprobs(
    run: PipelineRun, candidates, temperature: float, workers: int | None = None
) -> list[np.ndarray]:
    r"""Scored-window log-probs of ``log_softmax(z / T)`` for ``candidates``.

    This needs a new pass over ``V`` (the normaliser of ``z / T`` is not a
    function of the normaliser of ``z``); the audit runs it on a few
    candidates to fit ``T``, and on all of them only to confirm a fit.
    """
    out = []
    for i in candidates:
        window, targets = run.window(i)
        rows = np.asarray(run.rows(i)[window])
        dtype = np.float64 if rows.dtype == np.float64 else np.float32
        scaled = np.divide(rows, dtype(temperature), dtype=dtype)
        out.append(token_logprobs(scaled, run.input_ids[i, targets], workers=workers))
        release(run, i)
    return out


def release(run: PipelineRun, i: int) -> None:
    """Hand candidate ``i``'s pages of a read-only memmap back to the OS."""
    release_pages(run.rows(i))


# ------------------------------------------------------------------ chunks


def _chunks(run: PipelineRun):
    """``(candidate indices, whole groups in them)``, prompt by prompt.

    A prompt of at most :data:`MAX_BATCH_GROUP` candidates always lies in one
    chunk, so the across-candidates gather finds every member resident.
    """
    size = _chunk_size(run)
    order = np.argsort(run.group, kind="stable")
    bounds = np.flatnonzero(np.diff(run.group[order])) + 1
    chunk: list[int] = []
    groups: list[list[int]] = []
    for indices in np.split(order, bounds):
        members = [int(i) for i in indices]
        if len(members) > MAX_BATCH_GROUP:
            yield from _split_large(members, chunk, groups, size)
            chunk, groups = [], []
            continue
        chunk.extend(members)
        groups.append(members)
        if len(chunk) >= size:
            yield chunk, groups
            chunk, groups = [], []
    if chunk:
        yield chunk, groups


def _chunk_size(run: PipelineRun) -> int:
    """Candidates per chunk: about :data:`_CHUNK_BYTES` of logits."""
    itemsize = np.dtype(getattr(run.rows(0), "dtype", np.float64)).itemsize
    per_candidate = max(1, run.width * run.vocab * itemsize)
    return int(np.clip(_CHUNK_BYTES // per_candidate, 1, _MAX_CHUNK_CANDIDATES))


def _split_large(members, chunk, groups, size):
    if chunk:
        yield chunk, groups
    for start in range(0, len(members), size):
        yield members[start : start + size], []


# ------------------------------------------------------------------ kernel


def _targets(run: PipelineRun, i: int) -> np.ndarray:
    """Kernel targets: the next token, and the last token at the last position."""
    length = int(run.lengths[i])
    ids = run.input_ids[i, :length]
    return np.append(ids[1:], ids[-1])


def _kernel(run: PipelineRun, chunk: list[int], workers) -> dict:
    """``{i: (argmax, argmax_logprob)}`` per position, from the token kernel.

    Consecutive full-length candidates of an ``(N, T, V)`` array go to the
    kernel in one call. The kernel is given plain views (no memmap handle),
    so it does not drop the pages the gathers are about to read.
    """
    out = {}
    for run_of in _contiguous_full(run, chunk):
        block = np.asarray(run.logits[run_of[0] : run_of[-1] + 1])
        targets = np.stack([_targets(run, i) for i in run_of])
        try:
            stats = token_stats(block, targets, workers=workers)
        except SeqScoreError:
            stats = None  # named precisely below, candidate by candidate
        for j, i in enumerate(run_of):
            out[i] = (
                _one(run, i, workers)
                if stats is None
                else (stats.argmax[j], stats.argmax_logprob[j])
            )
    for i in chunk:
        if i not in out:
            out[i] = _one(run, i, workers)
    return out


def _one(run: PipelineRun, i: int, workers):
    try:
        stats = token_stats(np.asarray(run.rows(i)), _targets(run, i), workers=workers)
    except SeqScoreError as exc:
        raise type(exc)(f"{run.label(i)}: {exc} (logits[position, token])") from None
    return stats.argmax, stats.argmax_logprob


def _contiguous_full(run: PipelineRun, chunk: list[int]):
    """Runs of consecutive indices whose sequences fill the whole array."""
    if not (isinstance(run.logits, np.ndarray) and run.logits.ndim == 3):
        return []
    width = run.logits.shape[1]
    full = sorted(i for i in chunk if run.lengths[i] == width)
    runs = []
    for _, items in itertools.groupby(enumerate(full), lambda pair: pair[1] - pair[0]):
        indices = [i for _, i in items]
        if len(indices) > 1:
            runs.append(indices)
    return runs


# ----------------------------------------------------------------- gathers


def _gather_candidate(run: PipelineRun, i: int, stats, table: dict, probe) -> None:
    """One fancy-index read of the logits this candidate's hypotheses need."""
    argmax, top = stats
    length = int(run.lengths[i])
    ids = run.input_ids[i, :length]
    p = np.arange(length)
    parts = [
        (p, argmax),  # peak logit: gives the normaliser
        (p[:-1], ids[1:]),  # next token
        (p, ids),  # same token (off by one, late)
        (p[:-2], ids[2:]),  # after-next token (off by one, early)
    ]
    if probe.eos_id is not None:
        parts.append((p[-1:], np.array([probe.eos_id])))
    rows = np.asarray(run.rows(i))
    values = rows[
        np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts])
    ].astype(np.float64)
    pieces = np.split(values, np.cumsum([len(a) for a, _ in parts])[:-1])
    lse = pieces[0] - top
    table["lse"][i, :length] = lse
    table["top_logprob"][i, :length] = top
    table["next_logit"][i, : length - 1] = pieces[1]
    table["own_logit"][i, :length] = pieces[2]
    table["skip_logit"][i, : length - 2] = pieces[3]
    table["time_lse"][i, : length - 1] = _over_time_lse(rows, ids)
    if probe.eos_id is not None:
        table["eos_ids"][i, 0] = probe.eos_id
        table["eos_logprobs"][i, 0] = pieces[4][0] - lse[-1]
    else:
        _nearest_eos(run, i, rows[length - 1], lse, table, probe)


def _over_time_lse(rows, ids) -> np.ndarray:
    """For each next token ``x_{j+1}``, the log-sum-exp of its logit over
    every position (softmax over time): an ``L x (L - 1)`` gather, taken a
    block of tokens at a time so that a 16k-token candidate needs megabytes,
    not gigabytes."""
    length = len(ids)
    targets = ids[1:]
    out = np.empty(length - 1)
    block = max(1, _OVER_TIME_BLOCK // length)
    for lo in range(0, length - 1, block):
        values = rows[:length, targets[lo : lo + block]].astype(np.float64)
        out[lo : lo + block] = logsumexp(values, axis=0)
    return out


def _nearest_eos(run, i, last_row, lse, table, probe) -> None:
    """The ids whose log-prob at the last position best explains ``reported``."""
    c, length = int(run.n_context[i]), int(run.lengths[i])
    window, _ = run.window(i)
    correct = float(np.sum(table["next_logit"][i, window] - lse[window]))
    reported = probe.reported[i]
    wanted = reported * (length - c + 1) - correct if probe.mean else reported - correct
    if not np.isfinite(wanted):
        return
    logprobs = last_row.astype(np.float64) - lse[-1]
    distance = np.abs(logprobs - wanted)
    k = min(EOS_NEAREST, len(distance))
    nearest = np.argpartition(distance, k - 1)[:k]
    nearest = nearest[np.argsort(distance[nearest], kind="stable")]
    table["eos_ids"][i, :k] = nearest
    table["eos_logprobs"][i, :k] = logprobs[nearest]


def _gather_batch(run: PipelineRun, members: list[int], table: dict) -> None:
    r"""``batch_lse[i, q] = lse_j z^{(j)}_q[x^{(i)}_{q+1}]`` over the prompt's members.

    Candidate ``j`` takes part at position ``q`` only if ``q < L_j`` (the
    batch axis of a padded batch has no real logits past a sequence's end).
    One gather per member ``j`` reads what every candidate needs from it.
    """
    positions, tokens, owner = [], [], []
    for slot, i in enumerate(members):
        window, _ = run.window(i)
        q = np.arange(window.start, window.stop)
        positions.append(q)
        tokens.append(run.input_ids[i, q + 1])
        owner.append(np.full(len(q), slot))
    q_all, tok_all = np.concatenate(positions), np.concatenate(tokens)
    owner_all = np.concatenate(owner)
    values = np.full((len(members), len(q_all)), -np.inf)
    for row, j in enumerate(members):
        inside = q_all < run.lengths[j]
        rows = np.asarray(run.rows(j))
        values[row, inside] = rows[q_all[inside], tok_all[inside]]
    lse = logsumexp(values, axis=0)
    for slot, i in enumerate(members):
        table["batch_lse"][i, positions[slot]] = lse[owner_all == slot]
