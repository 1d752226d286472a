r"""Teacher forcing: per-token statistics of given continuations of a prompt.

For a prompt :math:`c` and a candidate continuation :math:`x_1..x_n`, step
:math:`t` feeds the model :math:`c, x_{<t}` and reads the distribution over
:math:`x_t`. From that one distribution the token kernel
(:func:`seqscore.numerics.kernels.token_stats`) gives the candidate token's log-prob,
its rank, the argmax token and its log-prob, and the entropy -- the same
quantities, by the same code, as for logits read from a file. (Log-probs are
valid logits: their log-softmax is themselves.)

This is what the scorer needs to score candidates against a model
(for example the built-in one, on the packaged example prompts) and what the
greedy-versus-best diagnostics use to read both paths.
"""

from __future__ import annotations

from collections.abc import Sequence

from seqscore.decoding.protocol import LanguageModel, check_prompt
from seqscore.errors import InvalidInputError
from seqscore.models.loglikelihood import request_token_scores
from seqscore.models.requests import Request
from seqscore.scoring.candidates import TokenScores

__all__ = ["teacher_force", "teacher_force_text"]


def teacher_force(
    model: LanguageModel,
    prompt: Sequence[int],
    continuations: Sequence[Sequence[int]],
) -> tuple[TokenScores, ...]:
    """Score each continuation of ``prompt`` token by token (ids in, stats out).

    This is :func:`seqscore.models.loglikelihood.request_token_scores` on ids: a
    sequence model (Hugging Face) runs one forward pass per continuation,
    any other model is asked for all prefixes of all continuations, 256 per
    call; each continuation gets the scorer's
    :class:`~seqscore.scoring.TokenScores` (``is_argmax`` as lm-eval defines
    it: the token is the first argmax of its step).

    >>> import numpy as np
    >>> from seqscore.models.tree import textbook_tree
    >>> tree = textbook_tree()
    >>> a, b = teacher_force(tree, [], [tree.encode("A C <eos>"),
    ...                                 tree.encode("B C <eos>")])
    >>> np.exp(a.logprob).round(4).tolist(), a.is_argmax.tolist()
    ([0.6, 0.3333, 1.0], [True, True, True])
    >>> np.exp(b.logprob).round(4).tolist(), b.is_argmax.tolist()
    ([0.4, 0.9, 1.0], [False, True, True])
    >>> from seqscore.numerics.totals import sequence_logprob
    >>> round(float(np.exp(sequence_logprob(b.logprob))), 6), tree.vocab[b.argmax_id[0]]
    (0.36, 'A')
    """
    prompt = check_prompt(model, prompt)
    candidates = [_check_continuation(model, c, i) for i, c in enumerate(continuations)]
    return tuple(request_token_scores(model, [Request(prompt, c) for c in candidates]))


def teacher_force_text(
    model: LanguageModel, prompt: str, candidates: Sequence[str]
) -> tuple[TokenScores, ...]:
    """:func:`teacher_force` on text: the prompt and candidates go through
    ``model.encode`` (for the built-in model a final ``"."`` is ``<eos>``).

    >>> import numpy as np
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
