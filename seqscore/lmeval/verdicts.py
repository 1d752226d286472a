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
:data:`TIE_TOLERANCE` of the best, or equal to it (its prediction then rests
on the order of the choices); never when the best is NaN.

:func:`judge` works on many documents at once: one numpy array per number
of choices, so that a chunk of a large file costs a few array operations
per metric rather than Python work per document -- and the argmax is
numpy's own, as in lm-eval.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqscore.errors import DataFormatError
from seqscore.lmeval.logged import Document, doc_value, too_deep

__all__ = [
    "METRICS",
    "REDUCTIONS",
    "TIE_TOLERANCE",
    "Judgements",
    "judge",
    "metric_values",
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
#: Columns of :attr:`Judgements.logged` and :attr:`Judgements.derived`:
#: the metrics, then ``exact_match``.
CHECKED = (*METRICS, "exact_match")


@dataclass(frozen=True)
class Judgements:
    """The re-derived facts of a list of documents, one row each.

    ``predicted``, ``correct`` and ``tied`` have a column per entry of
    :data:`METRICS`; ``predicted`` is -1 where the metric cannot be
    computed (``acc_mutual_info`` without unconditional requests).
    ``logged`` and ``derived`` have a column per entry of :data:`CHECKED`:
    what the record logged and what its log-likelihoods give (NaN: not
    logged, or not computable); :attr:`mismatched` compares them.
    ``hashes`` is each document's ``doc_hash + prompt_hash + target_hash``
    (``None`` if one is absent), ``hash_problems`` names each logged hash
    that does not match; ``scores`` (the log-likelihoods) only when asked.
    ``gold_unread`` says why a document's gold choice is not in its line
    (``None``: it is; ``gold_known`` marks those); such a document has
    predictions but no correctness.
    ``partial`` marks the documents whose lines lack some choice's text.
    """

    doc_id: list[str]
    location: list[str]
    filter: list[str]
    doc_hash: list[str | None]
    n_choices: np.ndarray
    gold: list[tuple[int, ...]]
    gold_problem: list[str | None]
    predicted: np.ndarray
    correct: np.ndarray
    tied: np.ndarray
    logged: np.ndarray
    derived: np.ndarray
    hashes: list[str | None]
    hash_problems: list[tuple[str, ...]]
    scores: list[tuple[float, ...]] | None
    gold_unread: list[str | None]
    gold_known: np.ndarray
    partial: np.ndarray

    def __len__(self) -> int:
        return len(self.doc_id)

    @property
    def computable(self) -> np.ndarray:
        """Where each metric could be computed: a prediction, and a gold
        choice to judge it by."""
        return (self.predicted >= 0) & self.gold_known[:, None]

    @property
    def mismatched(self) -> np.ndarray:
        """Where a logged per-document metric does not follow from the scores."""
        with np.errstate(invalid="ignore"):
            return (
                (self.logged != self.derived)
                & ~np.isnan(self.logged)
                & ~np.isnan(self.derived)
            )

    @property
    def disagree(self) -> np.ndarray:
        """Documents whose computable metrics predict different choices."""
        first = self.predicted[:, :1]
        others = np.where(self.computable, self.predicted, first)
        return (others != first).any(axis=1)


def metric_values(document: Document) -> dict[str, list[float] | None]:
    """Each metric's per-choice values (``None``: not computable).

    >>> from seqscore.formats.lmeval import read_document
    >>> record = {"doc_id": 0, "target": "0", "arguments": [["Q:", " ab"],
    ...           ["Q:", " c"]], "filtered_resps": [[-2.0, False], [-1.5, True]]}
    >>> values = metric_values(read_document(record, "f:1"))
    >>> values["acc"], values["acc_norm"], values["acc_mutual_info"]
    ([-2.0, -1.5], [-1.0, -1.5], None)
    """
    arrays = _values([document], len(document.loglikelihoods))
    return {
        metric: None if values is None else values[0].tolist()
        for metric, values in zip(METRICS, arrays, strict=True)
    }


def _values(documents: Sequence[Document], k: int) -> list[np.ndarray | None]:
    """Per metric, the ``(n, k)`` values of documents with ``k`` choices
    (``None`` for a metric no document can give: ``acc_mutual_info``
    without unconditional scores, ``acc_norm`` and ``acc_bytes`` without the
    choices' texts; rows of NaN for the documents that lack them)."""
    n = len(documents)
    chain = itertools.chain.from_iterable
    lls = _matrix(chain(d.loglikelihoods for d in documents), n, k)
    choices = list(chain(d.choices for d in documents))
    if len(choices) == n * k:  # every line holds every choice's text
        lengths = _lengths(choices, n, k)
    else:
        lengths = _partial_lengths(documents, n, k)
    with np.errstate(divide="ignore", invalid="ignore"):  # numpy's x / 0, as lm-eval
        values = [lls, *(None if ls is None else lls / ls for ls in lengths)]
        if all(d.unconditional is None for d in documents):
            return [*values, None]
        unconditional = _matrix(
            chain(d.unconditional or (math.nan,) * k for d in documents), n, k
        )
        return [*values, lls - unconditional]


def _lengths(choices: list[str], n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(n, k)`` lengths of the choices in characters and UTF-8 bytes."""
    chars = _matrix(map(len, choices), n, k)
    if all(map(str.isascii, choices)):
        return chars, chars
    return chars, _matrix((len(c.encode("utf-8")) for c in choices), n, k)


def _partial_lengths(documents, n: int, k: int):
    """:func:`_lengths` where some lines lack choices' texts (their rows
    NaN; ``(None, None)`` when every line does)."""
    whole = np.flatnonzero(_texts_known(documents, k)).tolist()
    if not whole:
        return None, None
    chars, nbytes = np.full((n, k), math.nan), np.full((n, k), math.nan)
    for i in whole:
        chars[i] = [len(c) for c in documents[i].choices]
        nbytes[i] = [len(c.encode("utf-8")) for c in documents[i].choices]
    return chars, nbytes


def _texts_known(documents: Sequence[Document], k: int) -> np.ndarray:
    """Which documents' lines hold every choice's text."""
    return np.fromiter(
        (len(d.choices) == k for d in documents), bool, count=len(documents)
    )


def _matrix(values, n: int, k: int) -> np.ndarray:
    return np.fromiter(values, dtype=np.float64, count=n * k).reshape(n, k)


def _ties(values: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Rows where another value is within the tolerance of the chosen one."""
    if values.shape[1] < 2:
        return np.zeros(len(values), dtype=bool)
    ordered = np.sort(values, axis=1)  # NaN sorts last
    top, second = ordered[:, -1], ordered[:, -2]
    with np.errstate(invalid="ignore"):  # inf - inf
        close = (second == top) | (top - second <= TIE_TOLERANCE)
    return close & ~np.isnan(top)


def judge(
    documents: Sequence[Document],
    *,
    check_doc_hash: bool = False,
    keep_scores: bool = False,
) -> Judgements:
    """Re-derive the documents' metrics and check what they logged.

    ``check_doc_hash`` also recomputes ``doc_hash`` from ``doc`` (lm-eval's
    SHA-256 of ``json.dumps(doc, indent=2, ensure_ascii=False)``): the
    costliest check, so off by default. The prompt and target hashes are
    always checked.

    >>> from seqscore.formats.lmeval import read_document
    >>> record = {"doc_id": 0, "target": 1, "arguments": [["Q:", " ab"],
    ...           ["Q:", " c"]], "filtered_resps": [[-2.0, False], [-1.5, True]],
    ...           "acc": 1.0, "acc_norm": 1.0}
    >>> j = judge([read_document(record, "f:1")])
    >>> j.predicted.tolist(), j.correct.tolist()  # acc, acc_norm, acc_bytes, pmi
    ([[1, 0, 0, -1]], [[True, False, False, False]])
    >>> j.mismatched[0].tolist()  # the logged acc_norm = 1 is wrong
    [False, True, False, False, False]
    """
    n_choices = np.fromiter(
        (len(d.loglikelihoods) for d in documents), np.int64, count=len(documents)
    )
    partial = _texts(documents) != n_choices
    predicted, tied = _predictions(documents, n_choices, ~partial)
    gold = [d.gold for d in documents]
    correct = _correct(predicted, gold)
    logged = _logged(documents)
    unread = [d.gold_unread for d in documents]
    gold_known = np.fromiter((u is None for u in unread), bool, len(documents))
    return Judgements(
        doc_id=[d.doc_id for d in documents],
        location=[d.location for d in documents],
        filter=[d.filter for d in documents],
        doc_hash=[d.doc_hash for d in documents],
        n_choices=n_choices,
        gold=gold,
        gold_problem=[d.gold_problem for d in documents],
        predicted=predicted,
        correct=correct,
        tied=tied,
        logged=logged,
        derived=_derived(documents, gold_known, predicted, correct, logged, tied),
        hashes=_joined_hashes(documents),
        hash_problems=_all_hash_problems(documents, check_doc_hash),
        scores=[d.loglikelihoods for d in documents] if keep_scores else None,
        gold_unread=unread,
        gold_known=gold_known,
        partial=partial,
    )


def _texts(documents: Sequence[Document]) -> np.ndarray:
    """How many choices' texts each document's line holds."""
    return np.fromiter((len(d.choices) for d in documents), np.int64, len(documents))


def _predictions(
    documents: Sequence[Document], n_choices: np.ndarray, texts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(predicted, tied)``: per document and metric, the argmax (-1: not
    computable) and whether it is tied; one group of arrays per number of
    choices. ``texts`` marks the documents whose lines hold every choice's
    text (the others get no ``acc_norm`` or ``acc_bytes``)."""
    n = len(documents)
    predicted = np.full((n, len(METRICS)), -1, dtype=np.int64)
    tied = np.zeros((n, len(METRICS)), dtype=bool)
    for k in np.unique(n_choices).tolist():
        rows = np.flatnonzero(n_choices == k)
        group = [documents[i] for i in rows.tolist()] if len(rows) < n else documents
        _predict_group(group, k, rows, texts[rows], predicted, tied)
    return predicted, tied


def _predict_group(group, k: int, rows, texts, predicted, tied) -> None:
    """Fill the ``rows`` of ``predicted`` and ``tied`` for ``group``, the
    documents with ``k`` choices (``texts``: whose lines hold their texts)."""
    for m, values in enumerate(_values(group, k)):
        if values is None:
            continue
        if METRICS[m] == "acc":
            known = np.ones(len(group), dtype=bool)
        elif METRICS[m] == "acc_mutual_info":
            known = np.array([d.unconditional is not None for d in group])
        else:  # acc_norm, acc_bytes: the lengths of the choices' texts
            known = texts
        best = np.argmax(values, axis=1)
        predicted[rows[known], m] = best[known]
        tied[rows[known], m] = _ties(values, best)[known]


def _logged(documents: Sequence[Document]) -> np.ndarray:
    """What each document logged of :data:`CHECKED` (NaN: not logged)."""
    return _matrix(
        (d.logged.get(name, math.nan) for d in documents for name in CHECKED),
        len(documents),
        len(CHECKED),
    )


def _derived(documents, gold_known, predicted, correct, logged, tied) -> np.ndarray:
    """What the log-likelihoods give of :data:`CHECKED` (NaN: not
    computable; ``exact_match`` only where it was logged). Where a line does
    not tell the gold, ``acc`` only where its target tells whether the
    first choice is gold (:func:`_acc_by_first`)."""
    derived = np.full((len(documents), len(CHECKED)), math.nan)
    derived[:, : len(METRICS)] = np.where(predicted >= 0, correct, math.nan)
    for i in np.flatnonzero(~gold_known).tolist():
        derived[i] = math.nan
        derived[i, 0] = _acc_by_first(documents[i], predicted[i, 0], tied[i, 0])
    for i in np.flatnonzero(~np.isnan(logged[:, -1])).tolist():
        d = documents[i]
        if gold_known[i]:
            derived[i, -1] = float(any(d.is_greedy[g] for g in d.gold))
    return derived


def _acc_by_first(document: Document, best: int, tied: bool) -> float:
    """``acc`` of a document whose gold is not in its line, as far as the
    logged ``acc`` can be checked against the argmax: when the target says
    whether the first choice (the only one such a line names) is gold, the
    argmax being the first choice is right exactly when it is, and another
    is wrong when it is (NaN otherwise, or when the argmax is tied: a
    choice of the same text may be the gold)."""
    first = document.first_is_gold
    if first is None or tied:
        return math.nan
    if best == 0:
        return float(first)
    return 0.0 if first else math.nan


def _joined_hashes(documents: Sequence[Document]) -> list[str | None]:
    """``doc_hash + prompt_hash + target_hash`` (None if one is absent)."""
    return [
        None
        if d.doc_hash is None or d.prompt_hash is None or d.target_hash is None
        else d.doc_hash + d.prompt_hash + d.target_hash
        for d in documents
    ]


def _correct(predicted: np.ndarray, gold: list[tuple[int, ...]]) -> np.ndarray:
    """Whether each prediction is a gold choice (-1, not computable: False)."""
    single = np.fromiter(
        (g[0] if len(g) == 1 else -2 for g in gold), np.int64, count=len(gold)
    )
    correct = predicted == single[:, None]
    for i, g in enumerate(gold):
        if len(g) > 1:  # several right answers: any of them
            correct[i] = np.isin(predicted[i], g)
    return correct & (predicted >= 0)


def _all_hash_problems(documents, check_doc_hash: bool) -> list[tuple[str, ...]]:
    """:func:`_hash_problems` of each document; the usual case (every hash
    right, doc hashes unchecked) in two comprehensions."""
    if not check_doc_hash:
        prompts = [
            d.prompt_hash is None or d.prompt_hash == _sha256(d.context)
            for d in documents
        ]
        targets = [
            d.target_hash is None or d.target_hash == _sha256(d.target)
            for d in documents
        ]
        if all(prompts) and all(targets):
            return [()] * len(documents)
    return [_hash_problems(d, check_doc_hash) for d in documents]


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
        elif document.doc_hash != _sha256(_doc_text(document)):
            problems.append("doc_hash is not the SHA-256 of the doc")
    return tuple(problems)


def _doc_text(document: Document) -> str:
    """The text lm-eval hashes: ``json.dumps(doc, indent=2, ensure_ascii=False)``."""
    try:
        return json.dumps(doc_value(document), indent=2, ensure_ascii=False)
    except RecursionError:
        raise DataFormatError(too_deep(document)) from None
