"""``seqscore lm-eval ARGS...``: lm-evaluation-harness's own command line,
with seqscore's backends registered (``--model seqscore``,
``--model seqscore-openai``; :mod:`seqscore.lmeval.backend`).

Every argument goes to lm-eval untouched (``--help`` too): its ``run``,
``ls`` and ``validate``, its flags, outputs and files are lm-eval's.
"""

from __future__ import annotations

import importlib.util

import click

from seqscore.lmeval.backend import run_lm_eval

__all__ = ["lmeval_command"]

#: Printed before lm-eval's own help (``seqscore lm-eval --help``).
PREFACE = """\
seqscore lm-eval ARGS...: lm-evaluation-harness's own command line, every
argument passed through, with seqscore's backends registered:

  --model seqscore          a local Hugging Face model: --model_args
                            pretrained=PATH,dtype=...,device=...,batch_size=...,
                            add_bos_token=...,max_length=...
  --model seqscore-openai   a served model: --model_args base_url=URL/v1,
                            model=...,tokenizer=PATH,num_concurrent=...

Examples:
  seqscore lm-eval run --model seqscore --model_args pretrained=./my-model \\
      --tasks mmlu --batch_size 8 --log_samples --output_path runs/
  seqscore lm-eval run --help      (lm-eval's flags)
  seqscore lm-eval ls tasks
"""


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
    if args[:1] in (("-h",), ("--help",)):
        click.echo(PREFACE)
        if importlib.util.find_spec("lm_eval") is None:
            click.echo("lm-eval is not installed: pip install 'seqscore[lm-eval]'")
            return
        click.echo("lm-eval's own help:\n")
    run_lm_eval(list(args))
