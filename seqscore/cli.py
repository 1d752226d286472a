"""The ``seqscore`` command group.

Exit codes: 0 success, 1 bad data (any :class:`~seqscore.errors.SeqScoreError`
or an unreadable file, reported on one line of stderr), 2 bad usage (click's
own usage errors).
"""

from __future__ import annotations

import gc
import sys

import click

from . import __version__
from .commands.audit import audit_command
from .commands.audit_fn import audit_fn_command
from .commands.score import score_command
from .commands.softmax import softmax_command
from .errors import SeqScoreError

__all__ = ["main"]


class _Group(click.Group):
    """A click group that turns seqscore's errors into exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SeqScoreError as exc:
            _fail(str(exc))
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):  # e.g. `seqscore ... | head`
                sys.stderr.close()
                ctx.exit(0)
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))


def _fail(message: str):
    click.echo(f"seqscore: error: {message}", err=True)
    sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="seqscore")
def main():
    """Score, rank and explain the outputs of autoregressive language models.

    Every number seqscore prints is a log-probability (natural log) or is
    derived from one; sequence scores are sums of per-token log-probs.
    Run `seqscore COMMAND --help` for each command's details.
    """
    # Everything imported so far lives until exit: keep the cyclic garbage
    # collector from rescanning it on every burst of parsed JSON objects.
    gc.freeze()


main.add_command(audit_command)
main.add_command(audit_fn_command)
main.add_command(score_command)
main.add_command(softmax_command)


if __name__ == "__main__":  # pragma: no cover
    main()
