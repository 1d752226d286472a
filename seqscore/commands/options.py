"""Options and helpers shared by several commands."""

from __future__ import annotations

import contextlib
import math
import sys

import click

from ..formats.inputs import INPUT_FORMATS
from ..formats.output import FORMATS

__all__ = [
    "alpha_option",
    "format_option",
    "input_format_option",
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
        "for programs.",
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


def output_option():
    """``-o/--output FILE`` (``-`` for standard output), written atomically."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, writable=True, allow_dash=True),
        default="-",
        show_default=True,
        help="Write here instead of standard output. The file appears only "
        "when the command succeeds.",
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
