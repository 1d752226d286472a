"""The package surface: lazy exports resolve, and start-up stays light."""

import subprocess
import sys

import seqscore


def test_every_exported_name_resolves():
    for name in seqscore.__all__:
        assert getattr(seqscore, name) is not None, name
    assert set(seqscore.__all__) <= set(dir(seqscore))


def test_unknown_attribute_is_an_attribute_error():
    try:
        seqscore.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_starting_the_cli_does_not_import_the_heavy_layers():
    code = (
        "import sys, seqscore.cli\n"
        "heavy = [m for m in ('scipy.sparse', 'scipy.optimize', 'seqscore.audit',"
        " 'seqscore.plackett_luce', 'seqscore.decoding') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_every_command_loads_and_has_examples():
    from click.testing import CliRunner

    from seqscore.cli import COMMANDS, main

    for name in COMMANDS:
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "xample" in result.stdout, name
