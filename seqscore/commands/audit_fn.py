"""``seqscore audit-fn``: check a scoring function against the metamorphic laws."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys

import click

from seqscore.commands.options import (
    choice_option,
    command,
    count_option,
    output_option,
    report_format_option,
)
from seqscore.errors import SeqScoreError
from seqscore.report.laws import render_law_report
from seqscore.report.writers import open_output


@command("audit-fn")
@click.argument("target", metavar="MODULE:FUNCTION")
@choice_option(
    "--layout",
    choices=["aligned", "causal"],
    default="aligned",
    help="aligned: fn(logits, token_ids, lengths), row t scores token t. "
    "causal: fn(logits, input_ids, lengths, n_context), a causal LM's output "
    "over whole sequences (the function does the shift).",
)
@count_option(
    "--max-examples",
    at_least=1,
    default=100,
    help="Examples hypothesis tries per law before it calls the law passed.",
)
@click.option("--seed", type=int, default=0, help="Search seed.")
@click.option(
    "--law",
    "laws",
    multiple=True,
    metavar="NAME",
    help="Check only this law (repeatable) [default: all].",
)
@report_format_option(("text", "json"))
@output_option()
@click.pass_context
def audit_fn_command(ctx, target, layout, max_examples, seed, laws, fmt, output):
    """Check a sequence-scoring function against laws every correct scorer obeys.

    MODULE:FUNCTION names the function: a module importable from the current
    folder (mypkg.scoring:score) or a file (path/to/file.py:score). It takes
    a padded batch of candidates and returns one score per candidate, the
    sum of the tokens' log-probabilities (see --layout and the
    seqscore.testing docs).

    \b
    For each law it prints pass, or a minimal failing example (shrunk by
    hypothesis) with the expected and actual scores:
      sum_of_conditionals     the score is the sum of per-step log-softmax
      shift_invariance        a constant added to one step's logits
      extension_never_raises  one more token never raises the score
      vocabulary_relabelling  token ids and logits permuted together
      other_candidates, padding, batch_order
      large_logits_float32    float32 logits up to 1e4 stay finite and right
      masked_entries          -inf logits on non-target tokens

    \b
    Exit codes: 0 every law passes, 1 a law fails, 2 bad usage (a MODULE:
    FUNCTION that cannot be imported).

    \b
    Examples:
      seqscore audit-fn my_eval.scoring:sequence_logprob
      seqscore audit-fn scripts/score.py:score --layout causal --format json
    """
    testing = _testing()
    scorer = _load(target)
    known = [law.name for law in testing.LAWS]
    laws = tuple(dict.fromkeys(laws))  # a law named twice is checked once
    for name in laws:
        if name not in known:
            raise click.BadParameter(
                f"unknown law {name!r}; the laws are {', '.join(known)}",
                param_hint="--law",
            )
    report = testing.audit_scorer(
        scorer,
        layout=layout,
        max_examples=max_examples,
        seed=seed,
        laws=laws or None,
        name=target,
    )
    with open_output(output) as out:
        out.write(render_law_report(report, fmt))
    ctx.exit(0 if report.passed else 1)


def _testing():
    try:
        from seqscore import testing
    except ImportError as exc:  # hypothesis is an optional dependency
        raise SeqScoreError(
            f"seqscore audit-fn needs hypothesis ({exc}); install it with "
            "pip install hypothesis"
        ) from None
    return testing


def _load(target: str):
    """The callable ``target`` names; a usage error (exit 2) if there is none."""
    module_name, sep, attribute = target.rpartition(":")
    if not sep or not module_name or not attribute:
        raise click.BadParameter(
            f"{target!r} is not MODULE:FUNCTION (e.g. my_eval.scoring:score)",
            param_hint="MODULE:FUNCTION",
        )
    try:
        module = _import(module_name)
        value = module
        for part in attribute.split("."):
            value = getattr(value, part)
    except Exception as exc:  # anything the user's module raises on import
        raise click.BadParameter(
            f"cannot load {target!r}: {type(exc).__name__}: {exc}",
            param_hint="MODULE:FUNCTION",
        ) from None
    except SystemExit as exc:  # sys.exit on import would end (and pass) the run
        raise click.BadParameter(
            f"cannot load {target!r}: importing it called sys.exit({exc.code!r})",
            param_hint="MODULE:FUNCTION",
        ) from None
    if not callable(value):
        raise click.BadParameter(
            f"{target!r} is a {type(value).__name__}, not a function",
            param_hint="MODULE:FUNCTION",
        )
    return value


def _import(name: str):
    """A module by dotted name (from the current folder too) or by file path."""
    if name.endswith(".py") or os.sep in name:
        path = os.path.abspath(name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no such file: {name}")
        module_name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"{name} is not a Python file")
        module = importlib.util.module_from_spec(spec)
        with _on_path(os.path.dirname(path)):
            spec.loader.exec_module(module)
        return module
    with _on_path(os.getcwd()):
        return importlib.import_module(name)


@contextlib.contextmanager
def _on_path(folder: str):
    """``folder`` first on ``sys.path`` while importing (as ``python -m`` has)."""
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
