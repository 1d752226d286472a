r"""Metamorphic laws every correct sequence scorer obeys.

Each law is a property of the scorer's outputs under a transformation of its
inputs, checked on examples drawn by hypothesis. Scores are compared with a
tolerance for float arithmetic: candidate ``b`` may be off by

.. math::

    \tau_b = 10^{-9} + 16\, u\, \sum_t \bigl(|z_t| + |\mathrm{lse}_t| +
             |\ell_t| + \log_2 V + 2\bigr),

where :math:`u` is the unit roundoff of float32 (or of the logits' dtype,
if coarser) -- room for a scorer that computes in float32, none for one that
sums raw logits, drops a token or underflows. Two scores are equal when both
are finite and within the summed tolerances, or when they are the same
infinity.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from hypothesis import strategies as st

from seqscore.testing.batch import CandidateBatch, SequenceCase
from seqscore.testing.strategies import (
    candidate_batches,
    finite_floats,
    logits,
    sequence_cases,
)

__all__ = ["LAWS", "Law", "Options", "Violation"]


@dataclass(frozen=True)
class Options:
    """The layout and the size of the examples the laws draw."""

    layout: str = "aligned"
    dtypes: tuple = (np.float32, np.float64)
    max_candidates: int = 4
    max_tokens: int = 5
    max_vocab: int = 8
    magnitude: float = 1e2

    def batches(self, **overrides: Any) -> st.SearchStrategy[CandidateBatch]:
        """Batches of this size; ``overrides`` are more of
        :func:`~seqscore.testing.strategies.candidate_batches`' arguments."""
        settings: dict[str, Any] = {
            "max_candidates": self.max_candidates,
            "max_tokens": self.max_tokens,
            "max_vocab": self.max_vocab,
            "dtypes": self.dtypes,
            "magnitude": self.magnitude,
        }
        settings.update(overrides)
        return candidate_batches(**settings)


@dataclass(frozen=True)
class Violation:
    """A minimal example on which a law fails, with expected and actual scores.

    ``relation`` is ``"=="`` or ``"<="`` (the law wants ``actual relation
    expected``); ``error`` is set when the scorer raised or returned the wrong
    shape instead of scores.
    """

    law: str
    candidate: int
    expected: float
    actual: float | None
    relation: str
    error: str | None
    example: str
    change: str

    def describe(self) -> str:
        """The minimal failing example, the change the law made, and the
        expected and actual scores (or what the scorer did instead of
        scoring), as text."""
        lines = ["minimal failing example: " + self.example.replace("\n", "\n  ")]
        if self.change:
            lines.append(f"change: {self.change}")
        if self.error:
            lines.append(f"the scorer {self.error}")
        else:
            want = "expected" if self.relation == "==" else "expected at most"
            lines.append(
                f"candidate {self.candidate}: {want} {self.expected!r}, "
                f"got {self.actual!r}"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class Law:
    """A named law: how to draw its examples and how to check one."""

    name: str
    statement: str
    examples: Callable[[Options], st.SearchStrategy]
    check: Callable[[Callable, Options, object], Violation | None]


# ----------------------------------------------------------------- helpers


def _scores(scorer, options: Options, batch: CandidateBatch, **padding):
    """The scorer's float64 scores, or a string saying what went wrong."""
    arguments = batch.arrays(options.layout, **padding)
    try:
        # what the scorer prints goes to stderr: stdout carries the report
        with (
            contextlib.redirect_stdout(sys.stderr),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            out = scorer(*arguments)
        _show_once(caught)
        if out is None:
            return "returned None, expected an array of scores"
        scores = np.asarray(out)
        if scores.dtype.kind not in "iuf":  # complex, strings, objects...
            return f"returned {scores.dtype} scores, expected real numbers"
        scores = scores.astype(np.float64)
    except Exception as exc:  # the user's code may raise anything
        return f"raised {type(exc).__name__}: {exc}"
    except SystemExit as exc:  # ... or try to end the process: report it
        return f"called sys.exit({exc.code!r})"
    if scores.shape != (len(batch),):
        return f"returned shape {scores.shape}, expected ({len(batch)},)"
    if np.isnan(scores).any():  # no law can compare a NaN ("expected nan, got nan")
        return f"returned NaN for candidate {int(np.flatnonzero(np.isnan(scores))[0])}"
    return scores


_SHOWN_WARNINGS: set = set()


def _show_once(caught) -> None:
    """Show each distinct warning of the scorer once per process: it runs
    hundreds of times, and would repeat the same one hundreds of times."""
    for w in caught:
        key = (str(w.message), w.category, w.filename, w.lineno)
        if key not in _SHOWN_WARNINGS:
            _SHOWN_WARNINGS.add(key)
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _tolerance(case: SequenceCase) -> float:
    unit = max(2.0**-24, float(np.finfo(case.logits.dtype).eps) / 2)
    return 1e-9 + 16 * unit * case.magnitude()


def _equal(actual: float, expected: float, tolerance: float) -> bool:
    if np.isfinite(actual) and np.isfinite(expected):
        return abs(actual - expected) <= tolerance
    return bool(actual == expected)


def _failure(law, options, batch, change, candidate=0, expected=np.nan, actual=None):
    error = actual if isinstance(actual, str) else None
    return Violation(
        law=law,
        candidate=candidate,
        expected=float(expected),
        actual=None if error else float(actual),
        relation="<=" if law == "extension_never_raises" else "==",
        error=error,
        example=batch.describe(options.layout),
        change=change,
    )


def _compare(law, options, batch, change, before, after, cases_before, cases_after):
    """The first candidate whose score moved: ``after`` should equal ``before``."""
    for name, value in (("before", before), ("after", after)):
        if isinstance(value, str):
            return _failure(law, options, batch, f"{change} ({name})", actual=value)
    for b, (x, y) in enumerate(zip(before, after, strict=True)):
        tolerance = _tolerance(cases_before[b]) + _tolerance(cases_after[b])
        if not _equal(y, x, tolerance):
            return _failure(law, options, batch, change, b, x, y)
    return None


# -------------------------------------------------------------------- laws


def _check_sum(scorer, options, batch):
    got = _scores(scorer, options, batch)
    if isinstance(got, str):
        return _failure("sum_of_conditionals", options, batch, "", actual=got)
    for b, (case, value) in enumerate(zip(batch.cases, got, strict=True)):
        if not _equal(value, case.reference(), _tolerance(case)):
            return _failure(
                "sum_of_conditionals", options, batch, "", b, case.reference(), value
            )
    return None


@st.composite
def _shift_examples(draw, options: Options):
    batch = draw(options.batches())
    b = draw(st.integers(0, len(batch) - 1))
    step = draw(st.integers(0, len(batch.cases[b].token_ids) - 1))
    constant = draw(finite_floats(np.float64, 10 * options.magnitude))
    return batch, b, step, constant


def _check_shift(scorer, options, example):
    batch, b, step, constant = example
    moved = batch.with_case(b, batch.cases[b].shifted(step, constant))
    change = f"added {constant!r} to every logit of step {step} of candidate {b}"
    return _compare(
        "shift_invariance",
        options,
        batch,
        change,
        _scores(scorer, options, batch),
        _scores(scorer, options, moved),
        batch.cases,
        moved.cases,
    )


@st.composite
def _extension_examples(draw, options: Options):
    batch = draw(options.batches())
    b = draw(st.integers(0, len(batch) - 1))
    token = draw(st.integers(0, batch.vocab - 1))
    row = draw(logits((batch.vocab,), batch.dtype, options.magnitude, masked=True))
    return batch, b, token, row


def _check_extension(scorer, options, example):
    batch, b, token, row = example
    longer = batch.with_case(b, batch.cases[b].extended(token, row))
    change = f"candidate {b} extended by token {token} (scored by its final logits row)"
    before, after = _scores(scorer, options, batch), _scores(scorer, options, longer)
    for name, value in (("before", before), ("after", after)):
        if isinstance(value, str):
            return _failure(
                "extension_never_raises",
                options,
                batch,
                f"{change} ({name})",
                b,
                actual=value,
            )
    slack = _tolerance(batch.cases[b]) + _tolerance(longer.cases[b])
    if not after[b] <= before[b] + slack:  # NaN fails too
        return _failure(
            "extension_never_raises", options, batch, change, b, before[b], after[b]
        )
    return None


@st.composite
def _relabel_examples(draw, options: Options):
    batch = draw(options.batches())
    permutation = draw(st.permutations(range(batch.vocab)))
    return batch, np.array(permutation, np.int64)


def _check_relabel(scorer, options, example):
    batch, permutation = example
    renamed = CandidateBatch(tuple(c.relabelled(permutation) for c in batch.cases))
    change = f"token k renamed permutation[k], permutation={permutation.tolist()}"
    return _compare(
        "vocabulary_relabelling",
        options,
        batch,
        change,
        _scores(scorer, options, batch),
        _scores(scorer, options, renamed),
        batch.cases,
        renamed.cases,
    )


@st.composite
def _others_examples(draw, options: Options):
    batch = draw(options.batches(min_candidates=2))
    case = sequence_cases(
        batch.vocab, batch.dtype, options.max_tokens, magnitude=options.magnitude
    )
    others = tuple(draw(case) for _ in range(len(batch) - 1))
    return batch, CandidateBatch((batch.cases[0], *others))


def _check_others(scorer, options, example):
    batch, swapped = example
    width = max(
        batch.natural_width(options.layout), swapped.natural_width(options.layout)
    )
    before = _scores(scorer, options, batch, width=width)
    after = _scores(scorer, options, swapped, width=width)
    if not isinstance(before, str) and not isinstance(after, str):
        before, after = before[:1], after[:1]
    change = "the other candidates replaced by: " + swapped.describe(options.layout)
    return _compare(
        "other_candidates",
        options,
        batch,
        change,
        before,
        after,
        batch.cases,
        swapped.cases,
    )


@st.composite
def _padding_examples(draw, options: Options):
    batch = draw(options.batches())
    extra = draw(st.integers(1, 3))
    value = draw(finite_floats(batch.dtype, options.magnitude))
    pad_id = draw(st.integers(0, batch.vocab - 1))
    return batch, extra, (value, pad_id)


def _check_padding(scorer, options, example):
    batch, extra, pad = example
    width = batch.natural_width(options.layout) + extra
    change = (
        f"padded to width {width} with logit {pad[0]!r} and token id {pad[1]} "
        "(instead of the narrowest width, padded with 0)"
    )
    return _compare(
        "padding",
        options,
        batch,
        change,
        _scores(scorer, options, batch),
        _scores(scorer, options, batch, width=width, pad=pad),
        batch.cases,
        batch.cases,
    )


@st.composite
def _order_examples(draw, options: Options):
    batch = draw(options.batches(min_candidates=2))
    order = draw(st.permutations(range(len(batch))))
    return batch, np.array(order, np.int64)


def _check_order(scorer, options, example):
    batch, order = example
    shuffled = CandidateBatch(tuple(batch.cases[i] for i in order))
    before = _scores(scorer, options, batch)
    if not isinstance(before, str):
        before = before[order]
    change = f"batch reordered to candidates {order.tolist()}"
    return _compare(
        "batch_order",
        options,
        batch,
        change,
        before,
        _scores(scorer, options, shuffled),
        shuffled.cases,
        shuffled.cases,
    )


def _large_examples(options: Options):
    return options.batches(dtypes=(np.float32,), magnitude=1e4, masked=False)


def _check_large(scorer, options, batch):
    violation = _check_sum(scorer, options, batch)
    return None if violation is None else _renamed(violation, "large_logits_float32")


def _masked_examples(options: Options):
    return options.batches(masked="always")


def _check_masked(scorer, options, batch):
    violation = _check_sum(scorer, options, batch)
    return None if violation is None else _renamed(violation, "masked_entries")


def _renamed(violation: Violation, law: str) -> Violation:
    return replace(violation, law=law)


LAWS = (
    Law(
        "sum_of_conditionals",
        "the score equals the sum of the per-step log-softmax conditionals of the "
        "candidate's tokens",
        lambda options: options.batches(),
        _check_sum,
    ),
    Law(
        "shift_invariance",
        "adding a constant to every logit of one step changes nothing",
        _shift_examples,
        _check_shift,
    ),
    Law(
        "extension_never_raises",
        "extending a candidate by one token never raises its score",
        _extension_examples,
        _check_extension,
    ),
    Law(
        "vocabulary_relabelling",
        "relabelling the vocabulary (logits and token ids together) changes nothing",
        _relabel_examples,
        _check_relabel,
    ),
    Law(
        "other_candidates",
        "a candidate's score does not depend on the other candidates in the batch",
        _others_examples,
        _check_others,
    ),
    Law(
        "padding",
        "a candidate's score does not depend on the padding (its width or content)",
        _padding_examples,
        _check_padding,
    ),
    Law(
        "batch_order",
        "reordering the batch reorders the scores and changes nothing else",
        _order_examples,
        _check_order,
    ),
    Law(
        "large_logits_float32",
        "float32 logits of magnitude up to 1e4 give finite, correct scores",
        _large_examples,
        _check_large,
    ),
    Law(
        "masked_entries",
        "masked (-inf) logits of tokens other than the targets are handled: the "
        "score stays finite and correct",
        _masked_examples,
        _check_masked,
    ),
)
