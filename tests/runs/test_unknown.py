"""Candidates read with the model's unknown-word token (seqscore.runs.unknown),
counted over a run and warned about once by the commands that score with
the built-in model (``score``, ``preference``)."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from seqscore.cli import main
from seqscore.errors import Rejected
from seqscore.models.builtin import load_builtin
from seqscore.models.tree import textbook_tree
from seqscore.runs.unknown import EXAMPLES, UnknownWords
from seqscore.scoring.candidates import Candidate, Prompt, TokenScores

#: " Paris" and " Lyon" are both outside the built-in model's 1,000 words;
#: "the city" is "the" (known) and "city" (not).
CAPITALS = {
    "id": "q1",
    "prompt": "The capital of France is",
    "candidates": [
        {"id": "a", "text": " Paris"},
        {"id": "b", "text": " Lyon"},
        {"id": "c", "text": " the city"},
        {"id": "d", "text": " the class"},
    ],
}


def _candidate(name: str, ids: list[int]) -> Candidate:
    tokens = TokenScores(np.full(len(ids), -1.0), token_id=np.array(ids))
    return Candidate(name, tokens)


def test_only_models_that_name_an_unknown_token_take_part():
    unknown = UnknownWords.of(load_builtin())
    assert unknown is not None and unknown.token == "<unk>"
    assert UnknownWords.of(textbook_tree()) is None


def test_hits_ties_and_examples_are_counted_per_prompt():
    unknown = UnknownWords(unk_id=0, token="<unk>")
    first = Prompt("p", (_candidate("a", [0, 4]), _candidate("b", [0, 4])))
    # same ids in another prompt: no tie (contexts differ), one more hit
    second = Prompt("q", (_candidate("a", [0, 4]), _candidate("b", [3, 4])))
    no_tokens = Prompt("r", (Candidate("a", None, logged_total=-1.0),))
    rejected = Rejected("line 9", "bad", None)
    items = [first, rejected, second, no_tokens]
    assert list(unknown.seen(items)) == items  # passed on unchanged
    assert (unknown.hit, unknown.candidates, unknown.tied) == (3, 4, 2)
    assert [e[:2] for e in unknown.examples] == [("p", "a"), ("p", "b"), ("q", "a")]
    many = UnknownWords(unk_id=0, token="<unk>")
    many.add(Prompt("p", tuple(_candidate(str(i), [0]) for i in range(9))))
    assert many.hit == many.tied == 9 and len(many.examples) == EXAMPLES


def test_score_with_the_builtin_model_warns_once_and_shows_unk(tmp_path):
    path = tmp_path / "capitals.jsonl"
    path.write_text(json.dumps(CAPITALS) + "\n")
    result = CliRunner().invoke(
        main, ["score", str(path), "--model", "builtin", "--format", "jsonl"]
    )
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    # the silent tie the warning is about
    assert rows[0]["score"] == rows[1]["score"]
    assert [r["weakest_token"] for r in rows[:2]] == ["<unk>", "<unk>"]
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "seqscore: warning: 3 of 4 candidates hold words the model does not "
        "know, each read as <unk>: candidates that differ only in such words "
        "tie (2 here tie with another candidate of their prompt). For "
        "example: q1/a reads '<unk>'; q1/b reads '<unk>'; q1/c reads "
        "'the <unk>'"
    ]


def test_no_warning_when_every_word_is_known(tmp_path):
    known = {**CAPITALS, "candidates": CAPITALS["candidates"][3:]}
    path = tmp_path / "known.jsonl"
    path.write_text(json.dumps(known) + "\n")
    result = CliRunner().invoke(main, ["score", str(path), "--model", "builtin"])
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr


def test_preference_pairs_with_unknown_words_warn(tmp_path):
    path = tmp_path / "pairs.jsonl"
    pair = {"prompt": "The capital is", "chosen": " Paris", "rejected": " Lyon"}
    path.write_text(json.dumps(pair) + "\n")
    result = CliRunner().invoke(main, ["preference", str(path), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert "seqscore: warning: 2 of 2 candidates hold words" in result.stderr
    assert "(2 here tie" in result.stderr
