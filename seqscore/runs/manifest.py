"""The manifest of a sharded run's output folder: which parts are complete.

``seqscore score SHARDS -o DIR/`` writes one part per shard and
``DIR/manifest.json``, rewritten (atomically) each time a part is complete:

.. code-block:: json

    {"seqscore": "0.1.0", "format": "jsonl", "settings": {...},
     "shards": 40, "complete": false, "records": 1234,
     "parts": [{"part": "part-00000.jsonl", "shard": "shards/a.jsonl",
                "path": "/data/shards/a.jsonl", "shard_bytes": 52311,
                "shard_mtime_ns": 1764748800000000000, "input_format": "seqscore",
                "format": "jsonl", "records": 30, "prompts": 10,
                "sha256": "9f86d0...", "rejected": 0, "rejects": null}, ...]}

A part is listed only once its file is in place, so the manifest never
claims more than the folder holds; ``records`` of a part is the number of
rows in it and ``sha256`` the checksum of its bytes. The records a part's
shard had rejected (``--on-error skip``) are in a file of their own beside
it, ``part-00000.rejects.jsonl`` (``rejects``; null when there were none),
as ``--rejects`` writes them, so that the manifest stays small. Files the
manifest does not list are not part of the run (a folder written before by
a run of more shards keeps its extra parts). ``--resume`` keeps a listed
part when its shard has the same path, size and modification time, the
settings are the same, and the file still has its checksum; every other part
is written again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass

from seqscore import __version__
from seqscore.errors import DataFormatError, Rejected
from seqscore.report.writers import open_output

__all__ = ["MANIFEST", "Manifest", "Part", "read_manifest", "sha256_file"]

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Part:
    """One complete output part: its file (in the folder), its shard and what
    it holds."""

    part: str
    shard: str
    path: str
    shard_bytes: int
    shard_mtime_ns: int
    input_format: str
    format: str
    records: int
    prompts: int
    sha256: str
    rejected: int = 0
    rejects: str | None = None

    def to_json(self) -> dict:
        return {
            "part": self.part,
            "shard": self.shard,
            "path": self.path,
            "shard_bytes": self.shard_bytes,
            "shard_mtime_ns": self.shard_mtime_ns,
            "input_format": self.input_format,
            "format": self.format,
            "records": self.records,
            "prompts": self.prompts,
            "sha256": self.sha256,
            "rejected": self.rejected,
            "rejects": self.rejects,
        }

    @classmethod
    def from_json(cls, entry: dict) -> Part:
        return cls(**{k: entry[k] for k in cls.__dataclass_fields__})

    def intact(self, folder: str) -> bool:
        """The part's file is in ``folder`` with its checksum (and its
        rejects file, if it has one)."""
        if self.rejects and not os.path.isfile(os.path.join(folder, self.rejects)):
            return False
        try:
            return sha256_file(os.path.join(folder, self.part)) == self.sha256
        except OSError:
            return False

    def read_rejects(self, folder: str) -> list[Rejected]:
        """The records the part's shard had rejected, from its rejects file."""
        if not self.rejects:
            return []
        path = os.path.join(folder, self.rejects)
        with open(path, encoding="utf-8") as handle:
            try:
                entries = [json.loads(line) for line in handle if line.strip()]
                return [
                    Rejected(e["location"], e["reason"], e["record"]) for e in entries
                ]
            except (ValueError, KeyError, TypeError) as exc:
                raise DataFormatError(f"{path}: not a rejects file ({exc})") from None


@dataclass(frozen=True)
class Manifest:
    """A folder's parts (complete ones, in shard order) and how they were made."""

    format: str
    settings: dict
    shards: int
    parts: tuple[Part, ...]

    @property
    def complete(self) -> bool:
        return len(self.parts) == self.shards

    @property
    def records(self) -> int:
        return sum(part.records for part in self.parts)

    def to_json(self) -> dict:
        return {
            "seqscore": __version__,
            "format": self.format,
            "settings": self.settings,
            "shards": self.shards,
            "complete": self.complete,
            "records": self.records,
            "parts": [part.to_json() for part in self.parts],
        }

    def write(self, folder: str) -> None:
        """Replace ``folder``'s manifest (atomically)."""
        with open_output(os.path.join(folder, MANIFEST)) as out:
            json.dump(self.to_json(), out, indent=1, ensure_ascii=False)
            out.write("\n")


def read_manifest(folder: str) -> Manifest | None:
    """``folder``'s manifest, or None when it has none."""
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (ValueError, RecursionError) as exc:
        why = exc if isinstance(exc, ValueError) else "nested too deeply"
        raise DataFormatError(f"{path}: not a seqscore manifest ({why})") from None
    try:
        return Manifest(
            format=data["format"],
            settings=data["settings"],
            shards=data["shards"],
            parts=tuple(Part.from_json(entry) for entry in data["parts"]),
        )
    except (KeyError, TypeError) as exc:
        raise DataFormatError(
            f"{path}: not a seqscore manifest (missing or bad {exc})"
        ) from None


def sha256_file(path: str) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
