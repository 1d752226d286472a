"""Readable token text and terminal widths (seqscore.report.readable).

``visible`` is checked for its rule (every character class it names) and
for being reversible; ``display_width`` / ``truncate`` / ``pad`` against
``wcwidth``, the reference for what a terminal draws, over every
assigned code point and over sample texts.
"""

from __future__ import annotations

import re
import unicodedata

import pytest

from seqscore.report.readable import (
    display_width,
    fit,
    pad,
    truncate,
    visible,
)

wcwidth = pytest.importorskip("wcwidth")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (" the", "␣the"),
        ("\n", "\\n"),
        ("\n\n", "\\n\\n"),
        ("\t", "\\t"),
        ("\r\n", "\\r\\n"),
        ("a\\nb", "a\\\\nb"),  # a literal backslash-n is not a newline
        ("␣", "\\u2423"),  # a literal open box is not a space
        ("\x00\x1b", "\\x00\\x1b"),
        ("\x7f", "\\x7f"),
        ("\u00a0", "\\u00a0"),  # no-break space: \xa0 would be a byte
        ("\x85\xad", "\\u0085\\u00ad"),  # next line, soft hyphen
        ("\u3000", "\\u3000"),  # ideographic space
        ("\u200b", "\\u200b"),  # zero-width space
        ("\ufeff", "\\ufeff"),  # byte order mark
        ("\u2028", "\\u2028"),  # line separator
        ("\U000e0001", "\\U000e0001"),  # language tag (Cf, astral)
        ("\udce6\udc97", "\\xe6\\x97"),  # surrogateescape bytes
        ("\ud800", "\\ud800"),  # a lone surrogate that is no byte
        ("東京", "東京"),
        ("é", "é"),
        ("e\u0301", "e\u0301"),  # combining marks show on their letter
        ("<unk>", "<unk>"),
        ("", ""),
    ],
)
def test_visible_follows_its_rule(text, shown):
    assert visible(text) == shown


_ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[ntr\\])|␣")


def _unvisible(shown: str) -> str:
    """The inverse of ``visible``, written from its documented rule."""

    def one(match):
        code = match.group(1)
        if code is None:
            return " "
        if code in ("n", "t", "r", "\\"):
            return {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}[code]
        value = int(code[1:], 16)
        # \xNN above \x7f is a byte (surrogateescape); below, an ASCII control
        return chr(0xDC00 + value if code[0] == "x" and value >= 0x80 else value)

    return _ESCAPE.sub(one, shown)


@pytest.mark.parametrize(
    "text",
    [
        " the end.\n",
        "tab\there\\there",
        "␣ and \u00a0 and \u200b",
        b"\xe6\x97\xa5 \xe6".decode("utf-8", "surrogateescape"),
        "\x00\x85\xad\udc85\udcad\xa0\udca0",  # characters and bytes alike
        "日本語\r\n",
    ],
)
def test_visible_is_reversible(text):
    shown = visible(text)
    assert _unvisible(shown) == text
    # nothing blank or invisible is left
    assert " " not in shown and "\n" not in shown
    assert all(unicodedata.category(c)[0] not in "CZ" for c in shown)


def _changed_width_since_python_unicode(cp: int) -> bool:
    """Characters whose East Asian Width became W after Unicode 14 (the
    version of Python 3.11's unicodedata; wcwidth follows a newer one):
    the Yijing and Tai Xuan Jing symbols and counting rods (Unicode 16)."""
    return (
        0x2630 <= cp <= 0x2637
        or 0x268A <= cp <= 0x268F
        or 0x4DC0 <= cp <= 0x4DFF
        or 0x1D300 <= cp <= 0x1D376
    )


def test_display_width_is_wcwidth_for_every_assigned_character():
    differ = []
    for cp in range(0x20, 0x110000):
        char = chr(cp)
        if unicodedata.category(char) in ("Cn", "Co", "Cs", "Cc"):
            continue
        expected = wcwidth.wcwidth(char)
        if expected >= 0 and display_width(char) != expected:
            differ.append(cp)
    assert differ, "wcwidth and Python now share a Unicode version: tighten this"
    assert all(_changed_width_since_python_unicode(cp) for cp in differ), [
        hex(cp) for cp in differ if not _changed_width_since_python_unicode(cp)
    ][:20]


@pytest.mark.parametrize(
    "text",
    [
        "Paris",
        "北京市",
        "東京 and Lyon",
        "한국어 텍스트",
        "ｶﾀｶﾅ and ＡＢＣ",  # halfwidth katakana, fullwidth Latin
        "café",
        "cafe\u0301",
        "क्षत्रिय",  # Devanagari with a virama and vowel signs
        "👍🏽 👨\u200d👩\u200d👧 🇫🇷🇩🇪",
        "❤\ufe0f #\ufe0f\u20e3",
        "zero\u200bwidth",
        "\u1100\u1161\u11a8",  # a Hangul syllable in conjoining jamo
    ],
)
def test_display_width_of_texts_is_wcswidth(text):
    assert display_width(text) == wcwidth.wcswidth(text)


@pytest.mark.parametrize(
    ("text", "width", "cut"),
    [
        ("abcdef", 6, "abcdef"),
        ("abcdef", 5, "abcd…"),
        ("北京市政府", 10, "北京市政府"),
        ("北京市政府", 9, "北京市政…"),
        ("北京市政府", 8, "北京市…"),  # 政 would straddle the edge: it goes
        ("cafe\u0301s!", 5, "cafe\u0301…"),  # the accent stays on its e
        ("👨\u200d👩\u200d👧 family", 3, "👨\u200d👩\u200d👧…"),
        ("日本", 1, "…"),
    ],
)
def test_truncate_counts_columns(text, width, cut):
    assert truncate(text, width) == cut
    assert wcwidth.wcswidth(truncate(text, width)) <= width


def test_pad_and_fit_align_wide_text_in_columns():
    names = ["Paris", "北京", "東京都庁舎ビル", "cafe\u0301"]
    cells = [fit(name, 8, "<") + "|" for name in names]
    assert {wcwidth.wcswidth(cell) for cell in cells} == {9}
    assert pad("東京", 6, ">") == "  東京"
    assert pad("東京", 7, "^") == " 東京  "
    assert pad("東京都", 4) == "東京都"  # already wider: left as it is
