"""Each token's text from real tokenizers (seqscore.models.token_text).

Three tokenizers built offline with the ``tokenizers`` library, one per
scheme: byte-level BPE (GPT-2's; the tiny one of ``tests/tiny_lm.py``),
SentencePiece-style BPE with byte fallback (Llama 2's tokenizer.json:
``▁`` for a space, ``<0x0A>`` byte pieces, decoder Replace + ByteFallback
+ Fuse + Strip) and WordPiece. The check that needs no golden value: the
tokens' texts, as bytes (``surrogateescape``), put together are the
encoded text's own bytes, for texts with spaces, newlines, accents, CJK
and an emoji; and a token that decodes alone decodes as the tokenizer's
own ``decode`` says.
"""

from __future__ import annotations

import pytest

from seqscore.models.hf_tokens import HFTokens
from seqscore.models.token_text import piece_bytes, scheme_of, token_texts
from seqscore.report.readable import visible

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

TEXTS = [
    "The cat sat.\nThe end.",
    "  two spaces, a\ttab",
    "naïve café, 東京 and 北京 🙂",
    "def f(x):\n    return x\n",
]
CORPUS = [
    "The cat sat on the mat. The dog ate the cat's dinner.\n" * 3,
    "def f(x):\n    return x + 1\n",
    "naïve café, résumé",
]


@pytest.fixture(scope="module")
def byte_level():
    from tests.tiny_lm import bpe_tokenizer

    return bpe_tokenizer(vocab_size=300)


@pytest.fixture(scope="module")
def sentencepiece():
    """Llama 2's scheme: Metaspace pieces, byte fallback for the rest."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.trainers import BpeTrainer

    backend = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    backend.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]
    )
    backend.pre_tokenizer = pre_tokenizers.Split("▁", "merged_with_next")
    backend.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    byte_pieces = [f"<0x{b:02X}>" for b in range(256)]
    trainer = BpeTrainer(
        vocab_size=400,
        special_tokens=["<unk>", "<s>", "</s>", *byte_pieces],
        show_progress=False,
    )
    backend.train_from_iterator(CORPUS, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


@pytest.fixture(scope="module")
def wordpiece():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.trainers import WordPieceTrainer

    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece()
    trainer = WordPieceTrainer(
        vocab_size=200, special_tokens=["[UNK]"], show_progress=False
    )
    backend.train_from_iterator(CORPUS, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]"
    )


def _texts(tokenizer):
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return pieces, token_texts(tokenizer, pieces)


def test_the_scheme_is_read_from_the_decoder(byte_level, sentencepiece, wordpiece):
    assert scheme_of(byte_level) == "byte_level"
    assert scheme_of(sentencepiece) == "sentencepiece"
    assert scheme_of(wordpiece) == "wordpiece"
    assert scheme_of(object()) == "plain"


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("name", ["byte_level", "sentencepiece"])
def test_token_texts_put_together_are_the_text(name, text, request):
    tokenizer = request.getfixturevalue(name)
    _, texts = _texts(tokenizer)
    ids = tokenizer.encode(text, add_special_tokens=False)
    joined = "".join(texts[i] for i in ids).encode("utf-8", "surrogateescape")
    # SentencePiece prepends a space to the text (the decoder's Strip
    # takes it off the first token again)
    expected = (" " + text if name == "sentencepiece" else text).encode()
    assert joined == expected


@pytest.mark.parametrize("name", ["byte_level", "sentencepiece"])
def test_a_token_whole_in_utf8_decodes_as_the_tokenizer_decodes_it(name, request):
    tokenizer = request.getfixturevalue(name)
    _, texts = _texts(tokenizer)
    special = set(tokenizer.all_special_ids)
    checked = 0
    for index, text in enumerate(texts):
        raw = text.encode("utf-8", "surrogateescape")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        # after a token, so that the decoder's Strip of a leading space
        # does not touch the token itself
        before = tokenizer.decode([texts.index("a")])
        both = tokenizer.decode([texts.index("a"), index])
        if index not in special:
            assert both[len(before) :] == text, (index, text)
            checked += 1
    assert checked > 150  # every ASCII byte, and the merges


def test_partial_characters_keep_their_bytes(byte_level, sentencepiece):
    """東 is three UTF-8 bytes: tokens that hold one of them show the byte
    (golden: b"\\xe6\\x9d\\xb1" is 東's UTF-8)."""
    for tokenizer in (byte_level, sentencepiece):
        _, texts = _texts(tokenizer)
        ids = tokenizer.encode("東", add_special_tokens=False)
        shown = [visible(texts[i]) for i in ids]
        assert "".join(shown).replace("␣", "") == "\\xe6\\x9d\\xb1", shown


def test_golden_pieces_and_texts(byte_level, sentencepiece, wordpiece):
    """The examples of the docs: Ġthe is ␣the, Ċ a newline, ▁the ␣the,
    <0x0A> a newline, ##s s, and special tokens are their own text."""
    pieces, texts = _texts(byte_level)
    named = dict(zip(pieces, texts, strict=True))
    assert named["Ġthe"] == " the"
    assert named["Ċ"] == "\n"
    assert named["<|endoftext|>"] == "<|endoftext|>"
    pieces, texts = _texts(sentencepiece)
    named = dict(zip(pieces, texts, strict=True))
    assert named["▁the"] == " the"
    assert named["<0x0A>"] == "\n"
    assert named["<0xE6>"] == "\udce6"
    assert named["<s>"] == "<s>"
    pieces, texts = _texts(wordpiece)
    named = dict(zip(pieces, texts, strict=True))
    assert any(p.startswith("##") for p in pieces)
    for piece, text in named.items():
        if piece.startswith("##"):
            assert text == piece[2:]


def test_piece_bytes_of_pieces_outside_the_scheme_are_their_utf8():
    # a character no byte-level piece holds (an added token's, say)
    assert piece_bytes("東Ġ", "byte_level") == "東Ġ".encode()
    assert piece_bytes("<0xZZ>", "sentencepiece") == b"<0xZZ>"
    assert piece_bytes("##", "wordpiece") == b"##"
    assert piece_bytes("Ġthe", "plain") == "Ġthe".encode()


def test_hf_tokens_carry_each_ids_text_beside_its_piece(byte_level):
    from types import SimpleNamespace

    size = len(byte_level) + 2  # an embedding padded past the vocabulary
    weight = SimpleNamespace(shape=(size, 4))
    model = SimpleNamespace(
        get_output_embeddings=lambda: SimpleNamespace(weight=weight),
        config=SimpleNamespace(eos_token_id=0, bos_token_id=0),
    )
    tokens = HFTokens(model, byte_level)
    the = tokens.vocab.index("Ġthe")
    assert tokens.vocab_text[the] == " the"
    assert tokens.vocab_text[-1] == tokens.vocab[-1] == f"<id {size - 1}>"
    assert token_texts(None, ("a", "b")) == ("a", "b")
