r"""Beam search with Hugging Face's conventions for finished hypotheses.

Each step extends every running beam by every token, ranks the candidates by
their summed log-probability :math:`s = \sum_t \log p(x_t \mid x_{<t})`, and
looks at the best ``2 * width`` of them (so that ``width`` beams can go on even
if ``width`` candidates just ended). Then, exactly as transformers'
``generate(num_beams=width)`` does:

* a candidate that ends -- it emits EOS, or it reaches ``max_tokens`` -- is a
  *finished hypothesis* only if it ranks among the best ``width`` candidates
  of its step; its score is

  .. math:: \mathrm{score} = s / L^{\,\mathrm{length\_penalty}}

  with ``L`` the number of generated tokens *including* the EOS. At most
  ``width`` finished hypotheses are kept, the best by score;
* the best ``width`` candidates that did not end are the next running beams;
* the search stops when ``max_tokens`` is reached, when no beam is left, or
  once ``width`` hypotheses are finished and
  - ``early_stopping=True``: at once;
  - ``early_stopping=False`` (the default, as in transformers): when the best
    running beam's :math:`s / L_{\mathrm{now}}^{\,lp}` cannot beat the worst
    finished score (exact for ``length_penalty <= 0``, a heuristic above);
  - ``early_stopping="never"``: the same test with ``L = max_tokens`` when
    ``length_penalty > 0``, which is exact.

``length_penalty=0`` ranks by the plain sum of log-probs; with
``early_stopping`` False or ``"never"`` a width that keeps every prefix then
finds the exact most probable sequence. Positive values favour longer
sequences. Candidates of probability 0 (a ``-inf`` log-prob) are dropped;
transformers instead pads with dummy beams scored -1e9 when fewer than
``2 * width`` continuations exist, which never happens with a real vocabulary.
Totals are accumulated in float64 (transformers uses float32).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError
from .protocol import (
    Decoded,
    LanguageModel,
    check_count,
    check_max_tokens,
    check_prompt,
    make_decoded,
    next_logprobs,
)

__all__ = ["BeamResult", "beam_search"]


@dataclass(frozen=True)
class BeamResult:
    """The finished hypotheses of a beam search, best ``score`` first.

    ``steps`` is how many tokens the search generated before it stopped (the
    number of batched model calls).
    """

    hypotheses: tuple[Decoded, ...]
    width: int
    length_penalty: float
    early_stopping: bool | str
    steps: int

    @property
    def best(self) -> Decoded:
        """The hypothesis with the highest score."""
        return self.hypotheses[0]


@dataclass
class _Beams:
    """The running beams: prefixes (R, T) ids, sums (R,), step log-probs (R, t)."""

    prefixes: np.ndarray
    sums: np.ndarray
    steps: np.ndarray


def beam_search(
    model: LanguageModel,
    prompt: Sequence[int],
    max_tokens: int,
    width: int = 4,
    *,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
) -> BeamResult:
    """Beam search of ``width`` beams for at most ``max_tokens`` tokens.

    See the module notes for the conventions (they are transformers').

    >>> from seqscore.models.tree import textbook_tree
    >>> result = beam_search(textbook_tree(), [], max_tokens=4, width=2,
    ...                      length_penalty=0.0)
    >>> [(h.tokens, round(h.probability, 6)) for h in result.hypotheses]
    [(('B', 'C', '<eos>'), 0.36), (('A', 'C', '<eos>'), 0.2)]
    """
    prompt = check_prompt(model, prompt)
    max_tokens = check_max_tokens(max_tokens)
    width = check_count(width, "beam width")
    length_penalty = _check_penalty(length_penalty)
    if early_stopping not in (True, False, "never"):
        raise InvalidInputError(
            f"early_stopping must be True, False or 'never', got {early_stopping!r}"
        )
    if early_stopping != "never":
        early_stopping = bool(early_stopping)  # 1 and 0 mean what they say
    beams = _Beams(
        prefixes=np.array([prompt], dtype=np.int64).reshape(1, len(prompt)),
        sums=np.zeros(1),
        steps=np.zeros((1, 0)),
    )
    finished: list[tuple] = []  # (score, ids, logprobs)
    step = 0
    while step < max_tokens and len(beams.sums):
        step += 1
        rows = next_logprobs(model, beams.prefixes)
        beams = _advance(
            model, beams, rows, step, max_tokens, width, length_penalty, finished
        )
        if len(finished) == width and _done(
            beams, finished, step, max_tokens, length_penalty, early_stopping
        ):
            break
    ranked = sorted(finished, key=lambda f: -f[0])
    hypotheses = tuple(
        make_decoded(model, ids, logprobs, score=score)
        for score, ids, logprobs in ranked
    )
    return BeamResult(hypotheses, width, length_penalty, early_stopping, step)


def _advance(model, beams, rows, step, max_tokens, width, penalty, finished):
    """Rank this step's candidates, file the finished ones, return the new beams.

    The ``2 * width`` candidates are few, so they are ranked and walked in
    plain Python: for the small batches of beam search that costs less than
    more numpy calls would.
    """
    vocab = rows.shape[1]
    last_step = step == max_tokens
    eos = model.eos_id
    keep_parent, keep_token, keep_sums = [], [], []
    for rank, (total, index) in enumerate(_top_candidates(rows, beams.sums, width)):
        parent, token = divmod(index, vocab)
        if token == eos or last_step:
            if rank < width:
                choice = (parent, token, total, float(rows[parent, token]))
                _file(beams, finished, width, choice, penalty, step)
        elif len(keep_parent) < width:
            keep_parent.append(parent)
            keep_token.append(token)
            keep_sums.append(total)
    parent = np.array(keep_parent, dtype=np.intp)
    token = np.array(keep_token, dtype=np.intp)
    return _Beams(
        prefixes=_append_column(beams.prefixes[parent], token),
        sums=np.array(keep_sums, dtype=np.float64),
        steps=_append_column(beams.steps[parent], rows[parent, token]),
    )


def _append_column(block: np.ndarray, column) -> np.ndarray:
    out = np.empty((block.shape[0], block.shape[1] + 1), dtype=block.dtype)
    out[:, :-1] = block
    out[:, -1] = column
    return out


def _top_candidates(rows: np.ndarray, sums: np.ndarray, width: int):
    """``(total, flat index)`` of the best ``2 * width`` candidates, best first.

    ``total = sums[beam] + rows[beam, token]`` at flat index ``beam * V +
    token``. Ties go to the smaller flat index (the earlier beam, then the
    smaller id), and ``-inf`` (impossible) candidates are left out. One
    selection pass over the totals; the few picks are sorted in Python.
    """
    totals = (rows + sums[:, None]).reshape(-1)
    count = 2 * width
    if len(totals) > count:
        picks = np.argpartition(totals, len(totals) - count)[-count:]
    else:
        picks = np.arange(len(totals))
    ranked = sorted(zip((-totals[picks]).tolist(), picks.tolist(), strict=True))
    return [(-negated, index) for negated, index in ranked if negated != np.inf]


def _file(beams, finished, width, choice, penalty, step) -> None:
    """Add one ended candidate to the finished list if it makes the best ``width``.

    Entries are ``(score, ids, logprobs)``; the :class:`Decoded` objects are
    built once, for the survivors, when the search ends. ``total`` is the
    running sum plus this step's ``logprob``, as :func:`make_decoded` sums.
    """
    parent, token, total, logprob = choice
    score = total / step**penalty
    if len(finished) == width:
        worst = min(range(width), key=lambda i: finished[i][0])
        if not score > finished[worst][0]:
            return
        del finished[worst]
    generated = beams.prefixes[parent, beams.prefixes.shape[1] - (step - 1) :]
    finished.append(
        (
            score,
            (*generated.tolist(), token),
            (*beams.steps[parent].tolist(), logprob),
        )
    )


def _done(beams, finished, step, max_tokens, penalty, early_stopping) -> bool:
    """Whether no running beam can still enter the full finished list."""
    if early_stopping is True or not len(beams.sums):
        return True
    length = max_tokens if early_stopping == "never" and penalty > 0 else step
    best_possible = beams.sums[0] / length**penalty
    worst_finished = min(entry[0] for entry in finished)
    return not best_possible > worst_finished


def _check_penalty(penalty) -> float:
    value = float(penalty)
    if not np.isfinite(value):
        raise InvalidInputError(f"length_penalty must be finite, got {penalty}")
    return value
