"""Chat messages as a context: the model's chat template, rendered.

A context may be a conversation, a list of ``{"role", "content"}``
messages. It is scored as what a chat model sees before its answer: the
tokenizer's chat template applied with the generation prompt
(``apply_chat_template(messages, add_generation_prompt=True,
tokenize=False)``), then lm-eval's rule as for any text context (joint
encoding, whitespace moved to the continuation). A template that writes the
BOS token itself is not given a second one: a text that starts with the
prefix token's string gets no special tokens (lm-eval #3333,
:class:`~seqscore.models.hf_tokens.HFTokens`).

:class:`ChatSettings` holds what the command line may change:
``--chat-template FILE`` (a Jinja template in place of the tokenizer's) and
``--system TEXT`` (a system message before conversations that have none).
"""

from __future__ import annotations

from dataclasses import dataclass

from seqscore.errors import InvalidInputError

__all__ = ["ChatSettings", "Message", "render_chat"]


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: str
    content: str


@dataclass(frozen=True)
class ChatSettings:
    """How conversations become text: ``template`` (Jinja source; None: the
    tokenizer's own) and ``system`` (a system message put first where the
    conversation has none)."""

    template: str | None = None
    system: str | None = None


def render_chat(model, messages: tuple[Message, ...], settings: ChatSettings) -> str:
    """``messages`` as the text ``model`` reads before its answer.

    ``model.tokenizer`` renders it (a Hugging Face tokenizer: an ``hf:``
    model's, or a served model's ``--tokenizer``); without one, or without
    a template, the error says what to give (the caller names the record).
    """
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise InvalidInputError(
            "the context is a list of chat messages, and this model has "
            "no tokenizer to render them with its chat template (a served model: "
            "give --tokenizer PATH)"
        )
    template = settings.template or getattr(tokenizer, "chat_template", None)
    if not template:
        raise InvalidInputError(
            "the context is a list of chat messages, and the model's "
            "tokenizer has no chat template: give --chat-template FILE"
        )
    conversation = [{"role": m.role, "content": m.content} for m in messages]
    if settings.system is not None and not (messages and messages[0].role == "system"):
        conversation.insert(0, {"role": "system", "content": settings.system})
    try:
        text = tokenizer.apply_chat_template(
            conversation,
            chat_template=template,
            add_generation_prompt=True,
            tokenize=False,
        )
    except Exception as exc:  # jinja2's errors, and the template's own raise
        raise InvalidInputError(
            f"the chat template failed on these messages: {type(exc).__name__}: {exc}"
        ) from None
    return str(text)
