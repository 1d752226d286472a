"""A diagnosis rendered for people and for programs (seqscore.report.diagnosis).

The model: a stand-in for a Hugging Face model, whose vocabulary holds a
tokenizer's pieces (``Ġthe``, ``Ċ``, the two byte-level pieces of 東) and
whose ``vocab_text`` holds their texts. Greedy takes `` the`` (p = 0.5),
after which every token is equally likely; the best sequence is ``東京``
then end of sequence (0.4 x 0.95).
"""

from __future__ import annotations

import json

import numpy as np

from seqscore.diagnostics.greedy_vs_best import diagnose
from seqscore.report.diagnosis import render_diagnosis
from seqscore.report.readable import display_width

PIECES = ("Ġthe", "æĿ", "±", "Ċ", "東京", "<eos>")
TEXTS = (" the", "\udce6\udc9d", "\udcb1", "\n", "東京", "<eos>")


class PieceModel:
    """Next-token log-probs that depend on the last token only."""

    vocab = PIECES
    vocab_text = TEXTS
    eos_id = 5

    def next_logprobs(self, prefixes):
        rows = []
        for prefix in prefixes:
            last = int(prefix[-1]) if len(prefix) else None
            if last is None:
                p = [0.5, 0.0, 0.0, 0.1, 0.4, 0.0]
            elif last == 4:
                p = [0.01, 0.01, 0.01, 0.01, 0.01, 0.95]
            else:
                p = [1 / 6] * 6
            with np.errstate(divide="ignore"):
                rows.append(np.log(p))
        return np.array(rows)

    def encode(self, text):
        return []

    def decode(self, ids):
        return "".join(TEXTS[i] for i in ids)


def _diagnosis():
    return diagnose(PieceModel(), [], max_tokens=3, beam=2, node_budget=1000)


def test_the_step_table_shows_readable_text_aligned_by_width():
    d = _diagnosis()
    assert d.greedy.decoded.tokens[0] == " the"
    assert d.best.decoded.tokens == ("東京", "<eos>")
    text = render_diagnosis(d, "text")
    table = text.split("\n\n")[2].splitlines()
    assert table[0].split()[:2] == ["step", "greedy"]
    first = table[1]
    assert "␣the" in first and "東京" in first
    assert "Ġ" not in text and " the " not in table[1]
    # the token columns (greedy, best) start at one terminal column in
    # every row, the numbers end at one
    edges = [_edges(row) for row in table[:3]]
    assert edges[0] == edges[1] == edges[2][: len(edges[0])]


def _edges(row: str) -> list[int]:
    """The terminal column where each field of a step-table row is aligned:
    where the token columns (fields 1 and 5) start, where the others end."""
    spans, width, start = [], 0, None
    for char in row + " ":
        if char != " " and start is None:
            start = width
        elif char == " " and start is not None:
            spans.append((start, width))
            start = None
        width += display_width(char)
    return [a if i in (1, 5) else b for i, (a, b) in enumerate(spans)]


def test_the_json_keeps_texts_pieces_and_ids():
    record = json.loads(render_diagnosis(_diagnosis(), "json"))
    best = record["best"]
    assert best["tokens"] == ["東京", "<eos>"]
    assert best["pieces"] == ["東京", "<eos>"]
    assert best["ids"] == [4, 5]
    assert record["greedy"]["pieces"][0] == "Ġthe"
    assert record["greedy"]["tokens"][0] == " the"


def test_markdown_quotes_the_readable_text():
    assert "`␣the`" in render_diagnosis(_diagnosis(), "markdown")
