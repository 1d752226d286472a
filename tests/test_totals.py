"""The sequence sums of seqscore.totals: each rule, and where they part."""

import numpy as np
import pytest

from seqscore.decoding.beam import beam_search
from seqscore.decoding.sampling import sample
from seqscore.models.builtin import load_builtin
from seqscore.scoring import Candidate, TokenScores
from seqscore.totals import row_totals, running_total, sequence_logprob


def test_rows_are_the_running_totals_bit_for_bit():
    values = -np.random.default_rng(0).exponential(size=(5, 300))
    lengths = np.array([0, 1, 9, 200, 300])
    expected = [
        running_total(v[:n].tolist()) for v, n in zip(values, lengths, strict=False)
    ]
    assert row_totals(values, lengths).tolist() == expected


def test_every_decoder_total_is_the_running_total_of_its_steps():
    model = load_builtin()
    prompt = model.encode("if the")
    paths = [
        *sample(model, prompt, 30, rng=np.random.default_rng(0), num_samples=8),
        *beam_search(model, prompt, 12, width=3, length_penalty=0.0).hypotheses,
    ]
    assert any(len(d.ids) >= 8 for d in paths)  # where the two rules may part
    for decoded in paths:
        assert decoded.total == running_total(decoded.logprobs)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_the_scorer_and_the_decoders_agree_below_eight_tokens(n):
    steps = (-np.random.default_rng(n).exponential(size=n)).tolist()
    assert Candidate("c", TokenScores(steps)).total == running_total(steps)


def test_from_eight_tokens_the_scorer_keeps_numpys_pairwise_sum():
    steps = [-0.1] * 10
    assert Candidate("c", TokenScores(steps)).total == float(np.sum(steps)) == -1.0
    assert running_total(steps) == -0.9999999999999999
    assert sequence_logprob(steps) - running_total(steps) == pytest.approx(0, abs=1e-15)
