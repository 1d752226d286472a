"""Options and helpers shared by several commands."""

from __future__ import annotations

import contextlib
import math
import sys

import click

from seqscore.formats.inputs import INPUT_FORMATS
from seqscore.models import MODEL_SPECS, load_model
from seqscore.models.hf import DTYPES
from seqscore.models.loglikelihood import ModelScoring
from seqscore.report.writers import FORMATS

__all__ = [
    "ModelSpec",
    "alpha_option",
    "format_option",
    "input_format_option",
    "load_cli_model",
    "model_options",
    "output_option",
    "positive_finite",
    "progress_callback",
    "progress_option",
    "report_format_option",
]


def format_option(default: str = "table", choices=FORMATS):
    """``--format`` with the formats every command offers."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format: an aligned table for reading, json, jsonl or csv "
        "for programs"
        + (", parquet for parts (-o DIR/)." if "parquet" in choices else "."),
    )


REPORTS = {
    "text": "text for reading",
    "markdown": "markdown for a document",
    "json": "json for programs",
}


def report_format_option(choices=tuple(REPORTS)):
    """``--format`` for commands that write a report rather than records."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default="text",
        show_default=True,
        help="Output format: " + ", ".join(REPORTS[c] for c in choices) + ".",
    )


def alpha_option():
    """``--alpha``: the exponent of the length_penalty and gnmt reductions."""
    return click.option(
        "--alpha",
        type=float,
        default=1.0,
        show_default=True,
        callback=_finite,
        help="Exponent of the length_penalty (sum / L^alpha) and gnmt "
        "(sum / ((5 + L) / 6)^alpha) reductions.",
    )


def _finite(context, parameter, value):
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}")
    return value


def positive_finite(context, parameter, value):
    """Click callback: the option's value must be a finite number > 0."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be a finite number > 0, got {value}")
    return value


def input_format_option(choices=INPUT_FORMATS):
    """``--input-format`` for commands that read scorer inputs."""
    return click.option(
        "--input-format",
        type=click.Choice(choices),
        default="auto",
        show_default=True,
        help="Input format; auto-detected from the content by default.",
    )


def progress_option():
    """``--progress/--no-progress`` (see :func:`progress_callback`)."""
    return click.option(
        "--progress/--no-progress",
        default=None,
        help="Progress bar on stderr [default: when stderr is a terminal].",
    )


def output_option(folders: bool = False):
    """``-o/--output FILE`` (``-`` for standard output), written atomically;
    ``folders``: or ``DIR/``, for a command that writes parts into one."""
    help_text = (
        "Write here instead of standard output. The file appears only when "
        "the command succeeds."
    )
    if folders:
        help_text += (
            " DIR/ (a trailing slash, or an existing directory): one part per "
            "input file plus manifest.json, each part renamed into place when "
            "complete."
        )
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=folders, writable=True, allow_dash=True),
        default="-",
        show_default=True,
        help=help_text,
    )


@contextlib.contextmanager
def progress_callback(enabled: bool | None, label: str):
    """A ``(done, total)`` callback drawing a progress bar on stderr.

    ``enabled=None`` means: only when stderr is a terminal, so logs and pipes
    never fill with bar updates. Yields ``None`` when disabled.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    with click.progressbar(length=1000, label=label, file=sys.stderr) as bar:
        state = {"shown": 0}

        def update(done: int, total: int) -> None:
            target = int(1000 * done / total) if total else 1000
            if target > state["shown"]:
                bar.update(target - state["shown"])
                state["shown"] = target

        yield update


class ModelSpec(click.ParamType):
    """``builtin``, ``tree:FILE`` or ``hf:NAME_OR_PATH`` (checked, not loaded)."""

    name = "MODEL"

    def convert(self, value, param, ctx):
        kind, colon, target = value.partition(":")
        if (kind == "builtin" and not colon) or (kind in ("tree", "hf") and target):
            return value
        self.fail(f"{value!r} is not a model: use {MODEL_SPECS}", param, ctx)


def model_options(default: str | None = None):
    """``--model`` and the options of a Hugging Face model (``--batch-size``,
    ``--dtype``, ``--device``), as one decorator."""

    def decorate(command):
        options = [
            click.option(
                "-m",
                "--model",
                "model_spec",
                type=ModelSpec(),
                default=default,
                show_default=default is not None,
                help="builtin (a small English model, no download), tree:FILE.json "
                "(a logit tree) or hf:NAME_OR_PATH (a Hugging Face causal LM: a "
                "local folder or a name in its cache, nothing is downloaded; "
                "needs seqscore[hf]).",
            ),
            click.option(
                "--batch-size",
                type=click.IntRange(min=1),
                help="hf: rows per forward pass (a row: one prompt's context "
                "and its candidates, or one sequence with --no-share-contexts) "
                "[default: as many as keep a pass's logits under 128 MiB].",
            ),
            click.option(
                "--dtype",
                type=click.Choice(DTYPES),
                help="hf: the weights' dtype [default: float32]; logits are read "
                "in float32 either way.",
            ),
            click.option("--device", help="hf: the torch device [default: cpu]."),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def load_cli_model(model: ModelScoring):
    """The model a command's ``--model`` names, with its hf options."""
    if model.spec.startswith("hf:"):
        _quiet_transformers()
    return load_model(model.spec, **model.load_options)


def _quiet_transformers() -> None:
    """No "Loading weights" bar from transformers on a command's stderr: the
    command draws its own progress (--progress)."""
    try:
        from transformers.utils import logging
    except ImportError:
        return  # load_model says what to install
    logging.disable_progress_bar()
