"""``seqscore lm-eval ARGS...``: lm-evaluation-harness's own command line,
with seqscore's backends registered (``--model seqscore``,
``--model seqscore-openai``; :mod:`seqscore.lmeval.backend`).

Every argument goes to lm-eval untouched (``--help`` too): its ``run``,
``ls`` and ``validate``, its flags, outputs and files are lm-eval's.
"""

from __future__ import annotations

import click

from seqscore.lmeval.backend import run_lm_eval

__all__ = ["lmeval_command"]


@click.command(
    "lm-eval",
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
    short_help="lm-evaluation-harness, with --model seqscore (its own arguments).",
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def lmeval_command(args: tuple[str, ...]) -> None:
    """Run lm-evaluation-harness (``lm-eval ARGS...``) with seqscore's
    backends registered: ``seqscore lm-eval run --model seqscore
    --model_args pretrained=PATH --tasks ...``. Needs ``seqscore[lm-eval]``;
    ``seqscore lm-eval --help`` is lm-eval's help."""
    run_lm_eval(list(args))
