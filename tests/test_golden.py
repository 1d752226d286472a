"""A few commands against the outputs the code wrote before a refactoring.

``tests/golden/expected/`` holds what ``tests/golden/run_commands.py`` saved
for these invocations from the code as it was before issue 16's
refactoring (commit e3fc515); every byte of stdout, stderr, the exit code
and the files written must stay the same. The full golden run (every
command, every format) is the script itself, run before and after.
"""

import importlib.util
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
    assert _files(tmp_path / folder) == _files(EXPECTED / folder)
