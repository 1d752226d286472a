r"""Why greedy lost: greedy decoding against the best sequence found.

Greedy maximises each factor of :math:`p(x \mid c) = \prod_t p(x_t \mid c,
x_{<t})`, one step at a time. The best sequence may start with a *less*
probable token whose continuation is far more confident: 0.6 then a flat 1/3
(0.2) loses to 0.4 then 0.9 (0.36). :func:`diagnose` finds where and why:

* the step ``k`` where the two paths first differ, and at ``k`` the
  log-probability greedy *gained*: :math:`g = \log p_k^{greedy} - \log
  p_k^{best} \ge 0`;
* after ``k``, the per-step log-probs of both paths, the cumulative curves
  (which stay flat once a path has ended) and the first step where the best
  path's cumulative log-prob overtakes greedy's;
* the total greedy *paid back* after ``k``: :math:`b = \sum_{t>k} \log
  p_t^{best} - \sum_{t>k} \log p_t^{greedy}`, so that greedy's loss is
  :math:`\ell = \log p(best) - \log p(greedy) = b - g \ge 0`;
* the entropy :math:`H = -\sum_v p_v \log p_v` (nats) of the distributions
  greedy met after ``k``: high entropy (a flat choice among about
  :math:`e^H` tokens) is what makes a path pay;
* a plain-English explanation whose every number can be checked against
  these fields.

"The best sequence" is the exact search's result
(:func:`~seqscore.decoding.exact_search`, proven optimal unless its node
budget ran out), or a plain-sum beam search's when that is better.
:func:`survey_greedy` repeats this over many prompts and reports how often
greedy is not the best and how much it loses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqscore.decoding import Decoded, LanguageModel, beam_search, exact_search, greedy
from seqscore.decoding.protocol import check_prompt, vocab_text
from seqscore.errors import InvalidInputError
from seqscore.models.examples import example_prompts
from seqscore.models.forced import teacher_force
from seqscore.numerics._arrays import check_integer

__all__ = [
    "GreedyDiagnosis",
    "GreedySurvey",
    "PathReading",
    "SurveyRow",
    "diagnose",
    "first_greedy_miss",
    "survey_greedy",
]


@dataclass(frozen=True)
class PathReading:
    """One path read step by step under teacher forcing.

    ``cumulative[t]`` is the sum of ``logprobs[:t+1]``; ``entropy[t]`` and
    ``argmax_tokens[t]`` describe the distribution the step-``t+1`` token was
    drawn from. Tokens are text (`` the``); ``pieces`` are the tokenizer's
    names for the path's tokens (``Ġthe``) where the model has both (a
    Hugging Face model), else None.
    """

    decoded: Decoded
    cumulative: tuple[float, ...]
    entropy: tuple[float, ...]
    rank: tuple[int, ...]
    argmax_tokens: tuple[str, ...]
    pieces: tuple[str, ...] | None = None


@dataclass(frozen=True)
class GreedyDiagnosis:
    """Greedy against the best sequence found, for one prompt.

    Steps are numbered from 1 (the first generated token). When greedy is
    the best sequence, ``diverge_step`` and ``crossing_step`` are None and
    ``gain == paid_back == loss == 0``. ``greedy_after`` / ``best_after``
    and their entropies cover steps ``diverge_step + 1`` onward. ``bound``:
    no sequence has a higher log-prob (the best's own total when proven
    optimal; 0 when no exact search ran).
    """

    prompt: str
    prompt_ids: tuple[int, ...]
    greedy: PathReading
    best: PathReading
    best_source: str
    proven_optimal: bool
    bound: float
    nodes_expanded: int
    greedy_is_best: bool
    diverge_step: int | None
    gain: float
    greedy_after: tuple[float, ...]
    best_after: tuple[float, ...]
    greedy_entropy_after: tuple[float, ...]
    best_entropy_after: tuple[float, ...]
    crossing_step: int | None
    paid_back: float
    loss: float
    explanation: str


def diagnose(
    model: LanguageModel,
    prompt: Sequence[int] | str,
    *,
    max_tokens: int = 20,
    beam: int = 4,
    node_budget: int = 100_000,
) -> GreedyDiagnosis:
    """Compare greedy with the best sequence found for ``prompt`` (ids or text).

    ``beam`` is the width of a plain-sum beam search (``length_penalty=0``)
    run beside the exact search (0: none); ``node_budget`` bounds the exact
    search (0: none, only beam search).

    >>> from seqscore.models.tree import textbook_tree
    >>> d = diagnose(textbook_tree(), "", max_tokens=5)
    >>> d.diverge_step, d.greedy.decoded.tokens, d.best.decoded.tokens
    (1, ('A', 'C', '<eos>'), ('B', 'C', '<eos>'))
    >>> round(d.gain, 4), round(d.paid_back, 4), round(d.loss, 4)  # log 1.5, log 2.7
    (0.4055, 0.9933, 0.5878)
    """
    ids = check_prompt(model, _encoded(model, prompt))
    beam = check_integer(beam, "beam", minimum=0)
    node_budget = check_integer(node_budget, "node_budget", minimum=0)
    if node_budget == 0 and beam == 0:
        raise InvalidInputError("need an exact search (node_budget > 0) or a beam > 0")
    g = greedy(model, ids, max_tokens)
    best, source, proven, bound, nodes = _best_found(
        model, ids, max_tokens, beam, node_budget, g
    )
    readings = _read(model, ids, (g, best))
    return _compare(model, ids, readings, (source, proven, bound, nodes))


def _encoded(model, prompt):
    """Text as the model's ids; text the model reads as nothing is an error
    (diagnosing the empty prompt instead would answer another question)."""
    if not isinstance(prompt, str):
        return prompt
    ids = model.encode(prompt)
    if prompt.strip() and not len(ids):
        raise InvalidInputError(
            f"the model reads no token in the prompt {prompt!r}: nothing to "
            "condition on (an empty prompt is '')"
        )
    return ids


def _best_found(model, ids, max_tokens, beam, node_budget, g: Decoded):
    """The best of exact search, beam search and greedy, with its provenance."""
    best, source, proven, bound, nodes = g, "greedy", False, np.inf, 0
    if node_budget:
        exact = exact_search(model, ids, max_tokens, node_budget=node_budget)
        best, proven, bound = exact.best, exact.proven_optimal, exact.bound
        nodes = exact.nodes_expanded
        source = (
            "exact search (proven optimal)"
            if proven
            else f"exact search (budget of {node_budget} nodes ran out)"
        )
    if beam and not proven:
        b = beam_search(model, ids, max_tokens, beam, length_penalty=0.0).best
        if b.total > best.total:
            best, source = b, f"beam search (width {beam}, plain sum)"
    return best, source, proven, bound, nodes


def _read(model, ids, paths) -> tuple[PathReading, ...]:
    forced = teacher_force(model, ids, [p.ids for p in paths])
    texts = vocab_text(model)
    named = texts is not model.vocab  # pieces that are not the text
    out = []
    for path, stats in zip(paths, forced, strict=True):
        # teacher forcing reads them from the logits, so they are always there
        entropy, rank, argmax_id = stats.entropy, stats.rank, stats.argmax_id
        if entropy is None or rank is None or argmax_id is None:
            raise InvalidInputError(
                "teacher forcing gave no entropies, ranks or argmax tokens"
            )
        out.append(
            PathReading(
                decoded=path,
                cumulative=tuple(float(x) for x in np.cumsum(path.logprobs)),
                entropy=tuple(float(x) for x in entropy),
                rank=tuple(int(x) for x in rank),
                argmax_tokens=tuple(texts[i] for i in argmax_id),
                pieces=tuple(model.vocab[i] for i in path.ids) if named else None,
            )
        )
    return tuple(out)


def _compare(model, ids, readings, provenance) -> GreedyDiagnosis:
    g, b = readings
    source, proven, bound, nodes = provenance
    k = _diverge(g.decoded.ids, b.decoded.ids)
    same = k is None or b.decoded.total <= g.decoded.total
    if same:  # greedy is (tied with) the best sequence found
        b, k = g, None
    gain = 0.0 if k is None else g.decoded.logprobs[k] - b.decoded.logprobs[k]
    g_after = () if k is None else g.decoded.logprobs[k + 1 :]
    b_after = () if k is None else b.decoded.logprobs[k + 1 :]
    paid_back = float(sum(b_after) - sum(g_after))
    loss = b.decoded.total - g.decoded.total
    fields = dict(
        prompt=model.decode(ids),
        prompt_ids=tuple(ids),
        greedy=g,
        best=b,
        best_source=source,
        proven_optimal=proven,
        # no exact search ran (budget 0): nothing is known beyond log p <= 0
        bound=float(bound) if proven or np.isfinite(bound) else 0.0,
        nodes_expanded=nodes,
        greedy_is_best=same,
        diverge_step=None if k is None else k + 1,
        gain=float(gain),
        greedy_after=g_after,
        best_after=b_after,
        greedy_entropy_after=() if k is None else g.entropy[k + 1 :],
        best_entropy_after=() if k is None else b.entropy[k + 1 :],
        crossing_step=None if k is None else _crossing(g.cumulative, b.cumulative),
        paid_back=paid_back,
        loss=float(loss),
    )
    return GreedyDiagnosis(**fields, explanation=_explain(fields))


def _diverge(a: Sequence[int], b: Sequence[int]) -> int | None:
    """The first index where two id sequences differ (None if identical)."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def _crossing(greedy_cum, best_cum) -> int | None:
    """First step (1-based) where the best path's cumulative log-prob is above greedy's.

    A path that has ended keeps its final total.
    """
    steps = max(len(greedy_cum), len(best_cum))
    for t in range(steps):
        g = greedy_cum[min(t, len(greedy_cum) - 1)]
        b = best_cum[min(t, len(best_cum) - 1)]
        if b > g:
            return t + 1
    return None


# ------------------------------------------------------------- explanation


def _p(logprob: float) -> str:
    return f"p = {np.exp(logprob):.3f}"


def _token(reading: PathReading, step: int) -> str:
    return repr(reading.decoded.tokens[step])


def _explain(f: dict) -> str:
    g, b = f["greedy"], f["best"]
    lines = []
    if f["greedy_is_best"]:
        lines.append(
            f"Greedy's sequence is the best sequence found ({f['best_source']}): "
            f"probability {g.decoded.probability:.4g} "
            f"(log-prob {g.decoded.total:.3f})."
        )
        if not f["proven_optimal"]:
            lines.append(_unproven(f))
        return " ".join(lines)
    k = f["diverge_step"] - 1
    lines.append(
        f"Greedy and the best sequence part at step {k + 1}: greedy took "
        f"{_token(g, k)} ({_p(g.decoded.logprobs[k])}) over {_token(b, k)} "
        f"({_p(b.decoded.logprobs[k])}), gaining {f['gain']:.3f} nats."
    )
    lines.append(_payback(f, k))
    lines.append(
        f"In total greedy's sequence has probability {g.decoded.probability:.4g} "
        f"(log-prob {g.decoded.total:.3f}) against the best's "
        f"{b.decoded.probability:.4g} ({b.decoded.total:.3f}): greedy lost "
        f"{f['loss']:.3f} nats = {f['paid_back']:.3f} paid back - "
        f"{f['gain']:.3f} gained."
    )
    if f["crossing_step"] is not None:
        lines.append(
            f"The best path's cumulative log-prob overtakes greedy's at step "
            f"{f['crossing_step']}."
        )
    lines.append(f"Best sequence from {f['best_source']}.")
    if not f["proven_optimal"]:
        lines.append(_unproven(f))
    return " ".join(lines)


def _payback(f: dict, k: int) -> str:
    """The sentence on the steps where greedy paid the most after step k."""
    g, b = f["greedy"], f["best"]
    steps = max(len(f["greedy_after"]), len(f["best_after"]))
    if not steps:
        return f"After step {k + 1} neither path has more tokens."
    diffs = [
        (b.decoded.logprobs[t] if t < len(b.decoded) else 0.0)
        - (g.decoded.logprobs[t] if t < len(g.decoded) else 0.0)
        for t in range(k + 1, k + 1 + steps)
    ]
    worst = k + 1 + int(np.argmax(diffs))
    text = f"After it, greedy paid back {f['paid_back']:.3f} nats"
    if worst < len(g.decoded) and max(diffs) > 0:
        h = g.entropy[worst]
        text += (
            f"; most at step {worst + 1}, where it took {_token(g, worst)} "
            f"({_p(g.decoded.logprobs[worst])}) from a distribution of entropy "
            f"{h:.3f} nats (as uncertain as a fair choice among {np.exp(h):.1f} "
            "tokens)"
        )
        if worst < len(b.decoded):
            text += (
                f", while the best path took {_token(b, worst)} "
                f"({_p(b.decoded.logprobs[worst])}, entropy {b.entropy[worst]:.3f})"
            )
        else:
            text += ", after the best path had already ended"
    if not g.decoded.finished:
        text += (
            f". Greedy's sequence did not end within {len(g.decoded)} tokens, so "
            "it is scored as a prefix: the probability that the output starts "
            "with it"
        )
    return text + "."


def _unproven(f: dict) -> str:
    if not f["nodes_expanded"]:
        return (
            "No exact search was run (a node budget of 0), so this is only the "
            "best sequence found, not a proven optimum."
        )
    return (
        "The search budget ran out before this was proven optimal: some "
        f"unexplored sequence could reach log-prob {f['bound']:.3f} at most."
    )


# -------------------------------------------------------------------- survey


@dataclass(frozen=True)
class SurveyRow:
    """One prompt of a survey: greedy's total, the best total and the loss."""

    prompt: str
    greedy_total: float
    best_total: float
    loss: float
    proven_optimal: bool
    diverge_step: int | None
    greedy_tokens: tuple[str, ...]
    best_tokens: tuple[str, ...]


@dataclass(frozen=True)
class GreedySurvey:
    """How often greedy is not the best sequence, and what it loses.

    ``loss_quantiles`` maps 0.5, 0.9 and 1.0 to quantiles of the loss (nats)
    over the prompts where greedy lost (empty when it never did).
    """

    rows: tuple[SurveyRow, ...]
    prompts: int
    greedy_not_best: int
    proven: int
    mean_loss: float
    loss_quantiles: dict

    @property
    def fraction_not_best(self) -> float:
        return self.greedy_not_best / self.prompts if self.prompts else 0.0


def survey_greedy(
    model: LanguageModel,
    prompts: Sequence[Sequence[int] | str],
    *,
    max_tokens: int = 12,
    beam: int = 4,
    node_budget: int = 20_000,
) -> GreedySurvey:
    """:func:`diagnose` every prompt and summarise greedy's losses.

    >>> from seqscore.models.tree import textbook_tree
    >>> s = survey_greedy(textbook_tree(), ["", "A", "B"], max_tokens=4)
    >>> s.greedy_not_best, s.prompts, round(s.rows[0].loss, 4)  # only "" loses
    (1, 3, 0.5878)
    """
    rows = []
    for prompt in prompts:
        d = diagnose(
            model, prompt, max_tokens=max_tokens, beam=beam, node_budget=node_budget
        )
        rows.append(
            SurveyRow(
                prompt=d.prompt,
                greedy_total=d.greedy.decoded.total,
                best_total=d.best.decoded.total,
                loss=d.loss,
                proven_optimal=d.proven_optimal,
                diverge_step=d.diverge_step,
                greedy_tokens=d.greedy.decoded.tokens,
                best_tokens=d.best.decoded.tokens,
            )
        )
    losses = np.array([r.loss for r in rows if r.diverge_step is not None])
    quantiles = (
        {q: float(np.quantile(losses, q)) for q in (0.5, 0.9, 1.0)}
        if len(losses)
        else {}
    )
    return GreedySurvey(
        rows=tuple(rows),
        prompts=len(rows),
        greedy_not_best=len(losses),
        proven=sum(r.proven_optimal for r in rows),
        mean_loss=float(losses.mean()) if len(losses) else 0.0,
        loss_quantiles=quantiles,
    )


def first_greedy_miss(model, max_tokens: int = 12) -> GreedyDiagnosis | None:
    """The diagnosis of the first packaged example prompt
    (:func:`~seqscore.models.examples.example_prompts`) where greedy decoding
    and the most probable sequence both end and differ; None if none does."""
    for example in example_prompts():
        d = diagnose(model, example.prompt, max_tokens=max_tokens)
        ended = d.greedy.decoded.finished and d.best.decoded.finished
        if d.diverge_step is not None and ended:
            return d
    return None
