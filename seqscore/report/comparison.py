"""Why a prompt's winner wins, in words: comparisons as text, markdown or JSON.

:func:`explanation` puts one :class:`~seqscore.scoring.pairwise.Comparison` in plain
English whose every number can be checked against its fields;
:func:`write_comparisons` writes a file's worth of them.
"""

from __future__ import annotations

import json

import numpy as np

from seqscore.report.readable import visible
from seqscore.report.writers import json_value
from seqscore.scoring.pairwise import Comparison

__all__ = ["count", "explanation", "write_comparisons"]


def explanation(c: Comparison) -> str:
    """Plain English whose every number can be checked against the fields."""
    return "\n".join(_explain(c))


def _explain(c: Comparison):
    verb = "beats" if c.margin > 0 else ("ties" if c.margin == 0 else "loses to")
    yield (
        f"{c.a!r} {verb} {c.b!r} by {abs(c.margin):.3f} nats "
        f"(log P = sum of its token log-probs)."
    )
    ties = c.shared_steps - c.wins - c.losses
    yield (
        f"Over the {count(c.shared_steps, 'shared step')}, {c.a!r} has the more "
        f"likely token {count(c.wins, 'time')} and the less likely "
        f"{count(c.losses, 'time')}"
        + (f" (equally likely {count(ties, 'time')})" if ties else "")
        + f": {_sum_sign(c.step_margin[c.step_margin > 0])} gained, "
        f"{_sum_sign(c.step_margin[c.step_margin < 0])} lost."
    )
    for name, tail in ((c.a, c.tail_a), (c.b, c.tail_b)):
        if tail:
            yield (
                f"Past step {c.shared_steps - 1}, {name!r} has more tokens, costing "
                f"{-tail:.3f} nats."
            )
    if c.paradox:
        yield (
            f"So {c.a!r} wins most steps yet loses: a few costly tokens outweigh "
            "many small gains."
        )
    for t in c.deciding_steps:
        yield (
            f"  step {t}: {_token(c.tokens_a, c.ids_a, t)} costs "
            f"{-c.step_margin[t]:.3f} nats against {_token(c.tokens_b, c.ids_b, t)}"
        )
    if c.deciding_steps:
        yield (
            f"Had {c.a!r} merely tied {c.b!r} at the step(s) above, it would not "
            "have lost."
        )
    for name, value in c.flips.items():
        winner = c.a if value > 0 else c.b
        yield f"Normalised by {name}, the winner flips to {winner!r} ({value:+.4f})."


def _sum_sign(values: np.ndarray) -> str:
    return f"{abs(float(np.sum(values))):.3f} nats"


def count(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless ``n`` is 1: ``count(2, "step")``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _token(texts, ids, t: int) -> str:
    """A token named in the explanation: its text as a person reads it,
    quoted (``'␣mat'``: :func:`~seqscore.report.readable.visible`), else
    its id.

    >>> _token((" mat",), None, 0), _token(None, (7,), 0), _token(None, None, 0)
    ("'␣mat'", 'token id 7', 'its token')
    """
    if texts is not None:
        return f"'{visible(texts[t])}'"
    return "its token" if ids is None else f"token id {ids[t]}"


def _text(results, out) -> None:
    paradoxes = flips = 0
    for prompt, comparisons, note in results:
        out.write(
            f"== prompt {prompt.id} ({count(len(prompt.candidates), 'candidate')})\n"
        )
        if note:
            out.write(note + "\n\n")
        for comparison in comparisons:
            out.write(explanation(comparison) + "\n\n")
            paradoxes += comparison.paradox
            flips += bool(comparison.flips)
    out.write(
        f"{count(len(results), 'prompt')}; candidates that win most steps yet "
        f"lose: {paradoxes}; that a length normalisation would make the winner: "
        f"{flips}.\n"
    )


def _markdown(results, out) -> None:
    for prompt, comparisons, note in results:
        out.write(f"## Prompt `{prompt.id}`\n\n")
        if note:
            out.write(note[0].upper() + note[1:] + ".\n\n")
        for comparison in comparisons:
            lines = explanation(comparison).splitlines()
            out.write(f"**{lines[0]}**\n\n")
            out.write("".join(f"- {line.strip()}\n" for line in lines[1:]) + "\n")


def _json(results, out) -> None:
    records = [
        {
            "prompt": prompt.id,
            "candidate": c.a,
            "winner": c.b,
            "margin": c.margin,
            "shared_steps": c.shared_steps,
            "wins": c.wins,
            "losses": c.losses,
            "step_margin": c.step_margin,
            "tail": c.tail_a,
            "winner_tail": c.tail_b,
            "paradox": c.paradox,
            "deciding_steps": list(c.deciding_steps),
            "flips": c.flips,
            "explanation": explanation(c),
        }
        for prompt, comparisons, _ in results
        for c in comparisons
    ]
    json.dump(json_value(records), out, indent=1, ensure_ascii=False)
    out.write("\n")


_RENDER = {"text": _text, "markdown": _markdown, "json": _json}


def write_comparisons(results, fmt: str, out) -> None:
    """Write ``(prompt, comparisons, note)`` results to ``out`` in ``fmt``
    (text, markdown or json)."""
    _RENDER[fmt](results, out)
