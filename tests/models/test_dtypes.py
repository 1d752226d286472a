r"""bfloat16 and float16 scores agree with float32's within what the dtype allows.

The bound, from the dtype's unit roundoff :math:`u` (half its machine
epsilon: bfloat16 :math:`2^{-8}`, float16 :math:`2^{-11}`). A log-prob is
:math:`\ell_t = z_t - \operatorname{logsumexp}(z)`; if every logit is off by
at most :math:`\delta`, :math:`\ell_t` is off by at most :math:`2\delta`
(:math:`\delta` from :math:`z_t`, at most :math:`\delta` from the
logsumexp, a convex combination of the errors). To first order each of the
model's :math:`k = 2L + 2` sublayers (the embeddings; the attention and the
MLP of each of its :math:`L` blocks; the final norm with the head) adds a
rounding error of about :math:`u` relative to the scale of the logits, so
:math:`\delta \le k u \max_i |z_i|`, and a token's log-prob may be off by
:math:`2 k u \max_i |z_i|` (the row's float32 logits); a candidate's sum by
the sum of its tokens' bounds. Measured on the 2-layer model here
(:math:`k = 6`): the logits were off by at most 4.4 u (bfloat16) and 3.8 u
(float16) of their scale, a log-prob by at most 1.5 u and 1.9 u; the bound
allows 12 u.

Two candidates whose float32 sums differ by more than the sum of their
bounds are then ranked alike in every dtype: checked end to end, through
``load_hf(dtype=...)`` (``--dtype``) and :func:`score_texts`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqscore.models.hf import HFModel, load_hf
from seqscore.models.loglikelihood import (
    TextCandidate,
    TextPrompt,
    prompt_requests,
    score_texts,
)
from seqscore.models.requests import Request
from tests.tiny_lm import bpe_tokenizer, save_tiny_gpt2, tiny_gpt2

#: Unit roundoff u (half the machine epsilon) of each half dtype.
ROUNDOFF = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}


def _k(model) -> int:
    """The sublayers that round: embeddings, 2 a block, final norm + head."""
    return 2 * model.config.n_layer + 2


@pytest.fixture(scope="module")
def tokenizer():
    return bpe_tokenizer()


def _requests(vocab: int) -> list[Request]:
    """Contexts shared by 3 continuations each, and a lone empty context."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(6):
        context = tuple(int(t) for t in rng.integers(0, vocab, rng.integers(2, 20)))
        for _ in range(3):
            tail = rng.integers(0, vocab, rng.integers(1, 8))
            out.append(Request(context, tuple(int(t) for t in tail)))
    return [*out, Request((), (5, 6, 7))]


def _rows(adapter: HFModel, requests, share: bool) -> list[np.ndarray]:
    """Each request's logits rows (float32, one a continuation token)."""
    rows: list = [None] * len(requests)
    for block in adapter.continuation_logits(requests, share_contexts=share):
        ends = [*block.offsets[1:], len(block.logits)]
        for r, start, end in zip(block.requests, block.offsets, ends, strict=True):
            rows[r] = block.logits[start:end].astype(np.float64)
    return rows


def _log_probs(rows: np.ndarray, targets) -> np.ndarray:
    top = rows.max(axis=1, keepdims=True)
    norm = top[:, 0] + np.log(np.exp(rows - top).sum(axis=1))
    return rows[np.arange(len(targets)), list(targets)] - norm


@pytest.mark.parametrize("dtype", list(ROUNDOFF), ids=str)
def test_half_precision_log_probs_are_within_the_rounding_bound(tokenizer, dtype):
    model = tiny_gpt2(tokenizer)
    requests = _requests(len(tokenizer))
    exact = HFModel(model)
    half = HFModel(tiny_gpt2(tokenizer).to(dtype))
    factor = 2 * _k(model) * ROUNDOFF[dtype]
    for share in (True, False):  # packed rows, whole sequences
        for request, want, got in zip(
            requests,
            _rows(exact, requests, share),
            _rows(half, requests, share),
            strict=True,
        ):
            bound = factor * np.abs(want).max(axis=1)
            error = np.abs(
                _log_probs(got, request.continuation)
                - _log_probs(want, request.continuation)
            )
            assert (error <= bound).all(), (request, error, bound)
            print("RATIO", (error / bound * factor / ROUNDOFF[dtype]).max())
            assert error.sum() <= bound.sum()
    # decoding: whole prefixes, then one token after the kept keys
    for step in ([[3, 4], [9, 10, 11], []], [[3, 4, 5], [9, 10, 11, 12], [7]]):
        want = exact.next_logprobs(step)
        got = half.next_logprobs(step)
        logits = [_last_logits(model, p, exact.bos_id) for p in step]
        bound = factor * np.abs(np.stack(logits)).max(axis=1)
        assert (np.abs(got - want).max(axis=1) <= bound).all()


def _last_logits(model, prefix, bos: int) -> np.ndarray:
    with torch.inference_mode():
        ids = torch.tensor([list(prefix) or [bos]])
        return model(input_ids=ids).logits[0, -1].numpy()


def _prompts() -> list[TextPrompt]:
    """Multiple-choice prompts cut from the tokenizer's own training text."""
    from pydoc_data.topics import topics

    words = " ".join(topics[k] for k in sorted(topics)).split()
    rng = np.random.default_rng(1)

    def text(low: int, high: int) -> str:
        at = int(rng.integers(0, len(words) - high))
        return " ".join(words[at : at + int(rng.integers(low, high))])

    return [
        TextPrompt(
            f"p{i}",
            text(4, 16),
            tuple(TextCandidate(c, " " + text(1, 5)) for c in "abcd"),
        )
        for i in range(12)
    ]


def test_dtype_flag_ranks_clearly_separated_candidates_as_float32_does(tmp_path):
    folder = save_tiny_gpt2(tmp_path / "model")
    prompts = _prompts()
    exact = load_hf(folder)
    scale = max(
        float(np.abs(rows).max())
        for prompt in prompts
        for rows in _rows(exact, prompt_requests(exact, prompt)[0], share=True)
    )
    want = score_texts(exact, prompts)
    compared = 0
    for name, dtype in (("bfloat16", torch.bfloat16), ("float16", torch.float16)):
        model = load_hf(folder, dtype=name)
        assert next(model.model.parameters()).dtype == dtype
        per_token = 2 * _k(model.model) * ROUNDOFF[dtype] * scale
        for ours, theirs in zip(score_texts(model, prompts), want, strict=True):
            for a, x in zip(ours, theirs, strict=True):
                assert x.n_tokens is not None
                assert abs(a.score - x.score) <= per_token * x.n_tokens
            for i, x in enumerate(theirs):
                for j, y in enumerate(theirs):
                    apart = x.score - y.score
                    if apart > per_token * (x.n_tokens + y.n_tokens):
                        compared += 1
                        assert ours[i].score > ours[j].score
                        assert ours[i].rank < ours[j].rank
    print("COMPARED", compared)
    assert compared >= 20  # enough clearly separated pairs to mean something
