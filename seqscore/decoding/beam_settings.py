"""A beam search's settings, read by both steps.

The plain step of :mod:`.beam` and the batched steps of :mod:`.beam_batch`
(numpy and compiled) take the same checked settings and the same divisors
from here, so the two cannot drift apart in how they score and stop.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqscore.decoding.protocol import check_count, check_max_tokens
from seqscore.errors import InvalidInputError
from seqscore.numerics._arrays import check_finite
from seqscore.numerics.reductions import penalty_divisor

__all__ = ["BeamSettings"]


@dataclass(frozen=True)
class BeamSettings:
    """A beam search's settings, checked: ``width`` beams, at most
    ``max_tokens`` steps, scores ``total / length ** length_penalty``, and
    :mod:`.beam`'s stopping rule ``early_stopping``. Every step
    implementation (the plain one of :mod:`.beam`, the batched ones of
    :mod:`.beam_batch`) takes its divisors from here."""

    max_tokens: int
    width: int
    length_penalty: float
    early_stopping: bool | str

    @classmethod
    def checked(cls, max_tokens, width, length_penalty, early_stopping):
        if early_stopping not in (True, False, "never"):
            raise InvalidInputError(
                f"early_stopping must be True, False or 'never', got {early_stopping!r}"
            )
        if early_stopping != "never":
            early_stopping = bool(early_stopping)  # 1 and 0 mean what they say
        return cls(
            check_max_tokens(max_tokens),
            check_count(width, "beam width"),
            check_finite(length_penalty, "length_penalty"),
            early_stopping,
        )

    def score_divisor(self, step: int) -> float:
        """What a hypothesis of ``step`` tokens divides its total by."""
        return penalty_divisor(step, self.length_penalty)

    def stop_divisor(self, step: int) -> float:
        """What the best running beam's total is divided by before it is
        compared with the worst finished score after ``step`` steps."""
        never = self.early_stopping == "never" and self.length_penalty > 0
        return penalty_divisor(self.max_tokens if never else step, self.length_penalty)
