"""The manifest of a folder of parts: round trip, checksums, bad manifests."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqscore.errors import DataFormatError
from seqscore.runs.manifest import MANIFEST, Manifest, Part, read_manifest, sha256_file

texts = st.text(max_size=12)


@st.composite
def parts(draw):
    return Part(
        part=draw(texts),
        shard=draw(texts),
        path=draw(texts),
        shard_bytes=draw(st.integers(0, 2**40)),
        shard_mtime_ns=draw(st.integers(0, 2**62)),
        input_format=draw(st.sampled_from(["seqscore", "openai", "npz"])),
        format=draw(st.sampled_from(["jsonl", "csv", "parquet"])),
        records=draw(st.integers(0, 10**6)),
        prompts=draw(st.integers(0, 10**6)),
        sha256=draw(st.text("0123456789abcdef", min_size=64, max_size=64)),
        rejected=draw(st.integers(0, 10)),
        rejects=draw(st.none() | texts),
    )


@given(st.lists(parts(), max_size=4), st.integers(0, 5))
def test_a_manifest_reads_back_as_written(tmp_path_factory, listed, extra):
    folder = tmp_path_factory.mktemp("parts")
    manifest = Manifest(
        "jsonl", {"normalize": "sum"}, len(listed) + extra, tuple(listed)
    )
    manifest.write(str(folder))
    assert read_manifest(str(folder)) == manifest
    data = json.loads((folder / MANIFEST).read_text())
    assert data["complete"] == (extra == 0)
    assert data["records"] == sum(p.records for p in listed)
    assert [p["rejected"] for p in data["parts"]] == [p.rejected for p in listed]


def test_a_part_is_intact_while_its_bytes_keep_their_checksum(tmp_path):
    (tmp_path / "part-00000.csv").write_bytes(b"prompt\nq1\n")
    digest = hashlib.sha256(b"prompt\nq1\n").hexdigest()  # what sha256sum prints
    assert sha256_file(str(tmp_path / "part-00000.csv")) == digest
    part = Part("part-00000.csv", "a", "/a", 1, 1, "seqscore", "csv", 1, 1, digest)
    assert part.intact(str(tmp_path))
    (tmp_path / "part-00000.csv").write_bytes(b"prompt\nq2\n")
    assert not part.intact(str(tmp_path))
    (tmp_path / "part-00000.csv").unlink()
    assert not part.intact(str(tmp_path))


def test_no_manifest_and_bad_manifests(tmp_path):
    assert read_manifest(str(tmp_path)) is None
    (tmp_path / MANIFEST).write_text("{")
    with pytest.raises(
        DataFormatError, match=r"manifest\.json: not a seqscore manifest"
    ):
        read_manifest(str(tmp_path))
    (tmp_path / MANIFEST).write_text('{"format": "csv"}')
    with pytest.raises(DataFormatError, match="missing or bad 'settings'"):
        read_manifest(str(tmp_path))
