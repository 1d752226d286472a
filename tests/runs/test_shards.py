"""Sharded runs in this process: shard lists, records, parts and resume."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqscore.errors import DataFormatError, InvalidInputError
from seqscore.formats.inputs import map_prompts
from seqscore.runs.manifest import MANIFEST, read_manifest, sha256_file
from seqscore.runs.schedulers import LocalScheduler
from seqscore.runs.shards import (
    ScoreSettings,
    list_shards,
    score_shard,
    score_shards,
    write_parts,
)
from tests.shard_files import FIXTURES, shard_lines, write_shards

IN_PROCESS = LocalScheduler(1)
DEFAULTS = ScoreSettings()


def single_file_records(path, settings=DEFAULTS):
    """What ``seqscore score FILE`` scores: its prompts' records, in order."""
    with map_prompts(str(path), settings.transform(), workers=1) as (_, results):
        return [record for result in results for record in result]


def test_a_glob_lists_its_matches_sorted_and_a_directory_its_shards(tmp_path):
    paths = write_shards(tmp_path / "d", 3)
    (tmp_path / "d" / "notes.txt").write_text("not a shard")
    (tmp_path / "d" / ".hidden.jsonl").write_text("")
    by_glob = list_shards([str(tmp_path / "d" / "shard-*.jsonl")])
    by_folder = list_shards([str(tmp_path / "d")])
    assert [s.path for s in by_glob] == [str(p) for p in paths]
    assert [s.path for s in by_folder] == [str(p) for p in paths]
    assert [s.index for s in by_folder] == [0, 1, 2]


def test_names_keep_their_order_and_relative_names_are_kept_for_messages(
    tmp_path, monkeypatch
):
    write_shards(tmp_path, 3)
    monkeypatch.chdir(tmp_path)
    shards = list_shards(["shard-02.jsonl", "shard-0[01].jsonl"])
    assert [s.name for s in shards] == [
        "shard-02.jsonl",
        "shard-00.jsonl",
        "shard-01.jsonl",
    ]
    assert shards[0].path == str(tmp_path / "shard-02.jsonl")


def test_bad_shard_lists(tmp_path):
    write_shards(tmp_path, 1)
    with pytest.raises(DataFormatError, match=r"nothing-\*\.jsonl: no file matches"):
        list_shards([str(tmp_path / "nothing-*.jsonl")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="empty: a directory with no"):
        list_shards([str(tmp_path / "empty")])
    shard = str(tmp_path / "shard-00.jsonl")
    with pytest.raises(InvalidInputError, match="named twice"):
        list_shards([shard, str(tmp_path / "shard-0*.jsonl")])
    with pytest.raises(InvalidInputError, match="standard input"):
        list_shards([shard, "-"])


def test_a_shard_scores_exactly_as_the_single_file(tmp_path):
    settings = ScoreSettings(normalize="mean", sort=True, detail=("tokens",))
    (shard,) = list_shards([str(FIXTURES / "seqscore.jsonl")])
    scored = score_shard(shard, settings)
    assert list(scored.records) == single_file_records(shard.path, settings)
    assert scored.input_format == "seqscore" and scored.prompts == 3


@given(
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=5),
    workers=st.sampled_from([1, 3]),
)
def test_shards_in_order_are_the_records_of_their_concatenation(sizes, workers):
    # property: cutting a file into shards anywhere changes no record and no
    # order (one shard on the local scheduler is read by byte ranges)
    with tempfile.TemporaryDirectory() as folder:
        lines = [line for s, n in enumerate(sizes) for line in shard_lines(s, n)]
        whole = Path(folder, "whole.jsonl")
        whole.write_text("\n".join(lines) + "\n")
        names, start = [], 0
        for s, n in enumerate(sizes):
            names.append(str(Path(folder, f"part{s:02d}.jsonl")))
            Path(names[-1]).write_text("\n".join(lines[start : start + n]) + "\n")
            start += n
        results = score_shards(list_shards(names), ScoreSettings(), IN_PROCESS)
        records = [r for result in results for r in result.records]
        assert records == single_file_records(whole)
        if len(sizes) == 1:  # byte ranges on several processes: the same
            (scored,) = score_shards(
                list_shards(names), ScoreSettings(), LocalScheduler(workers)
            )
            assert list(scored.records) == records


def test_bad_records_are_named_by_shard_and_line_and_skip_collects_them(tmp_path):
    paths = write_shards(tmp_path, 3)
    lines = paths[1].read_text().splitlines()
    lines[1] = '{"id": "bad", "candidates": [{"logprobs": [null]}]}'
    paths[1].write_text("\n".join(lines) + "\n")
    shards = list_shards([str(p) for p in paths])
    with pytest.raises(DataFormatError, match=rf"^{paths[1]}:2: candidates\[0\]"):
        list(score_shards(shards, ScoreSettings(), IN_PROCESS))
    results = list(score_shards(shards, ScoreSettings(on_error="skip"), IN_PROCESS))
    assert [len(r.rejects) for r in results] == [0, 1, 0]
    assert results[1].rejects[0].location == f"{paths[1]}:2"
    assert [r.prompts for r in results] == [3, 2, 3]


def test_parts_hold_each_shards_records_and_the_manifest_counts_them(tmp_path):
    paths = write_shards(tmp_path / "in", 3)
    shards = list_shards([str(tmp_path / "in")])
    run = write_parts(
        shards, ScoreSettings(), str(tmp_path / "out"), "jsonl", IN_PROCESS
    )
    manifest = read_manifest(str(tmp_path / "out"))
    assert manifest == run.manifest and manifest.complete and run.written == 3
    for path, part in zip(paths, manifest.parts, strict=True):
        rows = (tmp_path / "out" / part.part).read_text().splitlines()
        assert [json.loads(r) for r in rows] == json.loads(
            json.dumps(single_file_records(path))
        )
        assert part.records == len(rows) == 8  # 3 + 2 + 3 candidates
        assert part.sha256 == sha256_file(str(tmp_path / "out" / part.part))
        assert part.path == str(path) and part.shard == str(path)
    assert manifest.records == 24


def test_resume_keeps_intact_parts_and_writes_the_rest(tmp_path):
    paths = write_shards(tmp_path / "in", 4)
    shards = list_shards([str(p) for p in paths])
    out = tmp_path / "out"
    write_parts(shards, ScoreSettings(), str(out), "csv", IN_PROCESS)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*")}
    (out / "part-00001.csv").write_text("damaged\n")  # checksum no longer matches
    paths[2].write_text(paths[2].read_text() + "\n")  # shard changed (size)
    (out / "part-00003.csv").unlink()
    run = write_parts(shards, ScoreSettings(), str(out), "csv", IN_PROCESS, resume=True)
    assert run.written == 3 and run.reused == 1
    assert (out / "part-00000.csv").stat().st_mtime_ns == before["part-00000.csv"]
    assert run.manifest.complete
    assert all(part.intact(str(out)) for part in run.manifest.parts)


def test_resume_with_other_options_is_refused(tmp_path):
    shards = list_shards([str(p) for p in write_shards(tmp_path / "in", 1)])
    write_parts(shards, ScoreSettings(), str(tmp_path), "jsonl", IN_PROCESS)
    with pytest.raises(InvalidInputError, match=r"changed: format, normalize\)"):
        write_parts(
            shards,
            ScoreSettings(normalize="mean"),
            str(tmp_path),
            "csv",
            IN_PROCESS,
            resume=True,
        )


def test_a_failed_shard_leaves_no_part_and_the_manifest_lists_what_is_complete(
    tmp_path,
):
    paths = write_shards(tmp_path / "in", 3)
    paths[2].write_text('{"id": "x", "candidates": [{"logprobs": [1.5]}]}\n')
    shards = list_shards([str(p) for p in paths])
    out = tmp_path / "out"
    with pytest.raises(DataFormatError, match=r"shard-02\.jsonl:1: "):
        write_parts(shards, ScoreSettings(), str(out), "jsonl", IN_PROCESS)
    manifest = read_manifest(str(out))
    assert [p.part for p in manifest.parts] == ["part-00000.jsonl", "part-00001.jsonl"]
    assert not manifest.complete
    assert sorted(os.listdir(out)) == [MANIFEST, "part-00000.jsonl", "part-00001.jsonl"]


def test_temporaries_of_killed_tasks_are_removed_when_the_run_completes(tmp_path):
    shards = list_shards([str(p) for p in write_shards(tmp_path / "in", 2)])
    out = tmp_path / "out"
    out.mkdir()
    left = [
        out / ".part-00001.jsonl.k3j_x9.tmp",
        out / ".part-00000.rejects.jsonl.a.tmp",
    ]
    kept = [out / ".part-00001.jsonl.tmp", out / ".notes.txt.b.tmp", out / "x.tmp"]
    for path in left + kept:
        path.write_text("partial")
    write_parts(shards, DEFAULTS, str(out), "jsonl", IN_PROCESS)
    assert not any(path.exists() for path in left)
    assert all(path.exists() for path in kept)
