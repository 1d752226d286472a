"""The commands that read each format, in process, on mutated inputs (issue
#24): exit code 0, 1 or 2, no exception but ``SystemExit``, an error line
naming the file, and with ``--on-error skip`` every record the reader read
in the output (or rejected when scored) and every record it rejected in the
rejects file (:func:`tests.fuzz.harness.check_command`). The commands of
formats parsed by msgspec say the same without it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.formats import FORMATS, Format
from tests.fuzz.harness import (
    check_command,
    read_outcome,
    run_command,
    scaled,
    skipping_known,
    without_msgspec,
    write_case,
)
from tests.fuzz.mutations import drawing

JSON_FORMATS = sorted(name for name, f in FORMATS.items() if f.parses_json)


def _run_all(fmt: Format, content: bytes) -> list[tuple]:
    """Every command of ``fmt`` on ``content``, each checked: its exit
    code, output, errors and rejects file (the input's folder as ``~``)."""
    runs = []
    with tempfile.TemporaryDirectory() as folder, skipping_known():
        path = write_case(fmt, content, folder)
        outcome = read_outcome(fmt, path)
        rejects = os.path.join(folder, "rejects.jsonl")
        for args in fmt.commands:
            run = run_command(fmt, args, path, rejects)
            check_command(fmt, run, path, rejects, outcome)
            kept = Path(rejects).read_text() if os.path.exists(rejects) else ""
            said = [run.stdout, run.stderr, kept]
            runs.append((run.exit_code, *(s.replace(folder, "~") for s in said)))
            if kept:
                os.unlink(rejects)
    return runs


@pytest.mark.parametrize("name", sorted(FORMATS))
@scaled(2)
@given(data=st.data())
def test_every_command_exits_0_1_or_2_and_accounts_for_each_record(name, data):
    fmt = FORMATS[name]
    _run_all(fmt, data.draw(drawing(fmt.build), label="input"))


@pytest.mark.parametrize("name", JSON_FORMATS)
@scaled(0.5)
@given(data=st.data())
def test_the_commands_say_the_same_with_or_without_msgspec(name, data):
    fmt = FORMATS[name]
    content = data.draw(drawing(fmt.build), label="input")
    fast = _run_all(fmt, content)
    with without_msgspec():
        assert _run_all(fmt, content) == fast
