r"""One lm-eval document re-derived: predictions, correctness, ties, checks.

lm-eval's ``process_results`` for multiple choice, with :math:`\ell_i` the
logged log-likelihood of choice :math:`i`, :math:`C_i` and :math:`B_i` its
length in characters and UTF-8 bytes (without the target delimiter) and
:math:`u_i` its unconditional log-likelihood:

=================== ================================ ======================
metric              prediction                       seqscore reduction
=================== ================================ ======================
``acc``             :math:`\arg\max_i \ell_i`        ``sum``
``acc_norm``        :math:`\arg\max_i \ell_i / C_i`  ``char``
``acc_bytes``       :math:`\arg\max_i \ell_i / B_i`  ``byte``
``acc_mutual_info`` :math:`\arg\max_i \ell_i - u_i`  ``pmi``
=================== ================================ ======================

The metric is 1 when the prediction is a gold choice, else 0. The argmax is
numpy's: the first of equal maxima, and the first NaN if there is one (NaN
comes from :math:`0/0` for an empty choice of log-likelihood 0, or from
:math:`-\infty - (-\infty)`); :math:`\ell / 0` is :math:`-\infty` for
:math:`\ell < 0`, as numpy divides. ``exact_match`` is whether a gold
choice's continuation was greedy.

A document is *tied* under a metric when another choice's value is within
:data:`TIE_TOLERANCE` of the best (its prediction then rests on the order
of the choices).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import NamedTuple

from ..formats.lmeval import Document

__all__ = [
    "METRICS",
    "REDUCTIONS",
    "TIE_TOLERANCE",
    "Verdict",
    "first_argmax",
    "metric_values",
    "verdict",
]

#: The accuracy metrics seqscore re-derives, in report order.
METRICS = ("acc", "acc_norm", "acc_bytes", "acc_mutual_info")
#: The seqscore reduction behind each metric.
REDUCTIONS = {
    "acc": "sum",
    "acc_norm": "char",
    "acc_bytes": "byte",
    "acc_mutual_info": "pmi",
}
#: Choices whose values differ by at most this much (nats, or nats per
#: character or byte) are tied.
TIE_TOLERANCE = 1e-9


class Verdict(NamedTuple):
    """The re-derived facts of one document (a tuple: one is pickled per
    document between processes, and tuples pickle several times faster).

    Per entry of :data:`METRICS`: ``predicted`` (the chosen index),
    ``correct`` and ``tied``, ``None`` where the metric cannot be computed
    (``acc_mutual_info`` without unconditional requests). ``mismatches``
    lists ``(metric, logged, derived)`` where the logged per-document metric
    does not follow from the log-likelihoods; ``logged`` holds the logged
    value per metric (``None``: not logged). ``hashes`` is the document's
    ``doc_hash + prompt_hash + target_hash`` (``None`` if one is absent);
    ``hash_problems`` names each logged hash that does not match.
    ``scores`` (the log-likelihoods) is kept only when asked for.
    """

    doc_id: str
    location: str
    filter: str
    n_choices: int
    gold: tuple[int, ...]
    predicted: tuple[int | None, ...]
    correct: tuple[bool | None, ...]
    tied: tuple[bool | None, ...]
    mismatches: tuple[tuple[str, float, float], ...]
    logged: tuple[float | None, ...]
    gold_problem: str | None
    hashes: str | None
    doc_hash: str | None
    hash_problems: tuple[str, ...]
    scores: tuple[float, ...] | None


def metric_values(document: Document) -> dict[str, list[float] | None]:
    """Each metric's per-choice values (``None``: not computable).

    >>> from seqscore.formats.lmeval import read_document
    >>> record = {"doc_id": 0, "target": "0", "arguments": [["Q:", " ab"],
    ...           ["Q:", " c"]], "filtered_resps": [[-2.0, False], [-1.5, True]]}
    >>> values = metric_values(read_document(record, "f:1"))
    >>> values["acc"], values["acc_norm"], values["acc_mutual_info"]
    ([-2.0, -1.5], [-1.0, -1.5], None)
    """
    lls = document.loglikelihoods
    chars = [len(c) for c in document.choices]
    nbytes = [len(c.encode("utf-8")) for c in document.choices]
    unconditional = document.unconditional
    return {
        "acc": list(lls),
        "acc_norm": [_divide(ll, n) for ll, n in zip(lls, chars, strict=True)],
        "acc_bytes": [_divide(ll, n) for ll, n in zip(lls, nbytes, strict=True)],
        "acc_mutual_info": (
            None
            if unconditional is None
            else [c - u for c, u in zip(lls, unconditional, strict=True)]
        ),
    }


def _divide(ll: float, n: int) -> float:
    """``ll / n`` as numpy divides float64: ``ll / 0`` is -inf, or NaN for 0."""
    if n:
        return ll / n
    return -math.inf if ll < 0 else math.nan


def first_argmax(values: list[float]) -> int:
    """numpy's argmax: the first NaN, else the first of equal maxima.

    >>> first_argmax([1.0, 3.0, 3.0]), first_argmax([1.0, float("nan"), 5.0])
    (1, 1)
    """
    for i, value in enumerate(values):
        if value != value:  # NaN
            return i
    return values.index(max(values))


def _tied(values: list[float], best: int) -> bool:
    top = values[best]
    if top != top:
        return False  # a NaN wins by position, not by value
    return any(
        i != best and (v == top or top - v <= TIE_TOLERANCE)
        for i, v in enumerate(values)
    )


def verdict(
    document: Document, *, check_doc_hash: bool = False, keep_scores: bool = False
) -> Verdict:
    """Re-derive one document's metrics and check what it logged.

    ``check_doc_hash`` also recomputes ``doc_hash`` from ``doc`` (lm-eval's
    SHA-256 of ``json.dumps(doc, indent=2, ensure_ascii=False)``): the
    costliest check, so off by default. The prompt and target hashes are
    always checked.
    """
    gold = document.gold
    predicted, correct, tied = [], [], []
    for values in metric_values(document).values():
        if values is None:
            predicted.append(None)
            correct.append(None)
            tied.append(None)
            continue
        best = first_argmax(values)
        predicted.append(best)
        correct.append(best in gold)
        tied.append(_tied(values, best))
    logged = document.logged
    mismatches = tuple(
        (name, logged[name], float(ok))
        for name, ok in zip(METRICS, correct, strict=True)
        if ok is not None and name in logged and logged[name] != float(ok)
    )
    if "exact_match" in logged:
        greedy = float(any(document.is_greedy[i] for i in gold))
        if logged["exact_match"] != greedy:
            mismatches += (("exact_match", logged["exact_match"], greedy),)
    return Verdict(
        doc_id=document.doc_id,
        location=document.location,
        filter=document.filter,
        n_choices=len(document.choices),
        gold=gold,
        predicted=tuple(predicted),
        correct=tuple(correct),
        tied=tuple(tied),
        mismatches=mismatches,
        logged=tuple(logged.get(name) for name in METRICS),
        gold_problem=document.gold_problem,
        hashes=_hashes(document),
        doc_hash=document.doc_hash,
        hash_problems=_hash_problems(document, check_doc_hash),
        scores=document.loglikelihoods if keep_scores else None,
    )


def _hashes(document: Document) -> str | None:
    parts = (document.doc_hash, document.prompt_hash, document.target_hash)
    return None if None in parts else "".join(parts)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _hash_problems(document: Document, check_doc_hash: bool) -> tuple[str, ...]:
    """Each logged hash that is not lm-eval's hash of what the record holds."""
    problems = []
    if document.prompt_hash is not None and document.prompt_hash != _sha256(
        document.context
    ):
        problems.append("prompt_hash is not the SHA-256 of the first context")
    if document.target_hash is not None and document.target_hash != _sha256(
        document.target
    ):
        problems.append("target_hash is not the SHA-256 of the target")
    if check_doc_hash and document.doc_hash is not None:
        if document.doc is None:
            problems.append("doc_hash cannot be checked: the record has no doc")
        elif document.doc_hash != _sha256(
            json.dumps(document.doc, indent=2, ensure_ascii=False)
        ):
            problems.append("doc_hash is not the SHA-256 of the doc")
    return tuple(problems)
