r"""Teacher forcing: per-token statistics of given continuations of a prompt.

For a prompt :math:`c` and a candidate continuation :math:`x_1..x_n`, step
:math:`t` feeds the model :math:`c, x_{<t}` and reads the distribution over
:math:`x_t`. From that one distribution the token kernel
(:func:`seqscore.kernels.token_stats`) gives the candidate token's log-prob,
its rank, the argmax token and its log-prob, and the entropy -- the same
quantities, by the same code, as for logits read from a file. (Log-probs are
valid logits: their log-softmax is themselves.)

This is what the scorer needs to score candidates against a model
(for example the built-in one, on the packaged example prompts) and what the
greedy-versus-best diagnostics use to read both paths.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidInputError
from ..kernels import token_stats
from ..scoring import TokenScores, token_scores_from_stats
from .protocol import LanguageModel, check_prompt, next_logprobs

__all__ = ["teacher_force", "teacher_force_text"]

# prefixes per model call: bounds the (rows, V) block held at once
_CHUNK = 256


def teacher_force(
    model: LanguageModel,
    prompt: Sequence[int],
    continuations: Sequence[Sequence[int]],
) -> tuple[TokenScores, ...]:
    """Score each continuation of ``prompt`` token by token (ids in, stats out).

    All prefixes of all continuations go to the model in batches of 256, and
    one kernel pass reads them; each continuation gets the scorer's
    :class:`~seqscore.scoring.TokenScores` (``is_argmax`` as lm-eval defines
    it: the token is the first argmax of its step).

    >>> from seqscore.models.tree import textbook_tree
    >>> tree = textbook_tree()
    >>> a, b = teacher_force(tree, [], [tree.encode("A C <eos>"),
    ...                                 tree.encode("B C <eos>")])
    >>> np.exp(a.logprob).round(4).tolist(), a.is_argmax.tolist()
    ([0.6, 0.3333, 1.0], [True, True, True])
    >>> np.exp(b.logprob).round(4).tolist(), b.is_argmax.tolist()
    ([0.4, 0.9, 1.0], [False, True, True])
    >>> round(float(np.exp(b.total)), 6), tree.vocab[b.argmax_id[0]]
    (0.36, 'A')
    """
    prompt = check_prompt(model, prompt)
    candidates = [_check_continuation(model, c, i) for i, c in enumerate(continuations)]
    prefixes = [(*prompt, *c[:t]) for c in candidates for t in range(len(c))]
    targets = np.array([tok for c in candidates for tok in c], dtype=np.int64)
    rows = [
        next_logprobs(model, prefixes[i : i + _CHUNK])
        for i in range(0, len(prefixes), _CHUNK)
    ]
    vocab_size = len(model.vocab)
    logprobs = np.concatenate(rows) if rows else np.zeros((0, vocab_size))
    stats = token_stats(logprobs, targets)
    out, start = [], 0
    for ids in candidates:
        span = slice(start, start + len(ids))
        start = span.stop
        tokens = tuple(model.vocab[i] for i in ids)
        out.append(token_scores_from_stats(stats, span, ids, tokens))
    return tuple(out)


def teacher_force_text(
    model: LanguageModel, prompt: str, candidates: Sequence[str]
) -> tuple[TokenScores, ...]:
    """:func:`teacher_force` on text: the prompt and candidates go through
    ``model.encode`` (for the built-in model a final ``"."`` is ``<eos>``).

    >>> from seqscore.models.tree import textbook_tree
    >>> (b,) = teacher_force_text(textbook_tree(), "B", ["C <eos>"])
    >>> np.exp(b.logprob).round(3).tolist(), b.entropy.round(3).tolist()
    ([0.9, 1.0], [0.394, 0.0])
    """
    return teacher_force(
        model, model.encode(prompt), [model.encode(c) for c in candidates]
    )


def _check_continuation(model, ids, index: int) -> tuple[int, ...]:
    try:
        return check_prompt(model, ids)
    except InvalidInputError as exc:
        message = str(exc).replace("prompt[", f"continuation {index}, token [", 1)
        raise InvalidInputError(message) from None
