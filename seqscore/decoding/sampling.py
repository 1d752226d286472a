r"""Ancestral sampling with temperature, top-k and top-p (nucleus) truncation.

At each step the model's log-probs :math:`\ell` are turned into the sampling
distribution in transformers' order:

1. temperature: :math:`\ell / T` (``T < 1`` sharpens, ``T > 1`` flattens);
2. top-k: tokens scoring below the k-th best are removed (ties with the k-th
   are kept);
3. top-p: the smallest set of best tokens whose probability reaches ``p`` is
   kept (a token is kept while the mass ranked strictly above it is below
   ``p``; the best token is always kept);

then renormalised with :func:`seqscore.numerics.softmax.softmax`, and a token is drawn
from the explicit ``rng`` by inverting the cumulative distribution with one
uniform number per step. The :class:`~seqscore.decoding.protocol.Decoded`
results carry the log-probs under the *unmodified* model, so samples are
comparable with any other decode.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqscore.decoding.protocol import (
    Decoded,
    LanguageModel,
    check_count,
    check_max_tokens,
    check_prompt,
    make_decoded,
    next_logprobs,
)
from seqscore.errors import InvalidInputError
from seqscore.numerics._arrays import check_temperature, real_or_nan
from seqscore.numerics.softmax import softmax

__all__ = ["sample", "sampling_distribution"]


def sampling_distribution(
    logprobs,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> np.ndarray:
    """The distribution sampling draws from, for rows of log-probs ``(B, V)``.

    >>> lp = np.log([[0.5, 0.3, 0.2]])
    >>> sampling_distribution(lp, top_k=2).round(4)
    array([[0.625, 0.375, 0.   ]])
    >>> sampling_distribution(lp, top_p=0.6).round(4)  # 0.5 < 0.6: keep the 0.3
    array([[0.625, 0.375, 0.   ]])
    >>> sampling_distribution(lp, top_p=0.5).round(4)
    array([[1., 0., 0.]])
    """
    scores = np.array(logprobs, dtype=np.float64, ndmin=2)
    temperature = check_temperature(temperature)
    # relative to each row's best, so that a tiny temperature sends the others
    # to -inf (the greedy limit) instead of overflowing the best one too
    peak = scores.max(axis=1, keepdims=True) if scores.size else 0.0
    scores -= np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(over="ignore"):
        scores /= temperature
    if top_k is not None:
        k = check_count(top_k, "top_k")
        if k < scores.shape[1]:
            kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
            scores[scores < kth] = -np.inf
    if top_p is not None:
        scores = _nucleus(scores, _check_top_p(top_p))
    return softmax(scores)


def _nucleus(scores: np.ndarray, top_p: float) -> np.ndarray:
    """Mask every token outside the top-p nucleus of each row."""
    probs = softmax(scores)
    order = np.argsort(-scores, axis=1, kind="stable")
    sorted_probs = np.take_along_axis(probs, order, axis=1)
    mass_above = np.cumsum(sorted_probs, axis=1) - sorted_probs
    drop_sorted = mass_above >= top_p
    drop_sorted[:, 0] = False
    drop = np.zeros_like(drop_sorted)
    np.put_along_axis(drop, order, drop_sorted, axis=1)
    return np.where(drop, -np.inf, scores)


def sample(
    model: LanguageModel,
    prompt: Sequence[int],
    max_tokens: int,
    *,
    rng: np.random.Generator,
    num_samples: int = 1,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> tuple[Decoded, ...]:
    """Draw ``num_samples`` continuations of ``prompt``, batched.

    ``rng`` must be a ``numpy.random.Generator`` (``np.random.default_rng(seed)``);
    the same generator state gives the same samples.

    >>> from seqscore.models.tree import textbook_tree
    >>> draws = sample(textbook_tree(), [], 4, rng=np.random.default_rng(0),
    ...                num_samples=20, top_k=1)
    >>> sorted({d.tokens[0] for d in draws})  # top-k=1: A, the most probable
    ['A']
    >>> sorted({d.tokens[1] for d in draws})  # after A, C D E tie: all are kept
    ['C', 'D', 'E']
    """
    if not isinstance(rng, np.random.Generator):
        raise InvalidInputError(
            f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
        )
    prompt = check_prompt(model, prompt)
    max_tokens = check_max_tokens(max_tokens)
    num_samples = check_count(num_samples, "num_samples")
    # validate up front
    sampling_distribution(
        np.zeros((1, 1)), temperature=temperature, top_k=top_k, top_p=top_p
    )
    paths: list[list[int]] = [[] for _ in range(int(num_samples))]
    steps: list[list[float]] = [[] for _ in range(int(num_samples))]
    live = list(range(int(num_samples)))
    for _ in range(max_tokens):
        rows = next_logprobs(model, [[*prompt, *paths[i]] for i in live])
        probs = sampling_distribution(
            rows, temperature=temperature, top_k=top_k, top_p=top_p
        )
        cdf = np.cumsum(probs, axis=1)
        draws = rng.random(len(live)) * cdf[:, -1]
        tokens = (cdf <= draws[:, None]).sum(axis=1)  # first index with cdf > u
        # u * total can round up to total itself: fall back to the last token
        # that has any probability, never to one the truncation removed
        last = probs.shape[1] - 1 - np.argmax(probs[:, ::-1] > 0, axis=1)
        tokens = np.minimum(tokens, last)
        for i, row, token in zip(live, rows, tokens, strict=True):
            paths[i].append(int(token))
            steps[i].append(float(row[token]))
        live = [i for i in live if paths[i][-1] != model.eos_id]
        if not live:
            break
    return tuple(make_decoded(model, p, s) for p, s in zip(paths, steps, strict=True))


def _check_top_p(top_p) -> float:
    value = real_or_nan(top_p)
    if not 0 < value <= 1:
        raise InvalidInputError(f"top_p must be in (0, 1], got {top_p}")
    return value
