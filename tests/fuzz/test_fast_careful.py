"""Two paths, one verdict (issue #24 item 1): wherever a reader has a fast
path and a careful one, they give the same records or the same error on
mutated input (bytes cut, inserted, replaced; types flipped; keys dropped).

The pairs:

* every JSON Lines reader: msgspec (``seqscore[fast]``, with ``json``
  deciding what it refuses) against ``json`` alone
  (:data:`seqscore.formats.records.loads_line`), for whole files and lines;
* OpenAI chat completions: the bulk extraction checked in C
  (``openai._chat_fast``) against the field-by-field walk
  (``openai._chat_checked``);
* numbers: ``as_numbers`` / ``as_logprobs`` (one numpy conversion) against
  ``as_number`` / ``as_logprob`` one value at a time;
* ``.npz``: logits memory-mapped (``np.savez``) against streamed
  (``np.savez_compressed``);
* JSON Lines parsed in worker processes (byte ranges of the file) against
  parsed here.

lm-eval samples' typed msgspec records against the careful reader are
proven alike by ``tests/formats/test_lmeval_one_rule.py``.
"""

from __future__ import annotations

import json
import math
import tempfile
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from seqscore.errors import DataFormatError, SeqScoreError
from seqscore.formats import inputs, openai, records
from seqscore.formats.records import (
    as_logprob,
    as_logprobs,
    as_number,
    as_numbers,
    json_lines,
    records_to_prompts,
)
from tests.fuzz.formats import (
    FORMATS,
    mutated_arrays,
    npz_bytes,
    seed_records,
)
from tests.fuzz.harness import (
    canonical,
    read_outcome,
    scaled,
    skipping_known,
    without_msgspec,
    write_case,
)
from tests.fuzz.mutations import (
    ODD_VALUES,
    Draws,
    drawing,
    dump_line,
    mutate_value,
    mutated_line,
)

JSON_FORMATS = sorted(name for name, f in FORMATS.items() if f.parses_json)
#: Formats whose lines the prompt readers convert (for the line test).
CONVERTED = ("seqscore", "openai_chat", "openai_legacy", "openai_batch", "vllm")


# ------------------------------------------------------------ msgspec / json


@pytest.mark.parametrize("name", JSON_FORMATS)
@scaled(2)
@given(data=st.data())
def test_a_mutated_file_reads_alike_with_msgspec_and_json(name, data):
    fmt = FORMATS[name]
    content = data.draw(drawing(fmt.build), label="input")
    with tempfile.TemporaryDirectory() as folder, skipping_known():
        path = write_case(fmt, content, folder)
        fast = read_outcome(fmt, path)
        with without_msgspec():
            careful = read_outcome(fmt, path)
    assert fast == careful


def _line_and_converter(draws: Draws):
    name = draws.choice(CONVERTED)
    converter = inputs._converter(name.split("_")[0], None)
    return mutated_line(draws, draws.choice(seed_records(name))), converter


@scaled(5)
@given(drawing(_line_and_converter))
def test_a_mutated_line_reads_alike_with_msgspec_and_json(case):
    line, convert = case

    def read(loads) -> list:
        parsed = json_lines([(7, line)], "f.jsonl", loads)
        return [canonical(item) for item in records_to_prompts(parsed, convert)]

    assert read(records.loads_line) == read(records._stdlib_loads)


# ------------------------------------------------------------- OpenAI chat


def _chat_content(draws: Draws) -> list:
    """A chat choice's ``logprobs.content``, changed once to three times."""
    record = draws.choice(seed_records(draws.choice(["openai_chat", "openai_batch"])))
    body = record["response"]["body"] if "response" in record else record
    content = body["choices"][draws.randint(0, 1)]["logprobs"]["content"]
    raws: list[bytes] = []
    for _ in range(draws.randint(1, 3)):
        content = mutate_value(draws, json.loads(json.dumps(content)), raws)
    try:
        return json.loads(dump_line(draws, content, raws))
    except (ValueError, RecursionError):
        reject()  # raw text json cannot read: no content to compare
        raise


def _plain(value):
    """Arrays and tuples as lists, NaN as a string: the two paths' results
    in one form (the fast path gives an (n, k) array where the careful one
    gives a tuple of rows)."""
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


@given(drawing(_chat_content))
def test_the_chat_fast_path_reads_only_what_the_careful_one_reads(content):
    try:
        fast = openai._chat_fast(content)
    except (KeyError, TypeError, ValueError, AttributeError):
        return  # the careful path decides: the reader calls it
    assert _plain(fast) == _plain(openai._chat_checked(content, "w"))


# ------------------------------------------------------------------ numbers

NUMBERS = st.one_of(
    st.sampled_from(ODD_VALUES),
    st.floats(),
    st.integers(),
    st.sampled_from([-1.5, -0.0, 0.0, -np.inf, 1e-8, 2e-7, -(2**63)]),
)


def _one_by_one(read_one, values: list, ndim: int):
    """``read_one`` of each value (rows of equal length for ``ndim`` 2):
    the careful reading, or its first error's message."""
    try:
        if ndim == 1:
            return np.array([read_one(v, f"w[{i}]") for i, v in enumerate(values)])
        rows = [
            [read_one(v, f"w[{i}][{j}]") for j, v in enumerate(row)]
            for i, row in enumerate(values)
        ]
        if len({len(row) for row in rows}) > 1:
            return "ragged"
        return np.array(rows)
    except (DataFormatError, TypeError) as exc:  # TypeError: a row not a list
        return str(exc)


def _at_once(read_all, values: list, ndim: int):
    try:
        return read_all(values, "w", ndim)
    except DataFormatError as exc:
        return str(exc)


@pytest.mark.parametrize(
    ("read_all", "read_one"), [(as_numbers, as_number), (as_logprobs, as_logprob)]
)
@scaled(5)
@given(
    st.one_of(
        st.tuples(st.lists(NUMBERS, max_size=4), st.just(1)),
        st.tuples(
            st.lists(st.lists(NUMBERS, min_size=1, max_size=3), min_size=1, max_size=3),
            st.just(2),
        ),
    )
)
def test_numbers_read_at_once_as_one_by_one(read_all, read_one, case):
    values, ndim = case
    fast = _at_once(read_all, values, ndim)
    careful = _one_by_one(read_one, values, ndim)
    if isinstance(fast, str) or isinstance(careful, str):
        # both refuse; as_numbers names the same first bad value (log-probs
        # are checked as numbers first, then for their sign: the first
        # fault named may differ; rows are named as a whole)
        assert isinstance(fast, str) and isinstance(careful, str), (fast, careful)
        if ndim == 1 and read_all is as_numbers:
            assert fast == careful
        return
    assert fast.dtype == np.float64
    np.testing.assert_array_equal(fast.reshape(careful.shape), careful)


# --------------------------------------------------------------------- npz


@given(drawing(mutated_arrays))
def test_an_npz_reads_alike_memory_mapped_and_streamed(arrays):
    fmt = FORMATS["npz"]
    outcomes = []
    with tempfile.TemporaryDirectory() as folder:
        for compressed in (False, True):
            path = write_case(fmt, npz_bytes(arrays, compressed), folder)
            outcomes.append(read_outcome(fmt, path))
    assert outcomes[0] == outcomes[1]


# ------------------------------------------------------------------ workers


def _in_order(function, items, workers, *args, **kwargs):
    """``ordered_map`` in this process: the workers' code, without the cost
    of starting processes for every example (spawned, they import seqscore)."""
    return map(function, items)


def _serial_and_parallel(path: str) -> list:
    found = []
    for workers in (1, 2):
        try:
            with inputs.map_prompts(path, inputs._same, workers=workers) as (_, items):
                found.append([canonical(item) for item in items])
        except SeqScoreError as exc:
            found.append(f"{type(exc).__name__}: {exc}")
    return found


@given(data=st.data())
def test_lines_read_alike_in_worker_processes_and_here(data):
    fmt = FORMATS[data.draw(st.sampled_from(CONVERTED))]
    lines = [data.draw(drawing(fmt.build)) for _ in range(3)]
    with (
        tempfile.TemporaryDirectory() as folder,
        mock.patch.object(inputs, "CHUNK_BYTES", 256),  # several chunks a file
        mock.patch.object(inputs, "ordered_map", _in_order),
    ):
        path = write_case(fmt, b"".join(lines), folder)
        serial, parallel = _serial_and_parallel(path)
    assert serial == parallel
