"""OpenAI responses' tokens as text (seqscore.formats.openai): a token
spelled ``bytes:\\xNN...`` (bytes that are no character on their own) is
read as its bytes, and a candidate's text made of tokens joins them."""

from __future__ import annotations

import pytest

from seqscore.formats.openai import convert_record, token_text
from seqscore.report.readable import visible

#: 京 is b"\xe4\xba\xac": here split over two tokens, as a tokenizer may.
KYO = ["bytes:\\xe4", "bytes:\\xba\\xac"]


def _chat(tokens, content=None):
    items = [
        {
            "token": t,
            "logprob": -0.5,
            "bytes": None,
            "top_logprobs": [{"token": t, "logprob": -0.5}],
        }
        for t in tokens
    ]
    message = {"role": "assistant", "content": content}
    choice = {"index": 0, "message": message, "logprobs": {"content": items}}
    return {"id": "c1", "choices": [choice]}


@pytest.mark.parametrize(
    ("token", "text"),
    [
        ("bytes:\\xe4", "\udce4"),
        ("bytes:\\xBA\\xac", "\udcba\udcac"),
        ("bytes: not escapes", "bytes: not escapes"),  # text that starts so
        ("bytes:", "bytes:"),
        (" Paris", " Paris"),
    ],
)
def test_token_text_reads_openai_byte_tokens(token, text):
    assert token_text(token) == text


def test_chat_byte_tokens_become_bytes_and_the_text_their_characters():
    (prompt,) = convert_record(_chat([" 東", *KYO]), "f:1")
    (candidate,) = prompt.candidates
    assert candidate.tokens.token == (" 東", "\udce4", "\udcba\udcac")
    assert [visible(t) for t in candidate.tokens.token] == [
        "␣東",
        "\\xe4",
        "\\xba\\xac",
    ]
    assert candidate.tokens.top_tokens[1] == ("\udce4",)
    # no message content: the text is the tokens' bytes put together
    assert candidate.text == " 東京"
    assert (candidate.n_chars, candidate.n_bytes) == (3, 7)


def test_legacy_byte_tokens_too():
    logprobs = {
        "tokens": [" 東", *KYO],
        "token_logprobs": [-0.1, -0.2, -0.3],
        "top_logprobs": [{" 東": -0.1}, {KYO[0]: -0.2}, {KYO[1]: -0.3}],
    }
    record = {
        "id": "c1",
        "choices": [{"index": 0, "text": " 東京", "logprobs": logprobs}],
    }
    (prompt,) = convert_record(record, "f:1")
    (candidate,) = prompt.candidates
    assert candidate.tokens.token[1:] == ("\udce4", "\udcba\udcac")
    assert candidate.tokens.top_tokens[2] == ("\udcba\udcac",)
    assert candidate.text == " 東京" and candidate.n_bytes == 7
