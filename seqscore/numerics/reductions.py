r"""Reductions of per-token log-probabilities to one number per sequence.

Every reduction starts from the summed log-probability :math:`S = \sum_t \log
p(x_t \mid c, x_{<t})` of a sequence of :math:`L` tokens, :math:`C` characters
and :math:`B` UTF-8 bytes. Each is defined once here, with the convention of
the public tool that popularised it:

==================  ====================================  =======================
name                formula                               convention of
==================  ====================================  =======================
``sum``             :math:`S`                             lm-eval ``acc``
``mean``            :math:`S / L`                         per-token average
``char``            :math:`S / C`                         lm-eval ``acc_norm``
``byte``            :math:`S / B`                         lm-eval ``acc_bytes``
``length_penalty``  :math:`S / L^{\alpha}`                HF beam search
``gnmt``            :math:`S / ((5 + L) / 6)^{\alpha}`    GNMT (Wu et al. 2016)
``perplexity``      :math:`\exp(-S / L)`                  token perplexity
``bits_per_byte``   :math:`-S / (B \ln 2)`                lm-eval bits_per_byte
``pmi``             :math:`S - \log P(x)`                 lm-eval mutual info
==================  ====================================  =======================

Higher is better for every reduction except ``perplexity`` and
``bits_per_byte``; :data:`RANKABLE` lists the ones candidates can be ranked
by. A reduction that needs a quantity the input lacks (characters without the
text, ``pmi`` without the unconditional score, ``mean``, ``length_penalty``,
``gnmt`` and ``perplexity`` without the token count, as in lm-eval's samples
files, which log each choice's total) is ``None``, never a guess.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from seqscore.errors import InvalidInputError

__all__ = [
    "NO_TOKEN_COUNT",
    "PER_TOKEN",
    "RANKABLE",
    "Reductions",
    "bits_per_byte",
    "gnmt_base",
    "penalty_divisor",
    "perplexity",
    "reduce",
]

#: Reductions a candidate list can be ranked by (higher is better).
RANKABLE = ("sum", "mean", "char", "byte", "length_penalty", "gnmt", "pmi")


@dataclass(frozen=True)
class Reductions:
    """All reductions of one sequence, side by side (``None``: not computable)."""

    sum: float
    mean: float | None
    char: float | None
    byte: float | None
    length_penalty: float | None
    gnmt: float | None
    perplexity: float | None
    bits_per_byte: float | None
    pmi: float | None
    # why a None above is None, when the input did give what it needs
    undefined: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def value(self, name: str) -> float:
        """The reduction called ``name``; raises if the input cannot supply it."""
        if name not in RANKABLE:
            raise InvalidInputError(
                f"cannot rank by {name!r}: choose one of {', '.join(RANKABLE)}"
            )
        result = getattr(self, name)
        if result is None and name in dict(self.undefined):
            raise InvalidInputError(
                f"the {name!r} normalisation is undefined here: "
                f"{dict(self.undefined)[name]}"
            )
        if result is None:
            need = {
                "char": "the text",
                "byte": "the text or token bytes",
                "pmi": "an unconditional score",
            }[name]
            raise InvalidInputError(f"the {name!r} normalisation needs {need}")
        return result


#: Reductions that divide by (a power of) the token count.
PER_TOKEN = ("mean", "length_penalty", "gnmt", "perplexity")
#: Why they are None when the input gives a total but no token count.
NO_TOKEN_COUNT = (
    "the input gives each candidate's total log-prob but not its token count"
)


def reduce(
    total: float,
    n_tokens: int | None,
    *,
    n_chars: int | None = None,
    n_bytes: int | None = None,
    unconditional: float | None = None,
    alpha: float = 1.0,
) -> Reductions:
    r"""Every reduction of a sequence whose log-probs sum to ``total``.

    ``n_tokens`` must be >= 1: an empty sequence has no per-token average.
    ``n_tokens=None`` (unknown: a logged total without its tokens) leaves the
    per-token reductions ``None``, each with :data:`NO_TOKEN_COUNT` as the
    reason. A character or byte count of 0 leaves that reduction ``None``.

    >>> r = reduce(-6.0, 3, n_chars=12, n_bytes=12, unconditional=-9.0, alpha=1.0)
    >>> r.sum, r.mean, r.char, r.pmi
    (-6.0, -2.0, -0.5, 3.0)
    >>> round(r.perplexity, 4)  # exp(2)
    7.3891
    >>> round(r.gnmt, 4)  # -6 / ((5 + 3) / 6)
    -4.5
    >>> reduce(-1.0, 1).char is None
    True
    >>> r = reduce(-6.0, None, n_chars=12)
    >>> r.char, r.mean
    (-0.5, None)
    """
    if n_tokens is None:
        return _without_token_count(total, n_chars, n_bytes, unconditional, alpha)
    if n_tokens < 1:
        raise InvalidInputError("a sequence with no tokens has no score to reduce")
    if not math.isfinite(alpha):
        raise InvalidInputError(f"alpha must be finite, got {alpha}")
    per = _per(total)
    undefined = []
    if n_chars == 0:
        undefined.append(("char", "the text has no characters"))
    if n_bytes == 0:
        undefined.append(("byte", "the text has no bytes"))
    if unconditional is not None and _pmi(total, unconditional) is None:
        undefined.append(
            (
                "pmi",
                "the continuation is impossible both with and without the "
                "context (log-probs -inf and -inf)",
            )
        )
    return Reductions(
        sum=total,
        mean=total / n_tokens,
        char=per(n_chars),
        byte=per(n_bytes),
        length_penalty=_over_power(total, n_tokens, alpha),
        gnmt=_over_power(total, gnmt_base(n_tokens), alpha),
        perplexity=perplexity(total, n_tokens),
        bits_per_byte=None if not n_bytes else bits_per_byte(total, n_bytes),
        pmi=_pmi(total, unconditional),
        undefined=tuple(undefined),
    )


def perplexity(total: float, count: int) -> float:
    r"""Perplexity per unit: :math:`\exp(-S / n)` for ``count`` units (tokens,
    words or bytes), ``inf`` past the float range.

    >>> round(perplexity(-6.0, 3), 4)  # exp(2)
    7.3891
    """
    return _exp(-total / count)


def bits_per_byte(total: float, n_bytes: int) -> float:
    r""":math:`-S / (B \ln 2)`: the bits of a code built from the model, per byte.

    >>> bits_per_byte(-math.log(2) * 8, 4)  # 8 bits over 4 bytes
    2.0
    """
    return -total / n_bytes / math.log(2)


def _without_token_count(total, n_chars, n_bytes, unconditional, alpha) -> Reductions:
    """:func:`reduce` of a total whose token count is unknown."""
    known = reduce(
        total,
        1,
        n_chars=n_chars,
        n_bytes=n_bytes,
        unconditional=unconditional,
        alpha=alpha,
    )
    return dataclasses.replace(
        known,
        # the reductions of PER_TOKEN
        mean=None,
        length_penalty=None,
        gnmt=None,
        perplexity=None,
        undefined=known.undefined + tuple((n, NO_TOKEN_COUNT) for n in PER_TOKEN),
    )


def _pmi(total: float, unconditional: float | None) -> float | None:
    """``total - unconditional``; None (undefined, not NaN) when both are
    ``-inf``: a continuation impossible with and without the context."""
    if unconditional is None or (total == unconditional == -math.inf):
        return None
    return total - unconditional


def penalty_divisor(base, alpha):
    r"""The length penalty's divisor :math:`b^{\alpha}`, for a length ``b``
    (Hugging Face's ``length_penalty``, beam search's scores) or GNMT's
    :func:`gnmt_base`: a number, or an array of them (the audit's fits).

    >>> penalty_divisor(4, 0.5), penalty_divisor(gnmt_base(7), 1.0)
    (2.0, 2.0)
    """
    return base**alpha


def gnmt_base(n_tokens):
    """GNMT's length term ``(5 + L) / 6`` (Wu et al. 2016), for a count or an
    array of counts; divided into the total through :func:`penalty_divisor`.

    >>> import numpy as np
    >>> gnmt_base(1), gnmt_base(np.array([7, 13])).tolist()
    (1.0, [2.0, 3.0])
    """
    return (5 + n_tokens) / 6


def _over_power(total: float, base: float, alpha: float) -> float:
    """``total / base**alpha``; 0 or infinite where the power leaves the
    float range (``base**alpha`` overflows, or underflows to 0)."""
    try:
        return total / penalty_divisor(base, alpha)
    except (OverflowError, ZeroDivisionError):
        return total * _exp(-alpha * math.log(base)) if total else 0.0


def _exp(x: float) -> float:
    """``exp(x)``, ``inf`` past the float range instead of OverflowError
    (``exp(709.5)`` is still 1.355e308)."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _per(total: float):
    def divide(count: int | None) -> float | None:
        return total / count if count else None

    return divide
