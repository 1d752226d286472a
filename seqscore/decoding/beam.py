r"""Beam search with Hugging Face's conventions, one prompt or many at once.

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

Ties are broken the same way every time: candidates of equal total go to the
earlier beam (beams are kept best first), then to the smaller token id. The
finished hypotheses are the best ``width`` of all those filed, by score, the
earlier filed (earlier step, then better rank) winning ties -- transformers'
rule too (it keeps the top ``num_beams`` of the old and the new finished
hypotheses at each step).

Many prompts. :func:`beam_search_batch` decodes a batch of prompts (of any
lengths) together: each step sends the running beams of every unfinished
prompt to the model in *one* call (prompts of different lengths as a
:class:`~seqscore.decoding.protocol.PrefixBatch`), then ranks, files and
stops every prompt with array operations over the whole batch
(:mod:`seqscore.decoding.beam_batch`). A prompt's candidates are never
compared with another prompt's, and it leaves the batch at the step its own
stopping rule fires, so its result is the one :func:`beam_search` gives for
it alone. With the optional extra ``seqscore[fast]`` (numba), both run the
compiled step of :mod:`seqscore.decoding.selection` for widths up to 512
(one prompt too: on the built-in model, about 30 against 50 microseconds a
step at width 1, 60 against 200 at width 32). Without it, a batch of one
prompt is searched by the plain step below: for a handful of candidates,
Python over a list costs less than the dozens of small array operations of
the numpy batched step. The test suite holds all of them to the plain
step's results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqscore.decoding.beam_batch import search_batch
from seqscore.decoding.beam_settings import BeamSettings
from seqscore.decoding.protocol import (
    Decoded,
    LanguageModel,
    check_prompt,
    check_prompts,
    make_decoded,
    next_logprobs,
)
from seqscore.decoding.selection import compiled_suits

__all__ = ["BeamResult", "beam_search", "beam_search_batch"]


@dataclass(frozen=True)
class BeamResult:
    """The finished hypotheses of a beam search, best ``score`` first.

    ``steps`` is how many tokens the search generated before it stopped (the
    number of batched model calls of a search of this prompt alone).
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

    See the module notes for the conventions (they are transformers'). The
    same as ``beam_search_batch(model, [prompt], ...)[0]``.

    >>> from seqscore.models.tree import textbook_tree
    >>> result = beam_search(textbook_tree(), [], max_tokens=4, width=2,
    ...                      length_penalty=0.0)
    >>> [(h.tokens, round(h.probability, 6)) for h in result.hypotheses]
    [(('B', 'C', '<eos>'), 0.36), (('A', 'C', '<eos>'), 0.2)]
    """
    settings = BeamSettings.checked(max_tokens, width, length_penalty, early_stopping)
    return _search(model, [check_prompt(model, prompt)], settings)[0]


def beam_search_batch(
    model: LanguageModel,
    prompts: Sequence[Sequence[int]],
    max_tokens: int,
    width: int = 4,
    *,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
) -> tuple[BeamResult, ...]:
    """:func:`beam_search` of every prompt, decoded together, in prompt order.

    One model call per step serves the running beams of all unfinished
    prompts; result ``i`` equals ``beam_search(model, prompts[i], ...)``
    (same hypotheses, same scores, same ``steps``). Prompts may differ in
    length. An invalid prompt is named by its index (``prompts[3][1] = ...``).

    >>> from seqscore.models.tree import textbook_tree
    >>> tree = textbook_tree()
    >>> results = beam_search_batch(tree, [[], tree.encode("A")], max_tokens=4,
    ...                             width=2, length_penalty=0.0)
    >>> [(r.best.tokens, round(r.best.probability, 6)) for r in results]
    [(('B', 'C', '<eos>'), 0.36), (('C', '<eos>'), 0.333333)]
    """
    settings = BeamSettings.checked(max_tokens, width, length_penalty, early_stopping)
    return _search(model, check_prompts(model, prompts), settings)


def _search(model, prompts, settings: BeamSettings) -> tuple[BeamResult, ...]:
    """The search of the checked ``prompts``: batched, except one prompt
    without the compiled step, which the plain step below searches."""
    if len(prompts) == 1 and not compiled_suits(settings.width):
        return (_search_one(model, prompts[0], settings),)
    if not prompts:
        return ()
    found = search_batch(model, prompts, settings)
    return tuple(_result(settings, hypotheses, steps) for hypotheses, steps in found)


def _result(settings: BeamSettings, hypotheses, steps: int) -> BeamResult:
    """The BeamResult of ``hypotheses`` (:class:`Decoded`, best first)."""
    return BeamResult(
        tuple(hypotheses),
        settings.width,
        settings.length_penalty,
        settings.early_stopping,
        steps,
    )


# ---------------------------------------------------------------- one prompt


@dataclass
class _Beams:
    """The running beams: prefixes (R, T) ids, sums (R,), step log-probs (R, t)."""

    prefixes: np.ndarray
    sums: np.ndarray
    steps: np.ndarray


def _search_one(model, prompt: tuple[int, ...], settings: BeamSettings) -> BeamResult:
    """The search of one prompt."""
    beams = _Beams(
        prefixes=np.array([prompt], dtype=np.int64).reshape(1, len(prompt)),
        sums=np.zeros(1),
        steps=np.zeros((1, 0)),
    )
    finished: list[tuple] = []  # (score, ids, logprobs), in filing order
    step = 0
    while step < settings.max_tokens and len(beams.sums):
        step += 1
        rows = next_logprobs(model, beams.prefixes)
        beams = _advance(model.eos_id, beams, rows, step, settings, finished)
        if len(finished) == settings.width and _done(beams, finished, step, settings):
            break
    ranked = sorted(finished, key=lambda f: -f[0])  # stable: ties by filing
    hypotheses = [
        make_decoded(model, ids, logprobs, score=s) for s, ids, logprobs in ranked
    ]
    return _result(settings, hypotheses, step)


def _advance(eos, beams, rows, step, settings: BeamSettings, finished):
    """Rank this step's candidates, file the finished ones, return the new beams.

    The ``2 * width`` candidates are few, so they are ranked and walked in
    plain Python: for one prompt that costs less than more numpy calls would.
    """
    vocab = rows.shape[1]
    width = settings.width
    last_step = step == settings.max_tokens
    keep: list[tuple[int, int]] = []  # (parent, token) pairs
    keep_sums: list[float] = []  # their totals
    for rank, (total, index) in enumerate(_top_candidates(rows, beams.sums, width)):
        parent, token = divmod(index, vocab)
        if token == eos or last_step:
            if rank < width:
                choice = (parent, token, total, float(rows[parent, token]))
                _file(beams, finished, choice, step, settings)
        elif len(keep) < width:
            keep.append((parent, token))
            keep_sums.append(total)
    parent, token = np.array(keep, dtype=np.intp).reshape(len(keep), 2).T
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
    selection pass picks the best ``2 * width + 1``, sorted in Python; the
    extra one is the best of the rest, so if it ties with the last of the
    ``2 * width``, the cut falls inside a tie and every candidate that
    reaches it is sorted instead (the tie-break, not the selection, decides).
    """
    totals = (rows + sums[:, None]).reshape(-1)
    count = 2 * width
    if len(totals) > count + 1:
        picks = np.argpartition(totals, len(totals) - count - 1)[-count - 1 :]
    else:
        picks = np.arange(len(totals))
    ranked = sorted(zip((-totals[picks]).tolist(), picks.tolist(), strict=True))
    if len(ranked) > count and ranked[count][0] == ranked[count - 1][0] != np.inf:
        picks = np.flatnonzero(totals >= -ranked[count][0])
        ranked = sorted(zip((-totals[picks]).tolist(), picks.tolist(), strict=True))
    return [(-negated, index) for negated, index in ranked[:count] if negated != np.inf]


def _file(beams, finished, choice, step, settings: BeamSettings) -> None:
    """Add one ended candidate to the finished list if it makes the best ``width``.

    Entries are ``(score, ids, logprobs)`` in filing order; a full list
    gives way only to a strictly better score, and then loses its worst
    entry, the last filed of equal worst ones (so the list stays the best
    ``width`` of all filed, the earlier filed winning ties). ``total`` is
    the running sum plus this step's ``logprob``, as :func:`make_decoded`
    sums.
    """
    parent, token, total, logprob = choice
    score = total / settings.score_divisor(step)
    if len(finished) == settings.width:
        worst = min(reversed(range(settings.width)), key=lambda i: finished[i][0])
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


def _done(beams, finished, step, settings: BeamSettings) -> bool:
    """Whether no running beam can still enter the full finished list."""
    if settings.early_stopping is True or not len(beams.sums):
        return True
    best_possible = beams.sums[0] / settings.stop_divisor(step)
    worst_finished = min(entry[0] for entry in finished)
    return not best_possible > worst_finished
