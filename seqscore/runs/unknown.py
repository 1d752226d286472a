"""Candidates a model read with its unknown-word token, counted over a run.

The built-in model knows 1,000 words; every other word is one token,
``<unk>``, whatever it was. " Paris" and " Lyon" are then the same
candidate to it and tie, silently. A run counts the candidates that hit
the unknown token as their prompts stream past (:meth:`UnknownWords.seen`,
the prompts unchanged), and the command says so once, at the end, on
stderr (:func:`~seqscore.commands.score_output.note_unknown`): the library
never prints, and the count is only known once every prompt was scored.

A model takes part by naming its unknown token's id, ``unk_id`` (the
built-in model does); a byte-level tokenizer has no unknown token, and
GPT-2's ``unk_token`` is its end of text, which a candidate may well end
with, so Hugging Face models do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from seqscore.scoring.candidates import Prompt

__all__ = ["UnknownWords"]

#: Candidates named in the warning, as examples (the count covers all).
EXAMPLES = 3


@dataclass
class UnknownWords:
    """How many scored candidates hold ``unk_id`` (``hit``, of
    ``candidates``), how many of those have the very ids of another
    candidate of their prompt (``tied``: the model cannot tell them apart,
    so they score the same), and the first few as ``(prompt id, candidate
    id, token texts)``.

    >>> from seqscore.scoring.candidates import Candidate, TokenScores
    >>> def candidate(name, ids):
    ...     tokens = TokenScores([-1.0] * len(ids), token_id=np.array(ids),
    ...                          token=tuple("<unk>" if i == 0 else "w" for i in ids))
    ...     return Candidate(name, tokens)
    >>> prompt = Prompt("q", (candidate("a", [0]), candidate("b", [0]),
    ...                       candidate("c", [5])))
    >>> unknown = UnknownWords(unk_id=0, token="<unk>")
    >>> [p.id for p in unknown.seen([prompt])], unknown.hit, unknown.candidates
    (['q'], 2, 3)
    >>> unknown.tied  # a and b are both one <unk>
    2
    >>> unknown.examples[0]
    ('q', 'a', ('<unk>',))
    """

    unk_id: int
    token: str
    hit: int = 0
    candidates: int = 0
    tied: int = 0
    examples: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    @classmethod
    def of(cls, model) -> UnknownWords | None:
        """A count for ``model``'s unknown token; None for a model without
        one (see the module notes)."""
        unk_id = getattr(model, "unk_id", None)
        if unk_id is None:
            return None
        return cls(int(unk_id), str(model.vocab[unk_id]))

    def seen(self, items: Iterable) -> Iterator:
        """``items`` unchanged, counting the candidates of each
        :class:`~seqscore.scoring.Prompt` among them (a rejected record
        passes uncounted)."""
        for item in items:
            if isinstance(item, Prompt):
                self.add(item)
            yield item

    def add(self, prompt: Prompt) -> None:
        """Count ``prompt``'s candidates that hold the unknown token."""
        hits: dict[tuple[int, ...], int] = {}
        for candidate in prompt.candidates:
            tokens = candidate.tokens
            if tokens is None or tokens.token_id is None:
                continue
            self.candidates += 1
            ids = tuple(np.asarray(tokens.token_id).tolist())
            if self.unk_id in ids:
                self.hit += 1
                hits[ids] = hits.get(ids, 0) + 1
                if len(self.examples) < EXAMPLES:
                    texts = tokens.token or ()
                    self.examples.append((prompt.id, candidate.id, tuple(texts)))
        self.tied += sum(n for n in hits.values() if n > 1)
