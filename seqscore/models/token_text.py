"""Each token's text: a tokenizer's raw pieces decoded one by one.

A Hugging Face tokenizer names its tokens by *pieces* in its own alphabet:
byte-level BPE (GPT-2, Llama 3, Qwen) writes each byte as a printable
character, so `` the`` is ``Ġthe`` and a newline ``Ċ``; SentencePiece
(Llama 2, Mistral, T5) writes a space as ``▁`` and a byte it has no piece
for as ``<0x0A>``; WordPiece (BERT) marks a word's continuation with
``##``. People read text, so seqscore carries both: the piece (what the
tokenizer calls the token, for programs) and the token's *text* (what it
stands for), decoded here once per vocabulary entry when a model loads.

A token's text is its bytes decoded as UTF-8. A byte-level token may hold
only part of a character (``東`` is three bytes, often three tokens): such
bytes cannot be text on their own, and rather than a replacement character
``�`` (which would hide which bytes they were, and make different tokens
look the same) they are kept as Python's ``surrogateescape`` code points
U+DC80-U+DCFF, one per byte: ``text.encode("utf-8", "surrogateescape")``
gives the token's bytes back, and readable output shows them as ``\\xe6``
(:func:`seqscore.report.readable.visible`).

Added and special tokens (``<|endoftext|>``, ``<s>``) are their own text
(but for SentencePiece byte pieces, which some tokenizers list as added),
as is every piece of a tokenizer whose scheme is none of the three, and
the ``<id N>`` names of ids a tokenizer does not name.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence

__all__ = ["piece_bytes", "scheme_of", "token_texts"]

#: A SentencePiece byte token.
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


@functools.cache
def _byte_decoder() -> dict[str, int]:
    """GPT-2's ``bytes_to_unicode`` inverted: the character that stands
    for each byte in a byte-level piece (printable Latin-1 characters stand
    for themselves; the others are shifted to U+0100 and up, so a space is
    ``Ġ`` U+0120 and a newline ``Ċ`` U+010A)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    shifted = [b for b in range(256) if b not in printable]
    table = {chr(b): b for b in printable}
    table.update({chr(256 + n): b for n, b in enumerate(shifted)})
    return table


@functools.cache
def _latin_table() -> dict[int, int]:
    """:func:`_byte_decoder` as a ``str.translate`` table to the Latin-1
    character of each byte (then ``encode("latin-1")`` gives the bytes);
    every other character up to U+0143 becomes U+FFFF, which says "not a
    byte-level piece" (beyond U+0143 no character is in the table, and
    Latin-1 refuses it)."""
    table = dict.fromkeys(range(0x144), 0xFFFF)
    table.update({ord(char): byte for char, byte in _byte_decoder().items()})
    return table


def piece_bytes(piece: str, scheme: str) -> bytes:
    """The bytes a piece stands for under a tokenizer ``scheme``
    (``byte_level``, ``sentencepiece``, ``wordpiece``, or anything else:
    the piece's own UTF-8).

    >>> piece_bytes("Ġthe", "byte_level"), piece_bytes("Ċ", "byte_level")
    (b' the', b'\\n')
    >>> piece_bytes("æ", "byte_level")  # the first byte of a CJK character
    b'\\xe6'
    >>> piece_bytes("▁the", "sentencepiece"), piece_bytes("<0x0A>", "sentencepiece")
    (b' the', b'\\n')
    >>> piece_bytes("##ing", "wordpiece")
    b'ing'
    """
    if scheme == "byte_level":
        latin = piece.translate(_latin_table())
        if "\uffff" not in latin:  # every character stands for a byte
            try:
                return latin.encode("latin-1")
            except UnicodeEncodeError:  # a character past U+0143
                pass
    elif scheme == "sentencepiece":
        byte = _BYTE_PIECE.fullmatch(piece)
        if byte:
            return bytes([int(byte.group(1), 16)])
        return piece.replace("▁", " ").encode("utf-8")
    elif scheme == "wordpiece" and piece.startswith("##") and len(piece) > 2:
        return piece[2:].encode("utf-8")
    return piece.encode("utf-8")


def scheme_of(tokenizer) -> str:
    """How ``tokenizer`` writes its pieces: ``byte_level``,
    ``sentencepiece``, ``wordpiece`` or ``plain`` (pieces are text), read
    from a fast tokenizer's decoder, else from a slow one's attributes."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        try:
            decoder = json.dumps(
                json.loads(backend.to_str()).get("decoder"), ensure_ascii=False
            )
        except (AttributeError, TypeError, ValueError):
            decoder = ""
        if '"ByteLevel"' in decoder:
            return "byte_level"
        if '"ByteFallback"' in decoder or '"Metaspace"' in decoder or "▁" in decoder:
            return "sentencepiece"
        if '"WordPiece"' in decoder:
            return "wordpiece"
        return "plain"
    if hasattr(tokenizer, "byte_decoder"):
        return "byte_level"
    if hasattr(tokenizer, "sp_model"):
        return "sentencepiece"
    if hasattr(tokenizer, "wordpiece_tokenizer"):
        return "wordpiece"
    return "plain"


def token_texts(tokenizer, pieces: Sequence[str]) -> tuple[str, ...]:
    """The text of every id's piece in ``pieces`` (a model's ``vocab``):
    its bytes decoded as UTF-8, bytes that are no character on their own as
    ``surrogateescape`` code points; added and special tokens as they are.
    Without a tokenizer, the pieces themselves (so too the ``<id N>``
    names of ids past the tokenizer's vocabulary).
    """
    if tokenizer is None:
        return tuple(pieces)
    scheme = scheme_of(tokenizer)
    if scheme == "plain":
        return tuple(pieces)
    added = set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    if scheme == "sentencepiece":  # byte pieces are bytes, even when added
        added = {i for i in added if not _BYTE_PIECE.fullmatch(pieces[i])}
    named = len(tokenizer)
    return tuple(
        piece
        if index in added or index >= named
        else piece_bytes(piece, scheme).decode("utf-8", "surrogateescape")
        for index, piece in enumerate(pieces)
    )
