"""Shards for the tests of sharded runs: small seqscore JSONL files made
from the committed fixture, each prompt's id marked with its shard."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).parent.parent / "fixtures"
FIXTURE_RECORDS = [
    json.loads(line)
    for line in (FIXTURES / "seqscore.jsonl").read_text().splitlines()
    if line.strip()
]


def shard_lines(shard: int, prompts: int = 3) -> list[str]:
    """``prompts`` JSON lines (the fixture's records, cycled), ids ``q1-s0``..."""
    lines = []
    for i in range(prompts):
        record = dict(FIXTURE_RECORDS[i % len(FIXTURE_RECORDS)])
        record["id"] = f"{record['id']}-s{shard}-{i}"
        lines.append(json.dumps(record))
    return lines


def write_shards(folder: Path, count: int, prompts: int = 3) -> list[Path]:
    """``count`` shards ``folder/shard-00.jsonl``..., in shard order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in range(count):
        path = folder / f"shard-{shard:02d}.jsonl"
        path.write_text("\n".join(shard_lines(shard, prompts)) + "\n")
        paths.append(path)
    return paths
