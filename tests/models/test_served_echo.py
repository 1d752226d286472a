"""The echo parser (:mod:`seqscore.models.served_echo`) on answers recorded
from servers other than llama-cpp-python (``fixtures/served/responses/``,
each with its provenance: OpenAI's own API as lm-eval recorded it in 2021,
vLLM 0.16 as pasted in a llama.cpp pull request), and on small literal
answers for its edges: an echoed BOS, the generated token echoed or not, a
token across the context/continuation boundary, ``count=`` from a local
tokenizer, null and malformed log-probs.

Expected values are never computed by the code under test: they are the
numbers listed in the recorded JSON (or in the literal answer), read off by
hand and copied here; each test says which entries it copied.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqscore.errors import InvalidInputError, SeqScoreError, ServerError
from seqscore.models.served_echo import read_echo, spelled_start, split_echo

RESPONSES = Path(__file__).resolve().parents[2] / "fixtures" / "served" / "responses"


def recorded(name: str) -> dict:
    return json.loads((RESPONSES / name).read_text(encoding="utf-8"))


def continuation(body, prompt: str, context: str, count: int | None = None):
    """``(echo, tokens, log-probs, alternatives)`` of the continuation after
    ``context``, as the served model reads it."""
    echo = read_echo(body, prompt, "the answer")
    tokens, logprobs, tops = split_echo(echo, prompt, context, count, "the answer")[:3]
    return echo, tokens, logprobs, tops


def answer(tokens, logprobs, *, top=None, offsets=None, usage=None) -> dict:
    """A legacy completion answer with these echoed tokens."""
    lp: dict = {"tokens": tokens, "token_logprobs": logprobs}
    if top is not None:
        lp["top_logprobs"] = top
    if offsets is not None:
        lp["text_offset"] = offsets
    body: dict = {"choices": [{"index": 0, "text": "".join(tokens), "logprobs": lp}]}
    if usage is not None:
        body["usage"] = usage
    return body


# --------------------------------------------------------------- recorded


def test_every_fixture_has_provenance_request_and_response():
    names = sorted(p.name for p in RESPONSES.glob("*.json"))
    assert len(names) >= 4
    for name in names:
        data = recorded(name)
        assert set(data) == {"provenance", "request", "response"}, name
        for key in ("source", "server", "version", "how", "trimmed"):
            assert data["provenance"].get(key), (name, key)
        assert "prompt" in data["request"], name
        assert data["response"]["choices"], name


def test_openai_ada_echo_with_ten_alternatives():
    """OpenAI, ada, June 2021 (lm-eval's recorded test answer): no generated
    token (max_tokens 0, no usage), first log-prob null. Expected values
    read off ``openai_ada_echo_top10_dog.json`` by hand:
    ``token_logprobs[4:9]`` and ``top_logprobs[8]``."""
    data = recorded("openai_ada_echo_top10_dog.json")
    body, prompt = data["response"], data["request"]["prompt"]
    assert prompt == "The quick brown fox jumps over the lazy dog"

    echo, tokens, logprobs, tops = continuation(
        body, prompt, "The quick brown fox jumps over the lazy"
    )
    assert echo.tokens == tuple(body["choices"][0]["logprobs"]["tokens"])  # all 9
    assert echo.logprobs[0] is None
    assert tokens == (" dog",)
    np.testing.assert_array_equal(logprobs, [-0.9092717])
    assert len(tops[0]) == 10  # logprobs=10: ten alternatives
    assert tops[0][" dog"] == -0.9092717
    assert max(tops[0].values()) == -0.9092717  # " dog" is the greedy choice

    _, tokens, logprobs, _ = continuation(body, prompt, "The quick brown fox")
    assert tokens == (" jumps", " over", " the", " lazy", " dog")
    np.testing.assert_array_equal(
        logprobs, [-0.7151396, -0.56749594, -0.06530725, -0.53612393, -0.9092717]
    )


def test_openai_ada_echo_capped_at_five_alternatives_without_the_token():
    """OpenAI, ada, November 2021, the same request: 5 alternatives where 10
    were asked, and the scored token is not among them. Expected values
    read off ``openai_ada_echo_top5_cat.json``: ``token_logprobs[8]`` and
    ``top_logprobs[8]``."""
    data = recorded("openai_ada_echo_top5_cat.json")
    body, prompt = data["response"], data["request"]["prompt"]

    _, tokens, logprobs, tops = continuation(
        body, prompt, "The quick brown fox jumps over the lazy"
    )
    assert tokens == (" cat",)
    np.testing.assert_array_equal(logprobs, [-5.523887])
    assert len(tops[0]) == 5
    assert " cat" not in tops[0]
    assert max(tops[0].values()) == -0.90933126  # " dog": " cat" is not greedy
    assert all(len(t) == 5 for t in body["choices"][0]["logprobs"]["top_logprobs"][1:])


def test_openai_echoes_endoftext_first_and_it_is_skipped_by_spelling():
    """OpenAI echoes the <|endoftext|> that the request put first (as vLLM
    echoes BOS), null log-prob, its 13 characters counted by text_offset.
    Spelling skips it, so an empty context scores the first real token,
    whose log-prob (given <|endoftext|>) the answer has. Expected value read
    off ``openai_ada_echo_endoftext_first.json``: ``token_logprobs[1]``."""
    body = recorded("openai_ada_echo_endoftext_first.json")["response"]
    assert body["choices"][0]["logprobs"]["text_offset"] == [0, 13]

    echo, tokens, logprobs, _ = continuation(body, "test", "")
    assert echo.tokens == ("<|endoftext|>", "test")
    assert tokens == ("test",)
    np.testing.assert_array_equal(logprobs, [-11.65008])

    # the same with the special token written in the prompt's text
    _, tokens, logprobs, _ = continuation(body, "<|endoftext|>test", "<|endoftext|>")
    assert tokens == ("test",)
    np.testing.assert_array_equal(logprobs, [-11.65008])

    # a local tokenizer's count of the continuation (one token) agrees
    _, tokens, _, _ = continuation(body, "test", "", count=1)
    assert tokens == ("test",)


def test_vllm_echo_drops_generated_token_and_keeps_extra_alternative():
    """vLLM 0.16 (Qwen3, no BOS), max_tokens 1: the generated '1' is echoed
    last and dropped; vLLM adds the prompt's own token to its 5 alternatives
    where it is not among them (6 items). Expected values read off
    ``vllm_qwen3_echo_max_tokens1.json``: ``token_logprobs[3:8]`` and
    ``top_logprobs[3]``."""
    data = recorded("vllm_qwen3_echo_max_tokens1.json")
    body, prompt = data["response"], data["request"]["prompt"]
    assert prompt == "The step of boiling water is: "

    echo, tokens, logprobs, tops = continuation(body, prompt, "The step of")
    assert echo.tokens[-1] == " "  # "1", generated, is not a prompt token
    assert len(echo.tokens) == 8
    assert tokens == (" boiling", " water", " is", ":", " ")
    expected = [
        -13.55989933013916,
        -2.0115487575531006,
        -2.2331151962280273,
        -8.53701114654541,
        -1.2870503664016724,
    ]
    np.testing.assert_array_equal(logprobs, expected)
    assert len(tops[0]) == 6  # logprobs=5, plus " boiling" itself
    assert tops[0][" boiling"] == -13.55989933013916
    assert max(tops[0].values()) == -0.23177461326122284  # " the"

    # counted by a local tokenizer (5 continuation tokens): the same tokens
    _, counted, counted_lp, _ = continuation(body, prompt, "The step of", count=5)
    assert counted == tokens
    np.testing.assert_array_equal(counted_lp, expected)


# ------------------------------------------------------------ BOS, usage

#: vLLM's echo of a BOS: the tokens and text_offset of facebook/opt-125m's
#: first streamed chunk in vllm-project/vllm#47815 (text_offset counts the
#: BOS's 4 characters: "Hello" at 4); the thread gives no log-probs, so
#: those here are placeholders, and " a" is taken as the generated token.
OPT_TOKENS = ["</s>", "Hello", ",", " I", "'m", " a"]
OPT_OFFSETS = [0, 4, 9, 10, 12, 14]
OPT_LOGPROBS = [None, -7.0, -1.5, -2.25, -3.0, -0.5]


def test_vllm_bos_echoed_first_is_skipped_by_spelling():
    """Expected values: the literal's log-probs after the context."""
    body = answer(
        OPT_TOKENS, OPT_LOGPROBS, offsets=OPT_OFFSETS, usage={"completion_tokens": 1}
    )
    echo, tokens, logprobs, _ = continuation(body, "Hello, I'm", "Hello,")
    assert echo.tokens == ("</s>", "Hello", ",", " I", "'m")
    assert tokens == (" I", "'m")
    np.testing.assert_array_equal(logprobs, [-2.25, -3.0])

    # an empty context: the first text token, which has a log-prob given BOS
    _, tokens, logprobs, _ = continuation(body, "Hello, I'm", "")
    assert tokens == ("Hello", ",", " I", "'m")
    np.testing.assert_array_equal(logprobs, [-7.0, -1.5, -2.25, -3.0])


@pytest.mark.parametrize("bos", ["<s>", "<|begin_of_text|>"])
def test_bos_before_prompt_is_not_a_continuation_token(bos):
    body = answer(
        [bos, "The", " cat", " sat", "."],
        [None, -1.0, -2.0, -3.0, -0.5],
        usage={"completion_tokens": 1},
    )
    assert spelled_start([bos, "The", " cat", " sat"], "The cat sat") == 1
    _, tokens, logprobs, _ = continuation(body, "The cat sat", "The")
    assert tokens == (" cat", " sat")
    np.testing.assert_array_equal(logprobs, [-2.0, -3.0])


# prompt "The cat sat"; '.' is the generated token where it is echoed
PRESENT = (["The", " cat", " sat", "."], [None, -1.0, -2.0, -0.5])
ABSENT = (["The", " cat", " sat"], [None, -1.0, -2.0])


@pytest.mark.parametrize(
    ("echoed", "usage"),
    [
        pytest.param(PRESENT, {"prompt_tokens": 3, "completion_tokens": 1}, id="vllm"),
        pytest.param(PRESENT, None, id="present-no-usage"),
        # llama-cpp-python without BOS: the generated token is not echoed,
        # but usage still counts it
        pytest.param(ABSENT, {"prompt_tokens": 3, "completion_tokens": 1}, id="llama"),
        # OpenAI with max_tokens 0 (lm-eval's request): nothing generated
        pytest.param(ABSENT, None, id="absent-no-usage"),
        pytest.param(ABSENT, {"completion_tokens": 0}, id="max-tokens-0"),
    ],
)
def test_generated_token_dropped_whether_or_not_echoed(echoed, usage):
    """Expected values: the literal's " cat", " sat" log-probs."""
    body = answer(*echoed, usage=usage)
    echo, tokens, logprobs, _ = continuation(body, "The cat sat", "The")
    assert echo.tokens == ("The", " cat", " sat")
    assert tokens == (" cat", " sat")
    np.testing.assert_array_equal(logprobs, [-1.0, -2.0])


@pytest.mark.parametrize(
    "usage",
    [
        pytest.param({"prompt_tokens": 3, "completion_tokens": 1}, id="llama"),
        pytest.param(None, id="no-usage"),
    ],
)
def test_unechoed_generated_token_with_text_offset_keeps_the_last_prompt_token(
    usage,
):
    """llama-cpp-python without BOS answers like this (SERVER_FACTS.md): the
    prompt's tokens with their text_offset, no generated token, usage
    counting one. Expected: the three prompt tokens, " cat" and " sat" as
    the continuation (the literal's log-probs)."""
    body = answer(ABSENT[0], ABSENT[1], offsets=[0, 3, 7], usage=usage)
    echo = read_echo(body, "The cat sat", "the answer")
    assert echo.tokens == ("The", " cat", " sat")
    tokens, logprobs = split_echo(echo, "The cat sat", "The", None, "r")[:2]
    assert tokens == (" cat", " sat")
    np.testing.assert_array_equal(logprobs, [-1.0, -2.0])


def test_usage_counting_more_generated_tokens_than_echoed_is_a_server_error():
    body = answer(["The", " cat"], [None, -1.0], usage={"completion_tokens": 5})
    with pytest.raises(ServerError, match=r"completion_tokens \(5\) exceeds"):
        read_echo(body, "The dog", "the answer")


# -------------------------------------------------------------- the split


def test_token_spanning_the_boundary_is_an_error_naming_it():
    """' cat' covers "The ca|t": lm-eval's context tokens are not a prefix
    of the server's, so no split is right. (The parser raises
    InvalidInputError here, the user's boundary being at fault; both it and
    ServerError are SeqScoreErrors, never a traceback of another type.)"""
    body = answer(["The", " cat", " sat", "."], [None, -1.0, -2.0, -0.5])
    with pytest.raises(SeqScoreError, match=r"token ' cat' spans"):
        continuation(body, "The cat sat", "The ca")


def test_last_token_spanning_the_boundary_is_an_error_naming_it():
    body = answer(["The", " cat", "."], [None, -1.0, -0.5])
    with pytest.raises(SeqScoreError, match=r"token ' cat' spans"):
        continuation(body, "The cat", "The c")


#: vLLM 0.4.2's broken prompt detokenization (vllm-project/vllm#5334, fixed
#: in 0.5.2): Llama-2's tokens for "\n1. Carol has 20" as pasted there, BOS
#: first, then the 5 generated tokens; text_offset as pasted;
#: token_logprobs[0:9] as pasted, the rest (cut off in the archived thread)
#: placeholders.
BROKEN_TOKENS = [
    "<s>", "", "\n", "1", ".", "\n Carol", "\n\n has", "\n\n\n ", "\n\n\n\n2",
    "\n\n\n\n\n0", "0", "0", " books", " in", " her",
]  # fmt: skip
BROKEN_OFFSETS = [0, 3, 3, 4, 5, 6, 13, 19, 23, 28, 34, 35, 36, 42, 45]
BROKEN_LOGPROBS = [
    None, -4.1065497398376465, -4.179874420166016, -5.703912258148193,
    -0.9323832988739014, -10.607088088989258, -6.339632987976074,
    -4.3729047775268555, -1.8068292140960693, -1.5, -0.1, -0.2, -0.3, -0.4, -0.5,
]  # fmt: skip


def test_count_from_a_local_tokenizer_takes_the_last_prompt_tokens():
    """Tokens that do not spell the prompt cannot be split by spelling, but
    a local tokenizer's count still takes the last ``count`` prompt tokens
    (usage's completion_tokens 5 drops the generated ones). Expected
    values: the literal's token_logprobs[7:10]."""
    body = answer(
        BROKEN_TOKENS,
        BROKEN_LOGPROBS,
        offsets=BROKEN_OFFSETS,
        usage={"prompt_tokens": 10, "completion_tokens": 5},
    )
    prompt = "\n1. Carol has 20"
    echo = read_echo(body, prompt, "the answer")
    assert echo.tokens == tuple(BROKEN_TOKENS[:10])
    assert echo.prompt_tokens == 10
    with pytest.raises(ServerError, match="--tokenizer"):
        split_echo(echo, prompt, "\n1. Carol has", None, "the answer")
    tokens, logprobs = split_echo(echo, prompt, "\n1. Carol has", 3, "r")[:2]
    assert tokens == ("\n\n\n ", "\n\n\n\n2", "\n\n\n\n\n0")
    np.testing.assert_array_equal(
        logprobs, [-4.3729047775268555, -1.8068292140960693, -1.5]
    )


def test_count_ignores_spelling_even_where_spelling_would_agree():
    body = answer(["The", " cat", " sat", "."], [None, -1.0, -2.0, -0.5])
    echo = read_echo(body, "The cat sat", "r")
    # the context "The" would give two tokens by spelling; the count rules
    assert split_echo(echo, "The cat sat", "The", 1, "r")[0] == (" sat",)


@pytest.mark.parametrize("count", [0, 4, 99])
def test_count_outside_the_echoed_tokens_is_a_server_error(count):
    body = answer(["The", " cat", " sat", "."], [None, -1.0, -2.0, -0.5])
    echo = read_echo(body, "The cat sat", "r")
    with pytest.raises(ServerError, match="prompt tokens"):
        split_echo(echo, "The cat sat", "The", count, "r")


def test_null_first_logprob_makes_an_empty_context_the_records_error():
    # the record's error (InvalidInputError: --on-error skip skips it), not
    # the server's: the server scores other records
    body = answer(["The", " cat", "."], [None, -1.0, -0.5])
    with pytest.raises(InvalidInputError, match=r"'The'.*give the record a context"):
        continuation(body, "The cat", "")


def test_null_logprob_inside_the_continuation_is_the_records_error():
    body = answer(["The", " cat", " sat", "."], [None, -1.0, None, -0.5])
    with pytest.raises(InvalidInputError, match=r"continuation token 1 \(' sat'\)"):
        continuation(body, "The cat sat", "The")


# -------------------------------------------------------------- malformed

GOOD_TOKENS = ["The", " cat", "."]


def _with(**logprobs) -> dict:
    lp = {"tokens": GOOD_TOKENS, "token_logprobs": [None, -1.0, -0.5]} | logprobs
    return {"choices": [{"text": "The cat.", "logprobs": lp}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(None, "no choices", id="none"),
        pytest.param("Internal Server Error", "no choices", id="text"),
        pytest.param([{"choices": []}], "no choices", id="list"),
        pytest.param({}, "no choices", id="empty"),
        pytest.param({"choices": []}, "no choices", id="choices-empty"),
        pytest.param({"choices": {"0": {}}}, "no choices", id="choices-dict"),
        pytest.param({"choices": [None]}, "no choices", id="choice-null"),
        pytest.param(
            {"error": {"message": "echo is not supported"}}, "no choices", id="error"
        ),
        pytest.param({"choices": [{"text": "x"}]}, "no logprobs.tokens", id="no-lp"),
        pytest.param(
            {"choices": [{"logprobs": {"content": []}}]},
            "no logprobs.tokens",
            id="chat-shaped",
        ),
        pytest.param(_with(tokens="The cat."), "no logprobs.tokens", id="tokens-str"),
        pytest.param(_with(tokens=["The", None, "."]), r"tokens\[1\]", id="token-null"),
        pytest.param(_with(token_logprobs=None), "token_logprobs", id="no-values"),
        pytest.param(
            _with(token_logprobs=[None, -1.0]), "differ in length", id="short-values"
        ),
        pytest.param(
            _with(top_logprobs=[None, {}]), "top_logprobs differ", id="short-top"
        ),
        pytest.param(
            _with(top_logprobs={"The": -1.0}), "top_logprobs differ", id="top-dict"
        ),
        # litellm's TGI adapter answered "None" (a string) for the first
        # log-prob: BerriAI/litellm#699 (ishaan-jaff, 2023-11-01)
        pytest.param(
            _with(token_logprobs=["None", -1.0, -0.5]),
            r"token_logprobs\[0\]: expected a number, got 'None'",
            id="string-None",
        ),
        pytest.param(
            _with(token_logprobs=[None, "-1.0", -0.5]),
            r"token_logprobs\[1\]: expected a number",
            id="string-number",
        ),
        pytest.param(
            _with(token_logprobs=[None, True, -0.5]),
            r"token_logprobs\[1\]: expected a number",
            id="bool",
        ),
        pytest.param(
            _with(token_logprobs=[None, 0.5, -0.5]),
            r"token_logprobs\[1\]: 0.5 is not a log-probability",
            id="positive",
        ),
        pytest.param(
            _with(token_logprobs=[None, float("nan"), -0.5]),
            "is not a log-probability",
            id="nan",
        ),
        pytest.param(
            _with(top_logprobs=[None, [[" cat", -1.0]], None]),
            r"top_logprobs\[1\]: expected an object",
            id="top-list",
        ),
        pytest.param(
            _with(top_logprobs=[None, {" cat": None}, None]),
            r"top_logprobs\[1\]\[' cat'\]: null",
            id="top-null",
        ),
        pytest.param(
            _with(top_logprobs=[None, {" cat": "-1.0"}, None]),
            r"top_logprobs\[1\]\[' cat'\]: expected a number",
            id="top-string",
        ),
        pytest.param(
            _with(top_logprobs=[None, {" cat": 3.0}, None]),
            "is not a log-probability",
            id="top-positive",
        ),
    ],
)
def test_malformed_answers_are_server_errors(body, message):
    with pytest.raises(ServerError, match=message):
        continuation(body, "The cat", "The")


@pytest.mark.parametrize("where", ["token_logprobs", "top_logprobs"])
def test_integer_logprob_too_large_for_a_float_is_a_server_error(where):
    huge = -(10**400)  # what json.loads gives for a 401-digit integer literal
    if where == "token_logprobs":
        body = _with(token_logprobs=[None, huge, -0.5])
    else:
        body = _with(top_logprobs=[None, {" cat": huge}, None])
    with pytest.raises(ServerError, match=r"log-prob|number"):
        continuation(body, "The cat", "The")


def test_small_logprob_overshoot_above_zero_is_clipped():
    """Float error can put a certain token's log-prob a hair above 0; up to
    1e-4 it is read as 0."""
    body = _with(token_logprobs=[None, 5e-5, -0.5])
    _, _, logprobs, _ = continuation(body, "The cat", "The")
    np.testing.assert_array_equal(logprobs, [0.0])


# --------------------------------------------------------------- property

# no "<", so the BOS "<s>" can never be part of the prompt's spelling
TOKEN_TEXT = st.text(alphabet="ab .,é\n", min_size=1, max_size=4)


@given(
    tokens=st.lists(TOKEN_TEXT, min_size=2, max_size=12),
    bos=st.booleans(),
    generated=st.sampled_from(["echoed", "not-echoed"]),
    usage=st.booleans(),
    data=st.data(),
)
def test_split_by_spelling_returns_the_tokens_after_the_boundary(
    tokens, bos, generated, usage, data
):
    """Tokens whose join is the prompt, a boundary between two of them:
    split_echo by spelling returns exactly the tokens after it, with their
    log-probs, whatever is echoed before (BOS) or after (the generated
    token) and whether usage counts it; a local count agrees."""
    prompt = "".join(tokens)
    cut = data.draw(st.integers(1, len(tokens) - 1), label="cut")
    values = data.draw(
        st.lists(
            st.floats(-60.0, 0.0, allow_nan=False),
            min_size=len(tokens),
            max_size=len(tokens),
        ),
        label="values",
    )
    echoed = (["<s>"] if bos else []) + tokens
    logprobs: list = [None, *values] if bos else [None, *values[1:]]
    if generated == "echoed":
        echoed = [*echoed, data.draw(TOKEN_TEXT, label="generated")]
        logprobs = [*logprobs, -0.25]
    body = answer(echoed, logprobs, usage={"completion_tokens": 1} if usage else None)

    context = "".join(tokens[:cut])
    _, got, got_lp, _ = continuation(body, prompt, context)
    assert got == tuple(tokens[cut:])
    np.testing.assert_array_equal(got_lp, values[cut:])

    _, counted, counted_lp, _ = continuation(
        body, prompt, context, count=len(tokens) - cut
    )
    assert counted == got
    np.testing.assert_array_equal(counted_lp, got_lp)
