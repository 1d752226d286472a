"""``--format html`` opened in a real browser (headless Chromium).

The page is for people, so it is checked where people read it: Chromium
loads the file from disk, runs its script, and the DOM it ends with
(``--dump-dom``) must hold every scored token with the log-prob and rank
the json output gives; the page must fetch nothing (no external reference
in the DOM, and no resource loaded even with its Content-Security-Policy
taken out); and its screenshot must show the heat map, not a blank page.

Chromium is Debian's ``chromium`` (``apt-get install chromium``). Without
it these tests skip, unless ``SEQSCORE_REQUIRE_BROWSER=1`` (CI) makes them
fail. Jinja2 is the extra ``seqscore[html]``.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seqscore.cli import main
from seqscore.report.html import SHADES, import_jinja2, number, shade
from seqscore.report.readable import visible

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "fixtures"
RUN_A = FIXTURES / "lmeval" / "run_a"
SAMPLES = RUN_A / "samples_seqscore_mc_2026-12-02T21-03-26.264835.jsonl"
#: Flags that keep headless Chromium quiet on a closed network: without the
#: background-networking ones it retries its own services and stalls.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def _jinja2() -> None:
    try:
        import_jinja2()
    except ImportError:
        if os.environ.get("SEQSCORE_REQUIRE_BROWSER") == "1":
            pytest.fail(
                "SEQSCORE_REQUIRE_BROWSER=1 but Jinja2 is missing: "
                "pip install -e '.[html]'"
            )
        pytest.skip("needs Jinja2 (pip install 'seqscore[html]')")


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser's path (a skip, or under SEQSCORE_REQUIRE_BROWSER=1 a
    failure, without it)."""
    _jinja2()
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("SEQSCORE_REQUIRE_BROWSER") == "1":
            pytest.fail("SEQSCORE_REQUIRE_BROWSER=1 but chromium is not installed")
        pytest.skip("needs chromium (apt-get install chromium)")
    return found


def browse(chromium: str, page: Path, tmp_path: Path, *args: str) -> str:
    """Chromium's stdout for ``page`` opened from disk with ``args``."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    done = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dump_dom(chromium: str, page: Path, tmp_path: Path) -> str:
    return browse(chromium, page, tmp_path, "--dump-dom")


def seqscore(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


class Elements(HTMLParser):
    """Every element of a DOM: tag, attributes, text, and the attributes of
    the elements around it (the innermost first)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.found: list[dict] = []
        self._open: list[dict] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": "", "within": []}
        element["within"] = [e["attrs"] for e in reversed(self._open)]
        self.found.append(element)
        if tag not in ("meta", "link", "img", "br", "input", "hr", "source"):
            self._open.append(element)

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()["tag"] == tag:
                break

    def handle_data(self, data):
        for element in self._open:
            element["text"] += data

    def tokens(self) -> list[dict]:
        return [
            e for e in self.found if e["tag"] == "span" and "data-logprob" in e["attrs"]
        ]


def _owner(element: dict, key: str) -> str | None:
    return next((a[key] for a in element["within"] if key in a), None)


# ------------------------------------------------------------------ score


@pytest.mark.parametrize(
    "fixture", ["seqscore.jsonl", "vllm.jsonl", "openai_chat.jsonl", "aligned.npz"]
)
def test_the_dom_holds_every_scored_token_with_jsons_logprob_and_rank(
    fixture, chromium, tmp_path
):
    page = tmp_path / "page.html"
    seqscore("score", FIXTURES / fixture, "--format", "html", "-o", page)
    records = json.loads(
        seqscore("score", FIXTURES / fixture, "--format", "json", "--tokens")
    )
    spans = Elements(dump_dom(chromium, page, tmp_path)).tokens()
    on_page = defaultdict(list)
    for span in spans:
        key = (_owner(span, "data-prompt"), _owner(span, "data-candidate"))
        on_page[key].append(span)
    assert len(spans) == sum(len(r["tokens"]) for r in records) > 0
    for record in records:
        cells = on_page[(record["prompt"], record["candidate"])]
        assert [c["attrs"]["data-logprob"] for c in cells] == [
            json.dumps(t["logprob"]) if t["logprob"] != "-inf" else "-inf"
            for t in record["tokens"]
        ]
        assert [c["attrs"]["data-rank"] for c in cells] == [
            str(t["rank"]) if "rank" in t else "" for t in record["tokens"]
        ]
        if all("token" in t for t in record["tokens"]):
            assert [c["text"] for c in cells] == [
                visible(t["token"]) or "∅" for t in record["tokens"]
            ]
        for cell, token in zip(cells, record["tokens"], strict=True):
            assert f"s{shade(float(token['logprob']))}" in cell["attrs"]["class"]
            if "top" in token:  # the alternatives the hover lists
                listed = cell["attrs"]["data-top"].split("\t")
                assert listed[0::2] == [visible(name) for name, _ in token["top"]]
                assert listed[1::2] == [number(value) for _, value in token["top"]]
            else:
                assert "data-top" not in cell["attrs"]
        weakest = [c for c in cells if "wk" in c["attrs"]["class"].split()]
        assert [cells.index(c) for c in weakest] == [record["weakest_position"]]


def test_a_large_run_is_paged_and_keeps_every_token(chromium, tmp_path):
    rng = np.random.default_rng(0)
    source = tmp_path / "many.jsonl"
    with source.open("w") as out:
        for p in range(45):
            candidates = [
                {
                    "id": f"c{c}",
                    "tokens": [f" w{k}" for k in range(4)],
                    "logprobs": (-rng.exponential(2.0, 4)).tolist(),
                }
                for c in range(3)
            ]
            out.write(json.dumps({"id": f"p{p}", "candidates": candidates}) + "\n")
    page = tmp_path / "many.html"
    seqscore("score", source, "--format", "html", "-o", page)
    elements = Elements(dump_dom(chromium, page, tmp_path))
    sections = [e for e in elements.found if e["tag"] == "section"]
    shown = [s for s in sections if "on" in s["attrs"]["class"].split()]
    assert len(sections) == 45 and len(shown) == 20  # the first page
    assert [s["attrs"]["id"] for s in shown] == [f"prompt-p{p}" for p in range(20)]
    assert any(
        e["tag"] == "nav" and "1–20 of 45 prompts" in e["text"] for e in elements.found
    )
    assert len(elements.tokens()) == 45 * 3 * 4
    summary = next(e for e in elements.found if e["attrs"].get("id") == "summary")
    assert summary["text"].startswith("45 prompts · 135 candidates")


def test_hovering_a_token_shows_its_logprob_rank_and_alternatives(chromium, tmp_path):
    page = tmp_path / "page.html"
    seqscore("score", FIXTURES / "vllm.jsonl", "--format", "html", "-o", page)
    hover = (
        "<script>addEventListener('load', () => document.querySelector("
        "'.t[data-top]').dispatchEvent(new MouseEvent('mouseover', {bubbles: true})))"
        "</script></body>"
    )
    hovered = tmp_path / "hovered.html"
    hovered.write_text(page.read_text().replace("</body>", hover))
    elements = Elements(dump_dom(chromium, hovered, tmp_path))
    token = elements.tokens()[0]
    tip = next(e for e in elements.found if e["attrs"].get("id") == "tip")
    assert "hidden" not in tip["attrs"]
    assert f"log-prob{token['attrs']['data-logprob']}" in tip["text"]
    assert f"rank{token['attrs']['data-rank']}" in tip["text"]
    listed = token["attrs"]["data-top"].split("\t")[0::2]
    assert listed and all(name in tip["text"] for name in listed)


# --------------------------------------------------------- nothing fetched


def test_the_page_fetches_nothing(chromium, tmp_path):
    page = tmp_path / "page.html"
    seqscore("score", FIXTURES / "seqscore.jsonl", "--format", "html", "-o", page)
    text = page.read_text(encoding="utf-8")
    dom = dump_dom(chromium, page, tmp_path)
    for element in Elements(dom).found:
        assert element["tag"] not in ("link", "img", "iframe", "object", "embed")
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            assert name not in element["attrs"], element
    assert "url(" not in text and "@import" not in text
    assert "default-src 'none'" in text  # the policy: nothing may be fetched
    # and without the policy, the page still loads nothing: ask its
    # Resource Timing (every fetched file, font or image) from inside
    bare = tmp_path / "bare.html"
    probe = (
        "<script>addEventListener('load', () => setTimeout(() => {"
        "document.body.setAttribute('data-fetched', JSON.stringify("
        "performance.getEntriesByType('resource').map(e => e.name)))}, 200));"
        "</script></body>"
    )
    without_policy = "\n".join(
        line for line in text.splitlines() if "Content-Security-Policy" not in line
    )
    bare.write_text(without_policy.replace("</body>", probe), encoding="utf-8")
    body = next(
        e
        for e in Elements(
            browse(chromium, bare, tmp_path, "--virtual-time-budget=2000", "--dump-dom")
        ).found
        if e["tag"] == "body"
    )
    assert body["attrs"]["data-fetched"] == "[]"


# -------------------------------------------------------------- screenshot


def read_png(path: Path) -> np.ndarray:
    """An 8-bit RGB or RGBA PNG as an (h, w, channels) array: chunks, zlib,
    and the five row filters (enough for Chromium's screenshots)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, header = 8, b"", None
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + size]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        at += 12 + size
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, -1)
    rows = np.zeros((height, width * channels), np.int32)
    previous = np.zeros(width * channels, np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 2:
            line = line + previous
        elif kind in (1, 3, 4):
            line = _sequential(kind, line, previous, channels)
        rows[y] = previous = line & 0xFF
    return rows.reshape(height, width, channels).astype(np.uint8)


def _sequential(kind, line, previous, bpp):
    """Sub, Average and Paeth, which depend on the pixel to the left."""
    out = line.copy()
    for x in range(bpp, len(line), bpp) if kind == 1 else range(len(line)):
        if kind == 1:
            out[x : x + bpp] = (out[x : x + bpp] + out[x - bpp : x]) & 0xFF
            continue
        left = out[x - bpp] if x >= bpp else 0
        up = previous[x]
        if kind == 3:
            out[x] = (line[x] + (left + up) // 2) & 0xFF
        else:
            corner = previous[x - bpp] if x >= bpp else 0
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            best = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
            out[x] = (line[x] + best) & 0xFF
    return out


def test_the_screenshot_shows_the_heat_map(chromium, tmp_path):
    page = tmp_path / "page.html"
    seqscore("compare", FIXTURES / "seqscore.jsonl", "--format", "html", "-o", page)
    shot = tmp_path / "shot.png"
    browse(chromium, page, tmp_path, "--window-size=1000,700", f"--screenshot={shot}")
    pixels = read_png(shot)[..., :3].reshape(-1, 3)
    colours = {tuple(p) for p in np.unique(pixels, axis=0)}
    assert len(colours) > 50  # text, tables, swatches: not a blank page
    css = (ROOT / "seqscore/report/templates/page.css").read_text()
    for i in range(len(SHADES) + 1):  # the legend shows every shade
        value = css.split(f"--s{i}: #", 1)[1][:6]
        assert tuple(bytes.fromhex(value)) in colours, f"shade {i} #{value}"


# -------------------------------------------------------- other commands


def test_compare_marks_the_deciding_tokens(chromium, tmp_path):
    page = tmp_path / "page.html"
    seqscore("compare", FIXTURES / "seqscore.jsonl", "--format", "html", "-o", page)
    comparisons = json.loads(
        seqscore("compare", FIXTURES / "seqscore.jsonl", "--format", "json")
    )
    spans = Elements(dump_dom(chromium, page, tmp_path)).tokens()
    cells = defaultdict(list)  # each candidate's tokens, in order
    for span in spans:
        cells[(_owner(span, "data-prompt"), _owner(span, "data-candidate"))].append(
            span
        )
    marked = {
        (*key, position)
        for key, tokens in cells.items()
        for position, span in enumerate(tokens)
        if "dc" in span["attrs"]["class"].split()
    }
    expected = {
        (c["prompt"], c["candidate"], step)
        for c in comparisons
        for step in c["deciding_steps"]
    }
    assert marked == expected and expected


def test_diagnose_shows_both_paths_with_jsons_numbers(chromium, tmp_path):
    page = tmp_path / "page.html"
    args = ("diagnose", "--prompt", "if the", "--max-tokens", "6")
    seqscore(*args, "--format", "html", "-o", page)
    report = json.loads(seqscore(*args, "--format", "json"))
    spans = Elements(dump_dom(chromium, page, tmp_path)).tokens()
    for path in ("greedy", "best"):
        cells = [s for s in spans if _owner(s, "data-path") == path]
        assert [c["attrs"]["data-logprob"] for c in cells] == [
            json.dumps(v) for v in report[path]["logprobs"]
        ]
        assert [c["attrs"]["data-rank"] for c in cells] == [
            str(r) for r in report[path]["rank"]
        ]
        assert [c["text"] for c in cells] == [
            visible(t) for t in report[path]["tokens"]
        ]
        assert all("data-alt" in c["attrs"] for c in cells)


def test_evaluate_opens_documents_onto_their_logged_loglikelihoods(chromium, tmp_path):
    samples = tmp_path / SAMPLES.name
    lines = SAMPLES.read_text().splitlines()
    tampered = json.loads(lines[0])
    tampered["acc"] = 1.0 - float(tampered["acc"])  # a logged metric that is wrong
    hashed = json.loads(lines[1])
    hashed["target_hash"] = "0" * 64  # a hash that does not match
    samples.write_text(
        "\n".join([json.dumps(tampered), json.dumps(hashed), *lines[2:]]) + "\n"
    )
    page = tmp_path / "page.html"
    result = CliRunner().invoke(
        main, ["evaluate", str(samples), "--format", "html", "-o", str(page)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(seqscore("evaluate", samples, "--format", "json"))["tasks"][0]
    assert report["mismatches"]["total"] == report["hash_problems"]["total"] == 1
    assert report["disagreements"]["total"]
    elements = Elements(dump_dom(chromium, page, tmp_path))
    documents = [e for e in elements.found if e["tag"] == "details"]
    listed = [
        *report["disagreements"]["items"],
        *report["mismatches"]["items"],
        *report["hash_problems"]["items"],
    ]
    assert len(documents) == len(listed)
    for document, item in zip(documents, listed, strict=True):
        assert f"doc_id {item['doc_id']}" in document["text"]
        line = json.loads(lines[int(item["location"].rsplit(":", 1)[1]) - 1])
        logged = [float(r[0]) for r in line["filtered_resps"]]
        titles = [
            e["attrs"]["title"]
            for e in elements.found
            if e["tag"] == "span"
            and "title" in e["attrs"]
            and any(a is document["attrs"] for a in e["within"])
            and e["within"][0].get("class") == "num"
        ]
        assert titles == [number(v) for v in logged]
    accuracy = {a["metric"]: a for a in report["accuracies"]}["acc_norm"]
    assert number(accuracy["value"]) in {
        e["attrs"].get("title") for e in elements.found if e["tag"] == "span"
    }


# ------------------------------------------------------------ usage


def test_without_jinja2_html_is_a_usage_error_naming_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "jinja2", None)  # import jinja2 fails
    page = tmp_path / "page.html"
    for args in (
        ["score", str(FIXTURES / "seqscore.jsonl")],
        ["compare", str(FIXTURES / "seqscore.jsonl")],
        ["diagnose"],
        ["evaluate", str(SAMPLES)],
    ):
        result = CliRunner().invoke(main, [*args, "--format", "html", "-o", str(page)])
        assert result.exit_code == 2, (args, result.output)
        assert "pip install 'seqscore[html]'" in result.stderr
        assert not page.exists()


def test_a_failed_run_leaves_no_page(tmp_path):
    _jinja2()
    bad = tmp_path / "bad.jsonl"
    good = (FIXTURES / "seqscore.jsonl").read_text().splitlines()[0]
    bad.write_text(good + "\n{not json\n")
    page = tmp_path / "page.html"
    result = CliRunner().invoke(
        main, ["score", str(bad), "--format", "html", "-o", str(page)]
    )
    assert result.exit_code == 1
    assert not page.exists() and not list(tmp_path.glob(".page.html.*"))


def test_the_page_goes_to_standard_output_without_o():
    _jinja2()
    page = seqscore("score", FIXTURES / "seqscore.jsonl", "--format", "html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_html_is_not_a_part_format(tmp_path):
    _jinja2()
    result = CliRunner().invoke(
        main,
        [
            "score",
            str(FIXTURES / "seqscore.jsonl"),
            "--format",
            "html",
            "-o",
            f"{tmp_path}/",
        ],
    )
    assert result.exit_code == 2 and "-o DIR/ writes parts as" in result.stderr


def test_every_template_ships_with_the_package():
    """``pip install .`` installs what pyproject's package data names: every
    file the pages are made of must match it (a template in a subfolder
    would not)."""
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[tool.setuptools.package-data]", 1)[1]
    listed = re.search(r"^seqscore = (\[.*\])$", section, re.MULTILINE)
    patterns = ast.literal_eval(listed.group(1))  # (tomllib: Python 3.11+)
    templates = ROOT / "seqscore" / "report" / "templates"
    files = [p.relative_to(ROOT / "seqscore").as_posix() for p in templates.rglob("*")]
    assert "report/templates/scores.html" in files
    for name in files:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
