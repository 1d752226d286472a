"""HTML pages (``--format html``, the optional extra ``html``): the parts
every page shares.

JSON answers a program; an evaluation engineer deciding whether a score is
believable wants to *see* it: which token of a candidate cost the most, what
the model would have said instead, whether the normalisations agree on the
winner, where greedy parted from the best path, which lm-eval documents a
metric hinges on. :mod:`.pages` prepares each command's page from the same
results the other formats render; this module holds what they share:

* Jinja2, imported here only, when a page is written
  (``pip install 'seqscore[html]'``), and the templates' environment:
  autoescaped (a token's text is data, never markup), strict about
  undefined names (a misspelt field is an error, not a blank on the page);
* the page is self-contained -- styles and the script inline
  (``templates/page.css``, ``templates/page.js``), nothing fetched, and a
  Content-Security-Policy that forbids fetching -- so it opens from disk,
  from a CI artefact or an e-mail, offline;
* numbers as json writes them (:func:`number`: the token log-probs on the
  page are json's float text) and as a person reads them (:func:`fixed`);
* the heat map's colour scale (:data:`SHADES`, :func:`shade`) and a
  token's cell (:func:`token_cells`): its visible text, log-prob, rank and
  the alternatives the input listed at its step.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import IO, Any

from seqscore.errors import MissingExtraError
from seqscore.report.readable import visible
from seqscore.report.writers import json_value

__all__ = [
    "HTML_INSTALL",
    "PAGE_SIZE",
    "SHADES",
    "cell",
    "fixed",
    "import_jinja2",
    "number",
    "readable",
    "shade",
    "token_cells",
    "write_page",
]

HTML_INSTALL = "pip install 'seqscore[html]'"

#: Surprisal (-log-prob, nats) at which each colour of the heat map begins:
#: shade i covers [SHADES[i], SHADES[i+1]); one more shade is -inf (a token
#: the model gave probability 0). Doubling steps: the eye tells a token of
#: p = 0.9 from one of 0.6, and one of 1e-2 from one of 1e-4, and these
#: bounds keep both apart.
SHADES = (0.0, 0.1, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
#: Prompts (or listed documents) per page before the script pages them.
PAGE_SIZE = 20


def import_jinja2():
    """The ``jinja2`` module, or a :class:`MissingExtraError` saying what to
    install."""
    try:
        import jinja2
    except ImportError:
        raise MissingExtraError(f"--format html needs Jinja2: {HTML_INSTALL}") from None
    return jinja2


@functools.lru_cache(maxsize=1)
def _environment():
    """The templates' environment: autoescaped, strict about undefined
    names (a misspelt field is an error, not a blank on the page)."""
    jinja2 = import_jinja2()
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("seqscore.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["fixed"] = fixed
    environment.filters["number"] = number
    environment.filters["visible"] = visible
    environment.filters["readable"] = readable
    environment.globals.update(legend=_legend(), version=_version())
    return environment


def _version() -> str:
    try:
        return metadata.version("seqscore")
    except metadata.PackageNotFoundError:  # a checkout run as python cli.py
        return "(checkout)"


def write_page(template: str, out: IO[str], **context) -> None:
    """Render ``template`` into ``out`` chunk by chunk (a generator of
    prompts in ``context`` is read as the page is written)."""
    for chunk in _environment().get_template(template).generate(**context):
        out.write(chunk)


# ----------------------------------------------------------------- numbers


def number(value: Any) -> str:
    """A number as json writes it (``-inf`` as the string json writes).

    >>> number(-1.2008724330424196), number(float("-inf")), number(3), number(None)
    ('-1.2008724330424196', '-inf', '3', '')
    """
    if type(value) is float and math.isfinite(value):
        return repr(value)  # json's own float text (this runs once a token)
    value = json_value(value)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def fixed(value: Any, digits: int = 3) -> str:
    """A number for reading: ``digits`` decimals, ``−∞`` for -inf, ``–``
    for a value that does not apply (the exact value is in the json, and
    on the page in the element's ``title``).

    >>> fixed(-1.23456), fixed(float("-inf")), fixed(None), fixed(0.5, 1)
    ('-1.235', '−∞', '–', '0.5')
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    number_ = float(value)
    if math.isnan(number_):
        return "nan"
    if math.isinf(number_):
        return "∞" if number_ > 0 else "−∞"
    return f"{number_:.{digits}f}"


def readable(text: str) -> str:
    """Text in a sentence or a table cell (a candidate, a prompt): spaces
    left as spaces, every other hidden character made visible; the token
    cells show every space as ``␣`` (:func:`~.readable.visible`).

    >>> readable(" the cat\\n")
    ' the cat\\\\n'
    """
    return " ".join(visible(part) for part in text.split(" "))


def shade(logprob: float) -> int:
    """The heat map's colour of a token of log-prob ``logprob`` (0: nearly
    certain ... ``len(SHADES)``: impossible, -inf).

    >>> shade(-0.05), shade(-1.5), shade(-20.0), shade(float("-inf"))
    (0, 3, 7, 8)
    """
    surprisal = -float(logprob)
    if math.isinf(surprisal):
        return len(SHADES)
    return sum(1 for bound in SHADES[1:] if surprisal >= bound)


def _legend() -> list[dict]:
    """The colour scale's key: each shade's surprisal and probability range."""
    entries = []
    for i, low in enumerate(SHADES):
        high = SHADES[i + 1] if i + 1 < len(SHADES) else None
        nats = f"{low:g}–{high:g}" if high is not None else f"≥ {low:g}"
        top = math.exp(-low)
        bottom = math.exp(-high) if high is not None else 0.0
        entries.append(
            {
                "shade": i,
                "nats": nats if i else f"< {high:g}",
                "p": f"p > {_p(bottom)}"
                if i == 0
                else f"{_p(bottom)}–{_p(top)}"
                if high is not None
                else f"p ≤ {_p(top)}",
            }
        )
    entries.append({"shade": len(SHADES), "nats": "∞", "p": "p = 0"})
    return entries


def _p(p: float) -> str:
    """A probability for the legend: two decimals, or ``3e-4`` when small."""
    if p >= 0.01:
        return f"{p:.2f}"
    mantissa, exponent = f"{p:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


# ------------------------------------------------------------------ tokens


def token_cells(
    detail: Sequence[dict] | None,
    weakest: int | None,
    deciding: Iterable[int] = (),
) -> list[dict] | None:
    """The heat map's cells of one candidate, from its ``--tokens`` detail
    (:func:`~.scores.token_detail`): None when only its total is known."""
    if detail is None:
        return None
    marked = set(deciding)
    return [
        cell(
            step.get("token", f"#{step['token_id']}" if "token_id" in step else ""),
            step["logprob"],
            step.get("rank"),
            _alternatives(step.get("top")),
            weakest=t == weakest,
            deciding=t in marked,
        )
        for t, step in enumerate(detail)
    ]


def cell(text, logprob, rank, top, *, weakest=False, deciding=False, alt=None):
    """One token's cell: its visible text (``∅`` for an empty token), its
    log-prob and rank as json writes them, its shade, and for the tooltip
    the alternatives listed at its step (``top``) or the step's most
    probable token (``alt``)."""
    return {
        "text": visible(str(text)) or "∅",
        "logprob": number(logprob),
        "value": logprob,
        "rank": number(rank),
        "shade": shade(logprob),
        "top": top,
        "alt": alt,
        "weakest": weakest,
        "deciding": deciding,
    }


def _alternatives(top: Sequence | None) -> str | None:
    """A step's listed alternatives as the tooltip reads them: token and
    log-prob, tab-separated (a visible token never holds a tab), or None
    where the input lists none."""
    if not top:
        return None
    return "\t".join(f"{visible(str(name))}\t{number(value)}" for name, value in top)
