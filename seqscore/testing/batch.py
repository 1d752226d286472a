r"""Candidates as a scorer receives them, in either layout.

A :class:`SequenceCase` is one candidate: the logits that score its tokens
(row ``t`` predicts ``token_ids[t]``) and the prompt around them, so that it
can be handed to a scorer in the *aligned* layout (the scored rows only) or
the *causal* layout (a causal LM's output over the whole sequence, where the
logits at position ``p`` predict token ``p + 1``). A :class:`CandidateBatch`
is a ragged batch of them, padded on demand.

The scorer signatures (see :mod:`seqscore.testing`)::

    aligned:  scorer(logits (B, W, V), token_ids (B, W), lengths (B,))
    causal:   scorer(logits (B, W, V), input_ids (B, W), lengths (B,),
                     n_context (B,))

``lengths`` counts the scored tokens (aligned) or the whole sequence, prompt
included (causal); entries past a sequence's length are padding.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from seqscore.numerics.kernels import token_logprobs

__all__ = ["LAYOUTS", "CandidateBatch", "SequenceCase"]

LAYOUTS = ("aligned", "causal")


@dataclass(frozen=True)
class SequenceCase:
    """One candidate and the prompt it continues.

    ``logits`` ``(n, V)`` scores ``token_ids`` ``(n,)``; ``context_ids``
    ``(c,)`` is the prompt (``c >= 1``) and ``context_logits`` ``(c - 1, V)``
    the causal rows that predict its tokens 1..c-1; ``final_logits`` ``(V,)``
    is the causal row after the last token, which no correct scorer reads.
    """

    logits: np.ndarray
    token_ids: np.ndarray
    context_ids: np.ndarray
    context_logits: np.ndarray
    final_logits: np.ndarray

    @property
    def vocab(self) -> int:
        return self.logits.shape[1]

    def causal(self) -> tuple[np.ndarray, np.ndarray]:
        """``(logits (L, V), input_ids (L,))`` over the whole sequence."""
        rows = np.concatenate(
            [self.context_logits, self.logits, self.final_logits[None, :]]
        )
        return rows, np.concatenate([self.context_ids, self.token_ids])

    def reference(self) -> float:
        """The correct score: the sum of the tokens' log-softmax (float64)."""
        return float(np.sum(token_logprobs(self.logits, self.token_ids)))

    def magnitude(self) -> float:
        r""":math:`\sum_t (|z_t| + |\mathrm{lse}_t| + |\ell_t| + \log_2 V + 2)`.

        The first-order rounding-error coefficient of a float computation of
        the score (as in :mod:`seqscore.audit.noise`); laws compare scores to
        a tolerance proportional to it.
        """
        lp = token_logprobs(self.logits, self.token_ids)
        z = self.logits[np.arange(len(self.token_ids)), self.token_ids]
        z = z.astype(np.float64)
        with np.errstate(invalid="ignore"):
            lse = np.where(np.isfinite(z), z - lp, 0.0)
        finite = np.isfinite(lp)
        per_step = np.abs(np.where(finite, z, 0)) + np.abs(lse)
        per_step += np.abs(np.where(finite, lp, 0)) + np.log2(max(self.vocab, 2)) + 2
        return float(per_step.sum())

    def shifted(self, step: int, constant: float) -> SequenceCase:
        """This case with ``constant`` added to every logit of ``step``."""
        logits = self.logits.copy()
        logits[step] = (logits[step].astype(np.float64) + constant).astype(logits.dtype)
        return replace(self, logits=logits)

    def extended(self, token: int, row: np.ndarray) -> SequenceCase:
        """One more token, scored by the old final row; ``row`` becomes final."""
        return replace(
            self,
            logits=np.concatenate([self.logits, self.final_logits[None, :]]),
            token_ids=np.append(self.token_ids, token),
            final_logits=np.asarray(row, dtype=self.logits.dtype),
        )

    def relabelled(self, permutation: np.ndarray) -> SequenceCase:
        """Token ``k`` renamed ``permutation[k]``, its logits moved with it."""
        inverse = np.argsort(permutation)
        return SequenceCase(
            logits=self.logits[:, inverse],
            token_ids=permutation[self.token_ids],
            context_ids=permutation[self.context_ids],
            context_logits=self.context_logits[:, inverse],
            final_logits=self.final_logits[inverse],
        )

    def describe(self, layout: str) -> str:
        """The case as a scorer sees it, for failure messages."""
        if layout == "causal":
            rows, ids = self.causal()
            return (
                f"input_ids={ids.tolist()} n_context={len(self.context_ids)}\n"
                f"    logits={_rows(rows)}"
            )
        return f"token_ids={self.token_ids.tolist()}\n    logits={_rows(self.logits)}"


def _rows(rows: np.ndarray) -> str:
    text = np.array2string(
        rows.astype(np.float64), precision=6, separator=", ", threshold=200
    )
    return text.replace("\n", "\n" + " " * 11) + f" ({rows.dtype})"


@dataclass(frozen=True)
class CandidateBatch:
    """A ragged batch of :class:`SequenceCase` sharing a vocabulary and dtype."""

    cases: tuple[SequenceCase, ...]

    def __len__(self) -> int:
        return len(self.cases)

    @property
    def vocab(self) -> int:
        return self.cases[0].vocab

    @property
    def dtype(self) -> np.dtype:
        return self.cases[0].logits.dtype

    def natural_width(self, layout: str) -> int:
        """The narrowest padded width that holds every candidate."""
        if layout == "causal":
            return max(len(c.causal()[1]) for c in self.cases)
        return max(len(c.token_ids) for c in self.cases)

    def arrays(self, layout: str, width: int | None = None, pad=(0.0, 0)) -> tuple:
        """The scorer's arguments, padded to ``width`` with ``pad`` = (logit, id)."""
        width = self.natural_width(layout) if width is None else width
        pad_logit, pad_id = pad
        logits = np.full((len(self), width, self.vocab), pad_logit, self.dtype)
        ids = np.full((len(self), width), pad_id, np.int64)
        lengths = np.zeros(len(self), np.int64)
        context = np.zeros(len(self), np.int64)
        for b, case in enumerate(self.cases):
            rows, tokens = (
                case.causal() if layout == "causal" else (case.logits, case.token_ids)
            )
            logits[b, : len(tokens)] = rows
            ids[b, : len(tokens)] = tokens
            lengths[b] = len(tokens)
            context[b] = len(case.context_ids)
        if layout == "causal":
            return logits, ids, lengths, context
        return logits, ids, lengths

    def references(self) -> np.ndarray:
        """The correct score of every candidate."""
        return np.array([c.reference() for c in self.cases])

    def with_case(self, index: int, case: SequenceCase) -> CandidateBatch:
        cases = list(self.cases)
        cases[index] = case
        return CandidateBatch(tuple(cases))

    def describe(self, layout: str) -> str:
        lines = [f"{len(self)} candidate(s), vocabulary {self.vocab}, {self.dtype}"]
        lines += [
            f"  candidate {b}: {case.describe(layout)}"
            for b, case in enumerate(self.cases)
        ]
        return "\n".join(lines)
