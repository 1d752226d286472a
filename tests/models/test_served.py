"""Scoring with a served model, against a real llama-cpp-python server.

The server runs the tiny Llamas of ``fixtures/served/`` (float32 GGUF,
float32 KV cache); ``--model hf:`` loads the very same weights from the
same folder. The golden values are therefore seqscore's own ``hf:`` scores
(themselves checked against plain torch in ``test_loglikelihood.py``), and
a served score must equal them to 1e-4 (llama.cpp's float32 kernels sum in
another order than torch's: measured differences are below 2e-5).

Faults (retries, timeouts, a chat-only endpoint, several models) come from
a real HTTP proxy in front of the real server (``tests/served_proxy.py``).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from seqscore.cli import main
from seqscore.errors import InvalidInputError, ServerError
from seqscore.models import load_model
from seqscore.models.loglikelihood import loglikelihoods
from seqscore.models.perplexity import rolling_perplexity
from seqscore.models.served import ServedModel, ServedOptions, load_served
from seqscore.models.served_cache import request_key
from tests.served_proxy import Faults, proxy
from tests.served_server import FIXTURES, free_port

PAIRS = [
    ("The capital of France is", " Paris"),
    ("The capital of France is", " Lyon"),
    ("Question: what is two plus two?\nAnswer: ", "four"),  # the space moves
    ("Once upon a time", ", there was a little lighthouse by the sea."),
    ("She said", " hello"),
    ("A list: apples, pears,", " and plums"),
    ("Le café", " est très bon, naïve idée."),  # multi-byte characters
    ("東京は", "日本の首都です。"),
]


@pytest.fixture(scope="module")
def hf_bos(llama_server_bos):
    return load_model(f"hf:{llama_server_bos.folder}")


def _close(served, reference, pairs=PAIRS):
    got = loglikelihoods(served, pairs)
    want = loglikelihoods(reference, pairs)
    for (context, text), a, b in zip(pairs, got, want, strict=True):
        assert len(a.token_logprobs) == len(b.token_logprobs), (context, text)
        np.testing.assert_allclose(a.token_logprobs, b.token_logprobs, atol=1e-4)
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
        if a.tokens.is_argmax is None:  # a token echoed as "" (bytes): unknown
            assert "" in a.tokens.token, (context, text)
        else:
            np.testing.assert_array_equal(a.tokens.is_argmax, b.tokens.is_argmax)
    return got


def _greedy_pair(url: str, context: str) -> tuple[str, str]:
    """``context`` and the server's greedy 3-token continuation of it (a
    candidate whose every token is the argmax)."""
    import httpx

    body = {"prompt": context, "max_tokens": 3, "temperature": 0}
    answer = httpx.post(f"{url}/completions", json=body, timeout=30).json()
    return context, answer["choices"][0]["text"]


def test_served_scores_equal_hf_scores_on_the_same_weights(llama_server_bos, hf_bos):
    served = load_served(llama_server_bos.url)
    greedy = _greedy_pair(llama_server_bos.url, "The capital of France is")
    got = _close(served, hf_bos, [*PAIRS, greedy])
    # the greedy flags are exercised both ways (the generated text, encoded
    # again with its context, may split into other tokens: not all greedy)
    flags = np.concatenate(
        [g.tokens.is_argmax for g in got if g.tokens.is_argmax is not None]
    )
    assert flags.any() and not flags.all()


def test_with_its_tokenizer_the_split_is_counted_and_the_scores_agree(
    llama_server_bos, hf_bos
):
    options = ServedOptions(tokenizer=str(llama_server_bos.folder))
    served = load_served(llama_server_bos.url, options)
    _close(served, hf_bos)
    assert "counted by --tokenizer" in served.scoring_route()


def test_a_server_that_shifts_its_echo_is_refused(llama_server_nobos):
    # llama-cpp-python 0.3.x pairs each echoed token with the next row's
    # log-prob when the prompt has no BOS (fixtures/served/SERVER_FACTS.md)
    with pytest.raises(ServerError, match=r"misaligned.*BOS"):
        load_served(llama_server_nobos.url)


def test_another_tokenizer_than_the_servers_is_refused(llama_server_bos, tmp_path):
    from tests.tiny_lm import bpe_tokenizer

    bpe_tokenizer(vocab_size=300).save_pretrained(tmp_path)
    with pytest.raises(ServerError, match=r"counts .* tokens in the probe"):
        load_served(llama_server_bos.url, ServedOptions(tokenizer=str(tmp_path)))


def test_a_token_spanning_the_boundary_is_refused_with_or_without_tokenizer(
    llama_server_bos,
):
    # "The lighthou" + "se keeper": the server's tokens of the whole text
    # cross the boundary, so lm-eval's input (the context's own tokens, then
    # the continuation's) is not what a server tokenising text would see
    pairs = [("The lighthou", "se keeper")]
    folder = str(llama_server_bos.folder)
    for options in (ServedOptions(), ServedOptions(tokenizer=folder)):
        served = load_served(llama_server_bos.url, options)
        with pytest.raises(InvalidInputError, match=r"pair 0: .*spans the"):
            loglikelihoods(served, pairs)


def test_results_do_not_depend_on_concurrency(llama_server_bos):
    one = loglikelihoods(
        load_served(llama_server_bos.url, ServedOptions(concurrency=1)), PAIRS
    )
    many = loglikelihoods(
        load_served(llama_server_bos.url, ServedOptions(concurrency=8)), PAIRS
    )
    assert [r.logprob for r in one] == [r.logprob for r in many]


# ------------------------------------------------------------ command line


def _pairs_file(tmp_path, pairs=PAIRS):
    path = tmp_path / "pairs.jsonl"
    lines = [json.dumps({"context": c, "continuation": x}) for c, x in pairs]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _score(*argv):
    return CliRunner().invoke(main, ["score", *argv], catch_exceptions=False)


def _records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _without_timing(records):
    return [{k: v for k, v in r.items() if k != "source"} for r in records]


def test_the_command_line_gives_hf_numbers(llama_server_bos, tmp_path):
    file = _pairs_file(tmp_path)
    served = _score(
        file, "--model", f"openai:{llama_server_bos.url}", "--format", "jsonl"
    )
    local = _score(
        file, "--model", f"hf:{llama_server_bos.folder}", "--format", "jsonl"
    )
    assert served.exit_code == 0 and local.exit_code == 0
    for a, b in zip(_records(served.output), _records(local.output), strict=True):
        assert (a["prompt"], a["candidate"]) == (b["prompt"], b["candidate"])
        assert a["score"] == pytest.approx(b["score"], abs=1e-4)
        assert a["rank"] == b["rank"]


def test_words_have_the_same_characters_as_hf(llama_server_bos, tmp_path):
    file = _pairs_file(tmp_path, PAIRS[:6])
    argv = [file, "--words", "--format", "jsonl"]
    served = _score(*argv, "--model", f"openai:{llama_server_bos.url}")
    local = _score(*argv, "--model", f"hf:{llama_server_bos.folder}")
    assert served.exit_code == 0, served.output
    ours, theirs = _records(served.stdout), _records(local.stdout)
    words = [[w["word"] for w in r["words"]] for r in ours]
    assert words == [[w["word"] for w in r["words"]] for r in theirs]
    # a server returns top-k, not whole distributions: no word boundary mass
    assert "word_surprisal is null for this model" in served.stderr
    for a, b in zip(ours, theirs, strict=True):
        for x, y in zip(a["words"], b["words"], strict=True):
            assert x["word_surprisal"] is None and y["word_surprisal"] is not None
            assert x["subword_sum"] == pytest.approx(y["subword_sum"], abs=1e-4)


def test_an_empty_context_is_an_error_naming_the_record(llama_server_bos, tmp_path):
    # llama-cpp-python leaves out the first prompt token's log-prob, which
    # is the first continuation token after an empty context
    file = _pairs_file(tmp_path, [("Hi", " there"), ("", "Nothing before")])
    result = CliRunner().invoke(
        main, ["score", file, "--model", f"openai:{llama_server_bos.url}"]
    )
    assert result.exit_code == 1
    assert "pairs.jsonl:2: candidate '0'" in result.output
    assert "empty context" in result.output
    assert "Traceback" not in result.output


def test_the_cache_answers_a_second_run_without_the_server(llama_server_bos, tmp_path):
    file = _pairs_file(tmp_path)
    cache = str(tmp_path / "cache")
    faults = Faults()
    with proxy(llama_server_bos.url, faults) as url:
        argv = [file, "--model", f"openai:{url}", "--cache", cache, "--format", "jsonl"]
        first = _score(*argv)
        asked = faults.forwarded
        second = _score(*argv)
    assert first.exit_code == second.exit_code == 0
    assert asked == 3 + len(PAIRS)  # the probe's three, then one per pair
    assert faults.forwarded - asked == 3  # the probe runs again, nothing else
    assert _records(first.output) == _records(second.output)


def test_a_run_that_fails_leaves_no_output_and_resumes_from_its_cache(
    llama_server_bos, tmp_path
):
    file = _pairs_file(tmp_path)
    cache, out = str(tmp_path / "cache"), tmp_path / "scores.jsonl"
    # the probe's 3 requests pass, then 4 pairs, then the server fails
    faults = Faults(script=[("pass", None)] * 7 + [("status", 500)] * 50)
    with proxy(llama_server_bos.url, faults) as url:
        argv = [file, "--model", f"openai:{url}", "--cache", cache, "--retries", "1"]
        argv += ["--concurrency", "1", "--format", "jsonl", "-o", str(out)]
        failed = CliRunner().invoke(main, ["score", *argv])
        assert failed.exit_code == 1
        assert "HTTP 500 (after 2 tries)" in failed.output
        assert "pairs.jsonl:5: candidate '0'" in failed.output
        assert not out.exists()  # never a partial file that looks complete
        faults.script.clear()
        before = faults.forwarded
        resumed = CliRunner().invoke(main, ["score", *argv])
    assert resumed.exit_code == 0, resumed.output
    assert faults.forwarded - before == 3 + len(PAIRS) - 4  # probe + the rest
    assert len(_records(out.read_text())) == len(PAIRS)


def test_busy_and_slow_answers_are_retried(llama_server_bos, tmp_path):
    file = _pairs_file(tmp_path, PAIRS[:3])
    reference = _score(
        file, "--model", f"openai:{llama_server_bos.url}", "--format", "jsonl"
    )
    faults = Faults(
        script=[
            ("status", 503),
            *[("pass", None)] * 3,
            ("status", 429),
            ("sleep", 1.5),
        ]
    )
    with proxy(llama_server_bos.url, faults) as url:
        result = _score(
            file,
            "--model",
            f"openai:{url}",
            "--request-timeout",
            "0.5",
            "--concurrency",
            "1",
            "--format",
            "jsonl",
        )
    assert result.exit_code == 0, result.output
    assert _records(result.output) == _records(reference.output)
    assert faults.seen == 4 + 3 + 2  # the probe + one retry; the pairs + two


def test_a_chat_only_endpoint_is_a_clear_error(llama_server_bos, tmp_path):
    with proxy(llama_server_bos.url, Faults(chat_only=True)) as url:
        result = CliRunner().invoke(
            main, ["score", _pairs_file(tmp_path), "--model", f"openai:{url}"]
        )
    assert result.exit_code == 1
    assert "chat" in result.output and "--model hf:" in result.output
    assert "Traceback" not in result.output


def test_a_server_with_several_models_asks_which(llama_server_bos, tmp_path):
    faults = Faults(models=["big", "small"])
    with proxy(llama_server_bos.url, faults) as url:
        file = _pairs_file(tmp_path, PAIRS[:2])
        asked = CliRunner().invoke(main, ["score", file, "--model", f"openai:{url}"])
        named = CliRunner().invoke(
            main, ["score", file, "--model", f"openai:{url}", "--served-model", "small"]
        )
    assert asked.exit_code == 1 and "big, small" in asked.output
    assert "--served-model" in asked.output
    assert named.exit_code == 0, named.output


def test_an_unreachable_server_is_named(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = CliRunner().invoke(
        main,
        ["score", _pairs_file(tmp_path), "--model", f"openai:{url}", "--retries", "0"],
    )
    assert result.exit_code == 1
    assert url in result.output and "ConnectError" in result.output


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--model", "openai:http://h/v1", "--dtype", "float16"], "--dtype"),
        (["--model", "openai:http://h/v1", "--batch-size", "2"], "--batch-size"),
        (["--concurrency", "2"], "--concurrency needs --model"),
        (["--model", "builtin", "--cache", "d"], "only for a served model"),
    ],
)
def test_options_of_the_wrong_kind_of_model_are_usage_errors(argv, words, tmp_path):
    result = CliRunner().invoke(main, ["score", _pairs_file(tmp_path), *argv])
    assert result.exit_code == 2
    assert words in result.output


def test_diagnose_needs_a_model_here_and_refuses_a_served_one():
    result = CliRunner().invoke(main, ["diagnose", "--model", "openai:http://h/v1"])
    assert result.exit_code == 2
    assert "served model" in result.output


# ------------------------------------------------------------ perplexity


def test_perplexity_needs_the_first_tokens_logprob(llama_server_bos, tmp_path):
    # llama-cpp-python echoes no log-prob for a prompt's first token, even
    # after BOS: lm-eval's rolling log-likelihood cannot be had from it
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps({"id": "d1", "text": "A short document."}) + "\n")
    result = CliRunner().invoke(
        main, ["perplexity", str(path), "--model", f"openai:{llama_server_bos.url}"]
    )
    assert result.exit_code == 1
    assert "document 'd1'" in result.output and "first token" in result.output


def test_a_document_after_an_echoed_prefix_token_is_scored_whole(tmp_path):
    """A recorded OpenAI answer (ada, prompt <|endoftext|> + "test", from
    lm-evaluation-harness's test data; fixtures/served/responses/) served
    from the cache: the prefix token is echoed with a null log-prob, the
    document's one token with -11.65008 (read off the answer)."""
    recorded = json.loads(
        (FIXTURES / "responses" / "openai_ada_echo_endoftext_first.json").read_text()
    )
    options = ServedOptions(served_model="ada", cache=str(tmp_path), retries=0)
    model = ServedModel("http://127.0.0.1:9/v1", options)  # never asked
    payload = model.payload("test", echo=True, logprobs=1)
    model.cache.put(request_key(model.url, model.name, payload), recorded["response"])
    (document,) = rolling_perplexity(model, [("d", "test")])
    assert document.loglikelihood == pytest.approx(-11.65008, abs=1e-12)
    assert document.n_tokens == 1
    with pytest.raises(InvalidInputError, match="window and stride"):
        rolling_perplexity(model, [("d", "test")], window=8)


def test_records_the_server_refuses_are_skipped_with_on_error_skip(
    llama_server_bos, tmp_path
):
    # three records a served model cannot score as lm-eval does, each for
    # its own reason, between two it can
    long_context = "word " * 700  # past the server's 512 positions: HTTP 400
    pairs = [
        ("The capital of France is", " Paris"),
        ("The lighthou", "se keeper"),  # a token across the boundary
        ("", "Nothing before"),  # no log-prob for the first token
        (long_context.strip(), " end"),
        ("She said", " hello"),
    ]
    file, rejects = _pairs_file(tmp_path, pairs), tmp_path / "rejects.jsonl"
    argv = [file, "--model", f"openai:{llama_server_bos.url}", "--format", "jsonl"]
    failed = CliRunner().invoke(main, ["score", *argv])
    assert failed.exit_code == 1 and "pairs.jsonl:2: candidate '0'" in failed.output
    skipped = CliRunner().invoke(
        main, ["score", *argv, "--on-error", "skip", "--rejects", str(rejects)]
    )
    assert skipped.exit_code == 0, skipped.output
    assert [r["prompt"] for r in _records(skipped.stdout)] == ["line 1", "line 5"]
    reasons = [json.loads(line) for line in rejects.read_text().splitlines()]
    text = json.dumps(reasons)
    assert len(reasons) == 3
    assert "spans the" in text and "first token" in text and "HTTP 400" in text
