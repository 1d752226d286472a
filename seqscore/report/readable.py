"""Text a person reads: a token (or any short text) with nothing hidden.

A token's decoded text is often blank or invisible: `` the`` starts with a
space, a newline token is a line break, a tab looks like spaces, and a
zero-width or non-breaking space looks like nothing or like a space. In a
table or a sentence those vanish, so every report shows such text through
:func:`visible`, one rule everywhere (tables, ``diagnose``, ``compare``,
``--tokens``, the HTML report). Programs read the decoded text itself, and
the token id and raw piece, from json/jsonl; :func:`visible` is for eyes
only.

The rule, character by character (and it is reversible: no two texts look
the same):

* a space (U+0020) is ``␣`` (U+2423, OPEN BOX);
* newline, tab and carriage return are ``\\n``, ``\\t`` and ``\\r`` (a
  backslash and a letter, as in Python);
* a backslash is doubled (``\\\\``), and a literal ``␣`` is ``\\u2423``, so
  that neither can be mistaken for the escapes above;
* a byte that is not text (part of a UTF-8 character cut between tokens,
  carried as Python's ``surrogateescape`` code point U+DC80-U+DCFF) is
  ``\\xNN``, the byte;
* every other character that shows nothing or only blank space: control
  and format characters (Unicode categories Cc, Cf: ``\\x00``, zero-width
  space, zero-width joiner, byte order mark), other surrogates and private
  use (Cs, Co), other spaces (Zs: no-break space, ideographic space) and
  line and paragraph separators (Zl, Zp) is ``\\xNN`` (ASCII controls),
  ``\\uNNNN`` or ``\\UNNNNNNNN`` by its code point: ``\\xNN`` above
  ``\\x7f`` always means a byte, so U+0085 or a no-break space (U+00A0)
  is ``\\u0085`` or ``\\u00a0``, never mistaken for the byte 0x85 or 0xA0;
* everything else (letters, digits, punctuation, CJK, emoji, combining
  marks) is itself.

It also holds how wide text is on a terminal (:func:`display_width`), how
to cut it to a width (:func:`truncate`) and pad it to one (:func:`pad`,
:func:`fit`), since a readable table must count columns, not code points:
a CJK character takes two, a combining mark none. Python's ``f"{text:<10}"``
and ``str.ljust`` count code points, so a column of Chinese candidates
misaligns by one column per character.
"""

from __future__ import annotations

import unicodedata

__all__ = ["display_width", "fit", "pad", "truncate", "visible"]

#: Characters with a fixed visible form.
_NAMED = {
    " ": "␣",
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\\": "\\\\",
    "␣": "\\u2423",
}
#: Unicode categories shown by code point: they show nothing, or only blank.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Zp"})


def _escape(char: str) -> str:
    """One hidden character by its code point (a ``surrogateescape`` code
    point by the byte it stands for)."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:  # an ASCII control: it cannot be a stray byte
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: str) -> str:
    """*text* as a person should read it: spaces as ``␣``, newlines as
    ``\\n``, every other invisible character escaped (the full rule is in
    the module's docstring).

    >>> visible(" the")
    '␣the'
    >>> print(visible("end.\\n\\n"))
    end.\\n\\n
    >>> print(visible("a\\tb\\\\c"))
    a\\tb\\\\c
    >>> print(visible("zero\\u200bwidth\\u00a0nbsp"))
    zero\\u200bwidth\\u00a0nbsp
    >>> visible("日本語") == "日本語"
    True
    >>> print(visible(b"\\xe6\\x97".decode("utf-8", "surrogateescape")))
    \\xe6\\x97
    >>> visible("")
    ''
    """
    if text.isalnum():
        return text
    out = []
    for char in text:
        named = _NAMED.get(char)
        if named is not None:
            out.append(named)
        elif unicodedata.category(char) in _HIDDEN:
            out.append(_escape(char))
        else:
            out.append(char)
    return "".join(out)


#: Unicode categories that take no column: combining marks (nonspacing,
#: enclosing and, as ``wcwidth`` counts them, spacing), format characters
#: (zero-width space and joiner), controls, line and paragraph separators.
_ZERO_CATEGORIES = frozenset({"Mn", "Me", "Mc", "Cf", "Cc", "Zl", "Zp"})
#: Format characters that do print: the soft hyphen, and the prepended
#: concatenation marks (Arabic number sign and its kin).
_PRINTING_FORMAT = frozenset(
    "\u00ad\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f"
    "\u0890\u0891\u08e2\U000110bd\U000110cd"
)
_ZWJ, _VS16 = "\u200d", "\ufe0f"
#: Keycap bases, which an emoji presentation selector (VS16) widens.
_KEYCAPS = frozenset("#*0123456789")


def _char_width(char: str) -> int:
    """Columns one character takes on its own: 2 for East Asian wide and
    fullwidth (W, F) and regional indicators (flag letters), 0 for the
    categories of ``_ZERO_CATEGORIES`` and the Hangul medial vowels, final
    consonants and fillers (they join the syllable before them), 1
    otherwise. The rule of ``wcwidth``, from the standard library alone
    (checked against ``wcwidth`` in the tests)."""
    if char.isascii():
        return 1 if char.isprintable() else 0
    if char in _PRINTING_FORMAT:
        return 1
    if (
        unicodedata.category(char) in _ZERO_CATEGORIES
        or "\u1160" <= char <= "\u11ff"
        or "\ud7b0" <= char <= "\ud7ff"
        or char in "\u3164\uffa0"
    ):
        return 0
    if "\U0001f1e6" <= char <= "\U0001f1ff":
        return 2
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _clusters(text: str):
    """``(start, end, width)`` of each run of characters a terminal draws
    as one: a character with the zero-width ones after it, where a
    character after a zero-width joiner, an emoji skin-tone modifier and
    the second regional indicator of a flag join the one before; an emoji
    presentation selector (VS16) makes a narrow symbol or keycap base two
    columns wide."""
    start, width, base = 0, 0, ""
    joined = pair = False
    for index, char in enumerate(text):
        w = _char_width(char)
        flag = "\U0001f1e6" <= char <= "\U0001f1ff"
        if index and (
            w == 0 or joined or "\U0001f3fb" <= char <= "\U0001f3ff" or (flag and pair)
        ):
            if (
                char == _VS16
                and width == 1
                and (base in _KEYCAPS or unicodedata.category(base) == "So")
            ):
                width = 2
            joined = char == _ZWJ
            pair = False
            continue
        if index:
            yield start, index, width
        start, width, base = index, w, char
        joined = char == _ZWJ
        pair = flag
    if text:
        yield start, len(text), width


def display_width(text: str) -> int:
    """Columns *text* takes on a terminal (see :func:`_char_width` and
    :func:`_clusters`).

    >>> display_width("Paris"), display_width("日本"), display_width("e\u0301")
    (5, 4, 1)
    >>> display_width("👍🏽"), display_width("🇫🇷"), display_width("❤\ufe0f")
    (2, 2, 2)
    """
    if text.isascii():
        return sum(1 for char in text if char.isprintable())
    return sum(width for _, _, width in _clusters(text))


def truncate(text: str, width: int, ellipsis: str = "…") -> str:
    """*text* cut to at most *width* columns, ending in *ellipsis* when cut
    (a wide character that would straddle the edge goes whole; combining
    marks and joined emoji stay with their first character).

    >>> truncate("abcdef", 4)
    'abc…'
    >>> truncate("日本語テキスト", 6), truncate("日本語テキスト", 5, ellipsis="")
    ('日本…', '日本')
    >>> truncate("日本", 4)
    '日本'
    """
    if display_width(text) <= width:
        return text
    room = width - display_width(ellipsis)
    used = 0
    end = 0
    for _, stop, w in _clusters(text):
        if used + w > room:
            break
        used += w
        end = stop
    return text[:end] + ellipsis


def pad(text: str, width: int, align: str = "<") -> str:
    """*text* padded with spaces to *width* columns: ``<`` left-aligned,
    ``>`` right-aligned, ``^`` centred (as a format spec aligns, but by
    display width); text already as wide is returned as it is.

    >>> pad("日本", 6) + "|", pad("ab", 4, ">") + "|"
    ('日本  |', '  ab|')
    """
    room = width - display_width(text)
    if room <= 0:
        return text
    if align == ">":
        return " " * room + text
    if align == "^":
        return " " * (room // 2) + text + " " * (room - room // 2)
    return text + " " * room


def fit(text: str, width: int, align: str = "<") -> str:
    """*text* cut (:func:`truncate`) and padded (:func:`pad`) to exactly
    *width* columns (a table cell).

    >>> fit("東京都庁舎", 7) + "|"
    '東京都…|'
    """
    return pad(truncate(text, width), width, align)
