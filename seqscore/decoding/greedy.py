r"""Greedy decoding: the most probable token at every step.

:math:`x_{t+1} = \arg\max_v \log p(v \mid \mathrm{prompt}, x_{\le t})`, ties
going to the smallest id (``numpy.argmax`` and ``torch.argmax`` agree), until
EOS or ``max_tokens``. This is Hugging Face's ``generate(do_sample=False,
num_beams=1)``. Greedy maximises each factor, not the product: see
:mod:`seqscore.diagnostics` for why that can lose.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from seqscore.decoding.protocol import (
    Decoded,
    LanguageModel,
    check_max_tokens,
    check_prompt,
    make_decoded,
    next_logprobs,
)

__all__ = ["greedy"]


def greedy(model: LanguageModel, prompt: Sequence[int], max_tokens: int) -> Decoded:
    """Greedy continuation of ``prompt`` (ids), at most ``max_tokens`` tokens.

    >>> from seqscore.models.tree import textbook_tree
    >>> d = greedy(textbook_tree(), [], max_tokens=5)
    >>> d.tokens, round(d.probability, 6)  # 0.6 x 1/3 x 1
    (('A', 'C', '<eos>'), 0.2)
    """
    prefix = list(check_prompt(model, prompt))
    max_tokens = check_max_tokens(max_tokens)
    ids: list[int] = []
    logprobs: list[float] = []
    while len(ids) < max_tokens:
        row = next_logprobs(model, [prefix])[0]
        token = int(np.argmax(row))
        ids.append(token)
        logprobs.append(float(row[token]))
        prefix.append(token)
        if token == model.eos_id:
            break
    return make_decoded(model, ids, logprobs)
