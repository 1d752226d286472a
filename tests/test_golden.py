"""A few commands against the outputs the code wrote before a refactoring.

``tests/golden/expected/`` holds what ``tests/golden/run_commands.py`` saved
for these invocations from the code as it was before issue 16's
refactoring (commit e3fc515); every byte of stdout, stderr, the exit code
and the files written must stay the same, but for the last bits of
numbers: numpy's SIMD builds round ``log``, ``log1p`` and ``exp`` differently
on different processors (``-log 3`` is -1.0986122886681098 on AVX-512 and
...096 on AVX2), so a number written in full may differ by a few ulps
between machines (the text around the numbers may not differ at all). The
full golden run (every command, every format) is the script itself, run
before and after on one machine, byte for byte.
"""

import importlib.util
import math
import re
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
EXPECTED = GOLDEN / "expected"


def _run_commands():
    spec = importlib.util.spec_from_file_location(
        "run_commands", GOLDEN / "run_commands.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN = _run_commands()
CASES = [
    (name, argv)
    for name, argv in RUN.invocations()
    if (EXPECTED / RUN._folder(name)).is_dir()
]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_every_expected_folder_is_an_invocation():
    assert len(CASES) == len(list(EXPECTED.iterdir())) >= 10


@pytest.mark.parametrize(("name", "argv"), CASES, ids=[name for name, _ in CASES])
def test_the_command_writes_what_it_wrote_before(name, argv, tmp_path):
    RUN.run(name, argv, tmp_path)
    folder = RUN._folder(name)
    written, expected = _files(tmp_path / folder), _files(EXPECTED / folder)
    assert sorted(written) == sorted(expected)
    for path, data in written.items():
        assert _same_but_last_bits(data, expected[path]), f"{name}: {path}"


#: numbers written with 12 or more significant digits: those a machine's
#: rounding can reach (shorter ones are rounded for reading, and must agree)
FULL_NUMBER = re.compile(rb"-?\d+\.\d{12,}(?:e[-+]?\d+)?")
ULPS = 4


def _same_but_last_bits(a: bytes, b: bytes) -> bool:
    """``a`` and ``b`` equal, or equal but for full-precision numbers that
    differ by at most ``ULPS`` units in the last place."""
    if a == b:
        return True
    if FULL_NUMBER.split(a) != FULL_NUMBER.split(b):
        return False
    pairs = zip(FULL_NUMBER.findall(a), FULL_NUMBER.findall(b), strict=True)
    return all(_close(float(x), float(y)) for x, y in pairs)


def _close(x: float, y: float) -> bool:
    return abs(x - y) <= ULPS * math.ulp(max(abs(x), abs(y)))


def test_last_bits_are_all_that_may_differ():
    assert _same_but_last_bits(b"-1.0986122886681096\n", b"-1.0986122886681098\n")
    assert not _same_but_last_bits(b"-1.0986122886681\n", b"-1.0986122886689\n")
    assert not _same_but_last_bits(b"-1.098 x", b"-1.099 x")  # rounded for reading
    assert not _same_but_last_bits(b"a -1.0986122886681096", b"b -1.0986122886681096")
