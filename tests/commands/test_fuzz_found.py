"""Command-line cases the fuzz suite (tests/fuzz, issue #24) found, pinned;
each test names its input and what the command did with it before."""

from __future__ import annotations

import json

from click.testing import CliRunner

from seqscore.cli import main


def test_a_document_the_model_cannot_tokenise_is_named_with_its_file(tmp_path):
    """Pins ``{"id": "d1", "text": "0"}`` for ``perplexity`` (the built-in
    model has no token for it): the error named the document's id but no
    file, ``seqscore: error: document 'd1' encodes to no tokens``."""
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"id": "d1", "text": "0"}) + "\n")
    result = CliRunner().invoke(main, ["perplexity", str(path)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"seqscore: error: {path}: document 'd1' encodes to no tokens\n"
    )
