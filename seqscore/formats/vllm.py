"""vLLM outputs: a ``RequestOutput`` serialised as JSON, one per line.

::

    {"request_id": "0", "prompt": "The capital of France is",
     "prompt_token_ids": [464, 3139, 286, 4881, 318],
     "prompt_logprobs": [null, {"3139": {"logprob": -9.1, "rank": 912,
                                          "decoded_token": " capital"}}, ...],
     "outputs": [{"index": 0, "text": " Paris", "token_ids": [6342],
                  "cumulative_logprob": -0.53,
                  "logprobs": [{"6342": {"logprob": -0.53, "rank": 1,
                                         "decoded_token": " Paris"}, ...}]}]}

Each ``outputs[]`` entry with logprobs is a candidate: at step ``t`` its log-prob
is the entry of ``token_ids[t]`` in ``logprobs[t]`` (vLLM always includes the
sampled token), its rank is given (1 = most probable), and the other entries
are the top alternatives.

Scoring the prompt itself (as lm-evaluation-harness does with vLLM): give the
record ``n_context``, the number of prompt tokens that are context; the
continuation ``prompt_token_ids[n_context:]`` is then scored from
``prompt_logprobs``, whose first entry is null because nothing predicts the
first token.

Token ids and ranks are JSON integers, log-probs follow :mod:`.records`
(<= 0 or -inf; booleans are not numbers).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from seqscore.errors import DataFormatError
from seqscore.formats.records import (
    INT64_MAX,
    as_id,
    as_integer,
    as_integers,
    as_logprob,
    as_string,
    field,
    optional,
)
from seqscore.scoring.candidates import (
    Candidate,
    Prompt,
    token_scores_from_alternatives,
)

__all__ = ["convert_record"]


def convert_record(record: Any, location: str) -> Iterator[Prompt]:
    """The prompt of one vLLM RequestOutput."""
    if not isinstance(record, dict):
        raise DataFormatError("expected a JSON object")
    candidates: tuple[Candidate, ...]
    if "n_context" in record:
        candidates = (_prompt_continuation(record),)
    else:
        outputs = field(record, "outputs", "", list)
        if not outputs:
            raise DataFormatError("outputs: empty")
        candidates = tuple(_output(o, f"outputs[{i}]") for i, o in enumerate(outputs))
    default_id = f"line {location.rsplit(':', 1)[-1]}"
    yield Prompt(
        id=as_id(record.get("request_id"), "request_id", default_id),
        candidates=candidates,
        text=optional(as_string, record, "prompt", ""),
        source=location,
    )


def _output(output: Any, where: str) -> Candidate:
    ids = as_integers(field(output, "token_ids", where), f"{where}.token_ids")
    steps = field(output, "logprobs", where)
    if steps is None:
        raise DataFormatError(
            f"{where}.logprobs: null -- generate with SamplingParams(logprobs=k)"
        )
    if not isinstance(steps, list) or len(steps) != len(ids):
        raise DataFormatError(f"{where}: logprobs must have one entry per token_id")
    text = output.get("text")
    return Candidate(
        id=as_id(output.get("index"), f"{where}.index", where),
        tokens=_steps(steps, ids, f"{where}.logprobs"),
        text=text if isinstance(text, str) else None,
    )


def _prompt_continuation(record: dict) -> Candidate:
    ids = as_integers(field(record, "prompt_token_ids", ""), "prompt_token_ids")
    steps = field(record, "prompt_logprobs", "", list)
    if len(steps) != len(ids):
        raise DataFormatError("prompt_logprobs must have one entry per prompt token")
    n_context = field(record, "n_context", "", int)
    if not 1 <= n_context < len(ids):
        raise DataFormatError(
            f"n_context: {n_context} must be in [1, {len(ids) - 1}]: the first prompt "
            "token has no log-prob and the continuation must not be empty"
        )
    tokens = _steps(steps[n_context:], ids[n_context:], "prompt_logprobs", n_context)
    return Candidate(id="continuation", tokens=tokens, text="".join(tokens.token))


def _steps(steps: list, ids: list, where: str, offset: int = 0):
    values, ranks, names, top_names, top_values = [], [], [], [], []
    for t, (step, token_id) in enumerate(zip(steps, ids, strict=True)):
        at = f"{where}[{t + offset}]"
        if not isinstance(step, dict):
            raise DataFormatError(
                f"{at}: expected an object {{token_id: {{logprob, ...}}}}"
            )
        chosen = field(step, str(token_id), at, dict)
        values.append(_logprob(chosen, at, str(token_id)))
        ranks.append(optional(_rank, chosen, "rank", f"{at}.{token_id}"))
        names.append(str(chosen.get("decoded_token", token_id)))
        others = sorted(step.items(), key=lambda kv: -_logprob(kv[1], at, kv[0]))
        top_names.append(tuple(str(v.get("decoded_token", k)) for k, v in others))
        top_values.append(np.array([_logprob(v, at, k) for k, v in others]))
    scores = token_scores_from_alternatives(
        np.array(values),
        token=tuple(names),
        rank=None if None in ranks else np.array(ranks, dtype=np.int64),
        top_tokens=tuple(top_names),
        top_logprobs=tuple(top_values),
    )
    # the ids too: ``--tokens`` gives programs each token's id beside its text
    return replace(scores, token_id=np.array(ids, dtype=np.int64))


def _logprob(entry: Any, where: str, key: str) -> float:
    if not isinstance(entry, dict):
        raise DataFormatError(f"{where}.{key}: expected an object with a logprob")
    return as_logprob(
        field(entry, "logprob", f"{where}.{key}"), f"{where}.{key}.logprob"
    )


def _rank(value: Any, where: str) -> int:
    return as_integer(value, where, 1, INT64_MAX)  # 1 = the most probable token
