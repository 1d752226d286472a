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
  line and paragraph separators (Zl, Zp) is ``\\xNN``, ``\\uNNNN`` or
  ``\\UNNNNNNNN`` by its code point, as Python's ``repr`` writes it;
* everything else (letters, digits, punctuation, CJK, emoji, combining
  marks) is itself.

It also holds how wide text is on a terminal (:func:`display_width`) and
how to cut it to a width (:func:`truncate`), since a readable table must
count columns, not code points: a CJK character takes two, a combining
mark none.
"""

from __future__ import annotations

import unicodedata

__all__ = ["display_width", "truncate", "visible"]

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
    if code < 0x100:
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
    zero\\u200bwidth\\xa0nbsp
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


def _char_width(char: str) -> int:
    """Columns one character takes on a terminal: 2 for East Asian wide and
    fullwidth (W, F), 0 for combining marks (Mn, Me), format characters
    (Cf, such as the zero-width joiner), the Hangul medial vowels and final
    consonants that join the syllable before them, and control characters;
    1 otherwise. The rule of ``wcwidth`` (checked against it in the tests),
    from the standard library alone."""
    if char.isascii():
        return 1 if char.isprintable() else 0
    if char == "\u00ad":  # the soft hyphen: Cf, but wcwidth prints it
        return 1
    category = unicodedata.category(char)
    if category in ("Mn", "Me", "Cf", "Cc") or "\u1160" <= char <= "\u11ff":
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Columns *text* takes on a terminal (see :func:`_char_width`).

    >>> display_width("Paris"), display_width("日本"), display_width("e\\u0301")
    (5, 4, 1)
    """
    if text.isascii():
        return sum(1 for char in text if char.isprintable())
    return sum(_char_width(char) for char in text)


def truncate(text: str, width: int) -> str:
    """*text* cut to at most *width* columns, ending in ``…`` when cut (a
    wide character that would straddle the edge goes whole; combining marks
    stay with their letter).

    >>> truncate("abcdef", 4)
    'abc…'
    >>> truncate("日本語テキスト", 6)
    '日本…'
    >>> truncate("日本", 4)
    '日本'
    """
    if display_width(text) <= width:
        return text
    room = width - 1
    used = 0
    end = 0
    for index, char in enumerate(text):
        w = _char_width(char)
        if used + w > room:
            break
        used += w
        end = index + 1
    return text[:end] + "…"
