"""The ``seqscore`` command group.

Exit codes: 0 success, 1 bad data (any :class:`~seqscore.errors.SeqScoreError`
or an unreadable file, reported on one line of stderr), 2 bad usage (click's
own usage errors), 143 stopped by SIGTERM and 1 by SIGINT (after removing the
temporary output and stopping the workers, as for any error).
"""

from __future__ import annotations

import gc
import importlib
import signal
import sys
import threading

import click

from seqscore import __version__
from seqscore.commands.hints import with_hint
from seqscore.errors import SeqScoreError

__all__ = ["main"]


# name -> "module:attribute"; a command's module (and the library it needs)
# is imported only when that command runs or its help is shown
COMMANDS = {
    "audit": "seqscore.commands.audit:audit_command",
    "audit-fn": "seqscore.commands.audit_fn:audit_fn_command",
    "compare": "seqscore.commands.compare:compare_command",
    "compare-runs": "seqscore.commands.compare_runs:compare_runs_command",
    "diagnose": "seqscore.commands.diagnose:diagnose_command",
    "evaluate": "seqscore.commands.evaluate:evaluate_command",
    "fit-rankings": "seqscore.commands.fit_rankings:fit_rankings_command",
    "lm-eval": "seqscore.commands.lmeval_run:lmeval_command",
    "perplexity": "seqscore.commands.perplexity:perplexity_command",
    "preference": "seqscore.commands.preference:preference_command",
    "rank": "seqscore.commands.rank:rank_command",
    "score": "seqscore.commands.score:score_command",
    "softmax": "seqscore.commands.softmax:softmax_command",
}


class _Group(click.Group):
    """A click group that loads commands lazily and turns seqscore's errors
    into exit code 1."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SeqScoreError as exc:
            _fail(with_hint(exc))
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):  # e.g. `seqscore ... | head`
                sys.stderr.close()
                ctx.exit(0)
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))


def _stop_on_terminate() -> None:
    """Make SIGTERM unwind like an error: its default kills the process
    where it stands, leaving a hidden temporary output file behind and pool
    workers running."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)


def _terminated(signum: int, frame) -> None:
    sys.exit(128 + signum)


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
    _stop_on_terminate()
    # Everything imported so far lives until exit: keep the cyclic garbage
    # collector from rescanning it on every burst of parsed JSON objects.
    gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    main()
