"""Options and helpers shared by several commands."""

from __future__ import annotations

import click

from ..formats.output import FORMATS

__all__ = ["format_option", "output_option"]


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
