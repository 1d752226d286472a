r"""Rolling perplexity of long documents.

A document's ids (``model.encode(text)``, special tokens as the tokenizer
adds them, as lm-eval's ``tok_encode``) are cut into windows by
:func:`seqscore.models.requests.rolling_requests`: every token is scored exactly
once, each window conditioned on the tokens before it, as many as fit the
window. The document's log-likelihood is the sum over all its tokens,

.. math:: \log P(\text{doc}) = \sum_{t=1}^{N} \log p(x_t \mid \text{window}_t),

and from it, as lm-evaluation-harness reports them (``loglikelihood_rolling``
tasks such as wikitext): token perplexity :math:`\exp(-\log P / N)`, word
perplexity :math:`\exp(-\log P / W)` with :math:`W` = ``len(re.split(r"\s+",
text))`` (lm-eval's ``count_words``), byte perplexity :math:`\exp(-\log P /
B)` with :math:`B` the UTF-8 bytes, and bits per byte :math:`-\log P / (B
\ln 2)`. Over a corpus lm-eval weighs them by the counts (sum the
log-likelihoods, sum the counts): :func:`corpus_perplexity`.

With ``stride == window`` (the default) the windows are lm-eval's; with a
smaller ``stride`` every token after the first window sees at least
``window - stride + 1`` tokens of context (Hugging Face's "strided"
perplexity, which gives each window one context token fewer and leaves the
document's first token unscored, so its token count is one lower).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from seqscore.errors import InvalidInputError
from seqscore.models.loglikelihood import Progress, request_token_scores
from seqscore.models.requests import rolling_requests
from seqscore.numerics.reductions import bits_per_byte, perplexity
from seqscore.numerics.totals import sequence_logprob

__all__ = [
    "DocumentPerplexity",
    "corpus_perplexity",
    "document_perplexity",
    "rolling_perplexity",
]


@dataclass(frozen=True)
class DocumentPerplexity:
    """The log-likelihood of one document and the perplexities it gives."""

    id: str
    loglikelihood: float
    n_tokens: int
    n_words: int
    n_bytes: int
    windows: int
    token_perplexity: float
    word_perplexity: float
    byte_perplexity: float
    bits_per_byte: float


def document_perplexity(
    name: str, loglikelihood: float, n_tokens: int, text_or_counts, windows: int = 1
) -> DocumentPerplexity:
    """A :class:`DocumentPerplexity` from a log-likelihood and the text (or
    ``(words, bytes)`` counts).

    >>> d = document_perplexity("d", -8 * np.log(2), 4, "ab cd")
    >>> d.n_words, d.n_bytes, d.token_perplexity, round(d.bits_per_byte, 12)
    (2, 5, 4.0, 1.6)
    """
    if isinstance(text_or_counts, str):
        words = len(re.split(r"\s+", text_or_counts))
        size = len(text_or_counts.encode("utf-8"))
    else:
        words, size = text_or_counts
    loglikelihood = float(loglikelihood)
    return DocumentPerplexity(
        id=name,
        loglikelihood=loglikelihood,
        n_tokens=n_tokens,
        n_words=words,
        n_bytes=size,
        windows=windows,
        token_perplexity=perplexity(loglikelihood, n_tokens),
        word_perplexity=perplexity(loglikelihood, words),
        byte_perplexity=perplexity(loglikelihood, size),
        bits_per_byte=bits_per_byte(loglikelihood, size),
    )


def rolling_perplexity(
    model,
    documents: Iterable[tuple[str, str]],
    *,
    window: int | None = None,
    stride: int | None = None,
    on_progress: Progress | None = None,
) -> list[DocumentPerplexity]:
    """The rolling log-likelihood and perplexities of each ``(id, text)``.

    ``window`` defaults to the model's length (``model.max_length``; for
    models without one, the whole document is one window) and may not exceed
    it; ``stride`` defaults to ``window``.

    >>> from seqscore.models.tree import textbook_tree
    >>> (d,) = rolling_perplexity(textbook_tree(), [("doc", "B C <eos>")], window=2)
    >>> round(float(np.exp(d.loglikelihood)), 4), d.n_tokens, d.windows  # 0.4 x 0.9 x 1
    (0.36, 3, 2)
    """
    documents = list(documents)
    if hasattr(model, "document_logprobs"):  # a served model: whole documents
        return _whole_documents(model, documents, window, stride, on_progress)
    limit = getattr(model, "max_length", None)
    if window is not None and limit is not None and window > limit:
        raise InvalidInputError(
            f"window ({window}) exceeds the model's {limit} positions"
        )
    start = getattr(model, "prefix_id", None)
    requests, owners, ids_per_doc = [], [], []
    for index, (name, text) in enumerate(documents):
        ids = model.encode(text)
        if not ids:
            raise InvalidInputError(f"document {name!r} encodes to no tokens")
        size = window or limit or len(ids)
        windows = rolling_requests(ids, size, stride, start)
        requests.extend(windows)
        owners.extend([index] * len(windows))
        ids_per_doc.append(len(ids))
    labels = [f"document {documents[i][0]!r}" for i in owners]
    scores = request_token_scores(
        model, requests, labels=labels, on_progress=on_progress
    )
    return _per_document(documents, owners, scores, ids_per_doc)


def _whole_documents(model, documents, window, stride, on_progress):
    """Each document in one request to a served model (which takes text, so
    no token windows: a document must fit the server's context)."""
    if window is not None or stride is not None:
        raise InvalidInputError(
            "window and stride: a served model scores each document whole, in "
            "one request (windows need token ids, which servers do not all take)"
        )
    scores = model.document_logprobs(documents, on_progress=on_progress)
    return [
        document_perplexity(name, sequence_logprob(values), len(values), text)
        for (name, text), values in zip(documents, scores, strict=True)
    ]


def _per_document(documents, owners: Sequence[int], scores, sizes):
    steps: list[list[np.ndarray]] = [[] for _ in documents]
    for owner, score in zip(owners, scores, strict=True):
        steps[owner].append(score.logprob)
    out = []
    for (name, text), parts, size in zip(documents, steps, sizes, strict=True):
        logprobs = np.concatenate(parts)
        if len(logprobs) != size:  # every token scored exactly once
            raise AssertionError(f"{name}: {len(logprobs)} scores for {size} tokens")
        total = sequence_logprob(logprobs)
        out.append(document_perplexity(name, total, size, text, len(parts)))
    return out


def corpus_perplexity(documents: Sequence[DocumentPerplexity]) -> DocumentPerplexity:
    """All documents as one: log-likelihoods and counts summed (lm-eval's
    ``weighted_perplexity`` and ``bits_per_byte`` aggregation).

    >>> a = document_perplexity("a", -2.0, 2, (1, 4))
    >>> b = document_perplexity("b", -4.0, 2, (3, 4))
    >>> c = corpus_perplexity([a, b])
    >>> c.loglikelihood, c.n_tokens, round(c.token_perplexity, 4)  # exp(6 / 4)
    (-6.0, 4, 4.4817)
    """
    if not documents:
        raise InvalidInputError("no documents")
    total = sequence_logprob([d.loglikelihood for d in documents])
    return document_perplexity(
        "(all)",  # the table's last row
        total,
        sum(d.n_tokens for d in documents),
        (sum(d.n_words for d in documents), sum(d.n_bytes for d in documents)),
        sum(d.windows for d in documents),
    )
