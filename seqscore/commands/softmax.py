"""``seqscore softmax``: probabilities and log-probabilities of a few logits."""

from __future__ import annotations

import math
import re
import sys

import click
import numpy as np

from seqscore.commands.options import (
    command,
    format_option,
    output_option,
    temperature_option,
)
from seqscore.errors import InvalidInputError
from seqscore.numerics.softmax import log_softmax, softmax
from seqscore.report.softmax import COLUMNS, softmax_records
from seqscore.report.writers import open_output, write_records


@command(
    "softmax",
    context_settings={"ignore_unknown_options": True},  # so "-1.5" is a number
)
@click.argument("logits", nargs=-1, required=True)
@temperature_option("the logits by T > 0")
@format_option()
@output_option()
def softmax_command(logits, temperature, fmt, output):
    """Turn LOGITS into probabilities and log-probabilities.

    \b
    Examples:
      seqscore softmax 2 1 0.1
      seqscore softmax -- -1 0 1          (negative numbers)
      seqscore softmax 1000 1             (log-prob -999, not -inf)
      seqscore softmax -t 0.5 2 1 0.1
      echo "2, 1, 0.1" | seqscore softmax -

    Write -inf to mask a token (probability 0). NaN or +inf is an error.
    """
    values = _parse_numbers(logits)
    probs = softmax(values, temperature=temperature)
    logprobs = log_softmax(values, temperature=temperature)
    with open_output(output) as out:
        write_records(softmax_records(values, probs, logprobs), COLUMNS, fmt, out)


def _number(token: str) -> float:
    """A float, where a finite literal too large for a float is an error
    (``float`` would make ``1e400`` into ``inf`` without a word)."""
    try:
        value = float(token)
    except ValueError:
        raise ValueError("is not a number") from None
    if math.isinf(value) and "inf" not in token.lower():
        raise ValueError("is outside the float64 range")
    return value


def _parse_numbers(words) -> np.ndarray:
    """Numbers from the arguments; ``-`` reads them from standard input.

    A word that is not a number is a usage error (exit 2) when typed on the
    command line and a data error (exit 1) when read from standard input.
    """
    numbers: list[float] = []
    for word in words:
        from_stdin = word == "-"
        text = sys.stdin.read().removeprefix("\ufeff") if from_stdin else word
        for token in (t for t in re.split(r"[\s,]+", text.strip()) if t):
            try:
                numbers.append(_number(token))
            except ValueError as exc:
                where = f"logit {len(numbers)} ({token!r}"
                if from_stdin:
                    raise InvalidInputError(f"{where} on stdin) {exc}") from None
                raise click.BadParameter(f"{where}) {exc}") from None
    if not numbers:
        raise InvalidInputError("no logits given")
    return np.array(numbers)
