"""Chat messages as the context: the chat template rendered, then lm-eval's rule.

The model: the tiny Llama of ``fixtures/served/tiny-llama-bos`` (its
tokenizer adds ``<s>``), given a Jinja chat template that writes
``{{ bos_token }}`` itself, as Llama's and Mistral's do. The reference is
computed without seqscore: the template rendered with ``jinja2`` directly,
lm-eval's rule spelled out (whitespace to the continuation, joint encoding,
no special tokens for a text that starts with BOS's string: lm-eval #3333),
and the log-probs read from one plain torch forward pass.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from seqscore.cli import main
from seqscore.errors import InvalidInputError
from seqscore.models import load_model
from seqscore.models.chat import ChatSettings, Message
from seqscore.models.loglikelihood import (
    TextCandidate,
    TextPrompt,
    TextScoring,
    forced_prompts,
    model_request,
)
from seqscore.models.served import ServedOptions, load_served
from tests.served_server import model_folder

TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n"
    "{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

CONVERSATION = (
    Message("user", "What is the capital of France?"),
    Message("assistant", "Paris."),
    Message("user", "And of Italy?"),
)
ANSWERS = ("Rome.", "Milan, of course.", " Naples")


@pytest.fixture(scope="module")
def model():
    return load_model(f"hf:{model_folder('bos')}")


def _reference(model, messages, answer, system=None) -> float:
    """The answer's log-prob after the rendered conversation, in plain torch."""
    import jinja2
    import torch

    turns = [{"role": m.role, "content": m.content} for m in messages]
    if system is not None:
        turns.insert(0, {"role": "system", "content": system})
    context = jinja2.Template(TEMPLATE).render(
        messages=turns, bos_token="<s>", add_generation_prompt=True
    )
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, answer = context[:-spaces], context[-spaces:] + answer
    tokenizer = model.tokenizer
    # the text starts with "<s>": no special tokens (lm-eval's has_bos_prefix)
    whole = tokenizer(context + answer, add_special_tokens=False).input_ids
    ctx = tokenizer(context, add_special_tokens=False).input_ids
    assert whole[0] == tokenizer.bos_token_id and whole[1] != tokenizer.bos_token_id
    ids = torch.tensor([whole])
    with torch.no_grad():
        logits = model.model(ids).logits[0].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return float(sum(logprobs[t - 1, whole[t]] for t in range(len(ctx), len(whole))))


def _prompt(context=CONVERSATION, answers=ANSWERS):
    candidates = tuple(TextCandidate(str(i), a) for i, a in enumerate(answers))
    return TextPrompt("chat", context, candidates, source="chat.jsonl:1")


def test_a_conversation_is_scored_after_its_rendered_template(model):
    scoring = TextScoring(chat=ChatSettings(template=TEMPLATE))
    (prompt,) = forced_prompts(model, [_prompt()], scoring)
    for candidate, answer in zip(prompt.candidates, ANSWERS, strict=True):
        want = _reference(model, CONVERSATION, answer)
        assert float(np.sum(candidate.tokens.logprob)) == pytest.approx(want, abs=1e-5)
    assert prompt.text.startswith("<s><|user|>\nWhat is")


def test_the_templates_bos_is_not_doubled(model):
    chat = ChatSettings(template=TEMPLATE)
    scoring = TextScoring(chat=chat)
    (prompt,) = forced_prompts(model, [_prompt()], scoring)
    request = model_request(model, prompt.text, " Rome.", "r")
    bos = model.tokenizer.bos_token_id
    assert request.context[0] == bos and request.context[1] != bos


def test_a_system_message_goes_first(model):
    system = "You answer in one word."
    scoring = TextScoring(chat=ChatSettings(template=TEMPLATE, system=system))
    (prompt,) = forced_prompts(model, [_prompt(answers=ANSWERS[:1])], scoring)
    want = _reference(model, CONVERSATION, ANSWERS[0], system=system)
    got = float(np.sum(prompt.candidates[0].tokens.logprob))
    assert got == pytest.approx(want, abs=1e-5)
    assert "<|system|>\nYou answer" in prompt.text


def test_the_tokenizers_own_template_is_used(tmp_path):
    import shutil

    folder = tmp_path / "with-template"
    shutil.copytree(model_folder("bos"), folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["chat_template"] = TEMPLATE
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    own = load_model(f"hf:{folder}")
    (prompt,) = forced_prompts(own, [_prompt(answers=ANSWERS[:1])])
    want = _reference(own, CONVERSATION, ANSWERS[0])
    got = float(np.sum(prompt.candidates[0].tokens.logprob))
    assert got == pytest.approx(want, abs=1e-5)


def test_a_model_without_a_template_is_a_clear_error(model):
    with pytest.raises(InvalidInputError, match=r"no chat template.*--chat-template"):
        forced_prompts(model, [_prompt()])


def test_a_model_without_a_tokenizer_is_a_clear_error():
    with pytest.raises(InvalidInputError, match=r"chat.jsonl:1: .*no tokenizer"):
        forced_prompts(load_model("builtin"), [_prompt()])


def test_a_served_model_renders_with_its_tokenizer(llama_server_bos, model):
    options = ServedOptions(tokenizer=str(llama_server_bos.folder))
    served = load_served(llama_server_bos.url, options)
    scoring = TextScoring(chat=ChatSettings(template=TEMPLATE))
    (got,) = forced_prompts(served, [_prompt()], scoring)
    (want,) = forced_prompts(model, [_prompt()], scoring)
    for a, b in zip(got.candidates, want.candidates, strict=True):
        np.testing.assert_allclose(a.tokens.logprob, b.tokens.logprob, atol=1e-4)


# ------------------------------------------------------------ command line


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def test_the_command_line_reads_messages_and_a_template_file(tmp_path, model):
    template = tmp_path / "chat.jinja"
    template.write_text(TEMPLATE)
    messages = [{"role": m.role, "content": m.content} for m in CONVERSATION]
    file = _write(
        tmp_path / "chat.jsonl",
        [{"context": messages, "continuation": answer} for answer in ANSWERS],
    )
    result = CliRunner().invoke(
        main,
        [
            "score",
            file,
            "--model",
            f"hf:{model_folder('bos')}",
            "--chat-template",
            str(template),
            "--format",
            "jsonl",
            "--verbose",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "a rendered chat context: '<s><|user|>\\nWhat is" in result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 3 and {r["prompt"] for r in records} == {"line 1"}
    for record, answer in zip(records, ANSWERS, strict=True):
        want = _reference(model, CONVERSATION, answer)
        assert record["score"] == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize(
    "context, words",
    [
        ([{"content": "hi"}], "context[0]: a message needs a 'role'"),
        ([{"role": "user"}], "context[0]: a message needs a 'content'"),
        ([{"role": "", "content": "hi"}], "context[0].role: empty"),
        ([], "context: an empty list of messages"),
        (["hi"], "context[0]: expected a message"),
    ],
)
def test_bad_messages_are_named_with_their_record(tmp_path, context, words):
    file = _write(
        tmp_path / "bad.jsonl",
        [
            {"context": "Fine", "continuation": " text"},
            {"context": context, "continuation": " answer"},
        ],
    )
    result = CliRunner().invoke(
        main, ["score", file, "--model", f"hf:{model_folder('bos')}"]
    )
    assert result.exit_code == 1
    assert "bad.jsonl:2" in result.output and words in result.output
