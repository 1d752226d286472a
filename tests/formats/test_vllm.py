"""vLLM outputs keep each token's id beside its decoded text
(seqscore.formats.vllm), so ``--tokens`` gives programs both."""

from __future__ import annotations

import json
from pathlib import Path

from seqscore.formats.vllm import convert_record

FIXTURE = Path(__file__).parents[2] / "fixtures" / "vllm.jsonl"


def test_tokens_carry_their_ids_and_texts():
    record = json.loads(FIXTURE.read_text().splitlines()[0])
    (prompt,) = convert_record(record, "vllm.jsonl:1")
    for output, candidate in zip(record["outputs"], prompt.candidates, strict=True):
        tokens = candidate.tokens
        assert tokens.token_id.tolist() == output["token_ids"]
        assert tokens.token == tuple(
            step[str(i)]["decoded_token"]
            for step, i in zip(output["logprobs"], output["token_ids"], strict=True)
        )
