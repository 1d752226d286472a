"""Every reader on mutated inputs of its format (issue #24).

Inputs are built from valid fixture records, then broken at the structure
level (types flipped, keys dropped, renamed or repeated, lists emptied or
reshaped, NaN, huge numbers, raw text ``json.dumps`` cannot write) and at
the byte level (bytes cut, inserted, replaced, lines truncated, bad UTF-8):
see :mod:`tests.fuzz.mutations`. Whatever the input, the reader raises
nothing but seqscore's errors, and no warning; an error names the file;
every rejection names its place; in JSON Lines every non-blank line is read
or rejected (:func:`tests.fuzz.harness.check_reading`). A known escape
(:data:`tests.fuzz.harness.KNOWN`, pinned by a strict xfail) is left out.
"""

from __future__ import annotations

import tempfile
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.formats import FORMATS
from tests.fuzz.harness import (
    check_reading,
    read_outcome,
    scaled,
    skipping_known,
    write_case,
)
from tests.fuzz.mutations import drawing


@pytest.mark.parametrize("name", sorted(FORMATS))
@scaled(3)
@given(data=st.data())
def test_a_mutated_input_is_read_or_rejected_by_its_reader(name, data):
    fmt = FORMATS[name]
    content = data.draw(drawing(fmt.build), label="input")
    with tempfile.TemporaryDirectory() as folder:
        path = write_case(fmt, content, folder)
        with warnings.catch_warnings(), skipping_known():
            warnings.simplefilter("error")
            outcome = read_outcome(fmt, path)
        check_reading(fmt, path, content, outcome)
