"""The log-prob clamp rule: readers and TokenScores read a value alike."""

import numpy as np
import pytest

from seqscore.errors import DataFormatError, InvalidInputError
from seqscore.formats.records import as_logprob, as_logprobs
from seqscore.numerics.clamp import POSITIVE_TOLERANCE
from seqscore.scoring.candidates import TokenScores

ROUNDED = POSITIVE_TOLERANCE / 2  # a float32 rounding above 0


def test_a_tolerated_rounding_reads_as_zero_everywhere():
    given = np.array([-1.5, ROUNDED, -0.0])
    expected = [-1.5, 0.0, -0.0]
    assert TokenScores(given).logprob.tolist() == expected
    assert as_logprobs(given.tolist(), "x").tolist() == expected
    assert [as_logprob(v, "x") for v in given.tolist()] == expected
    assert given[1] == ROUNDED  # the caller's array is left alone


def test_past_the_tolerance_both_name_the_position():
    value = 2 * POSITIVE_TOLERANCE
    with pytest.raises(InvalidInputError, match=r"^logprobs\[1\]: 2e-06 is positive"):
        TokenScores([-1.0, value])
    with pytest.raises(DataFormatError, match=r"^x\[1\]: 2e-06 is positive"):
        as_logprobs([-1.0, value], "x")
