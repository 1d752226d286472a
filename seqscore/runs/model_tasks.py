"""Model workloads as tasks: batches of text prompts scored where the model is.

``seqscore score FILE --model MODEL --scheduler dask|tcp://...`` reads the
texts in this process and sends them to the workers in batches of
:data:`PROMPTS_PER_TASK` prompts (and reader rejections, in input order).
Each worker process loads the model once -- a Dask worker plugin
(:mod:`seqscore.runs.dask_model`) loads it when the worker starts or joins --
and every batch it scores reuses it: :func:`score_text_batch` runs
:func:`~seqscore.models.loglikelihood.forced_items` on the batch (one pass, as the
single-process path cuts its passes) and
:func:`~seqscore.runs.candidate_records.score_item` on each prompt, so the
records are those of ``seqscore score FILE --model MODEL`` in one process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from seqscore.models import load_model
from seqscore.models._torch import quiet_loading
from seqscore.models.loglikelihood import ModelScoring, Tally, forced_items
from seqscore.runs.shards import ScoreSettings

__all__ = [
    "PROMPTS_PER_TASK",
    "ModelJob",
    "TextBatchScores",
    "loaded_model",
    "model_loads",
    "score_text_batch",
    "unload_model",
]

#: Prompts per task: the single-process path's prompts per model pass, so
#: that a batch is scored in the same passes (the same padding) either way.
PROMPTS_PER_TASK = 256


@dataclass(frozen=True)
class ModelJob:
    """What a run's tasks need: the model and how it scores texts
    (:class:`~seqscore.models.loglikelihood.ModelScoring`), and how records
    are made of the scores."""

    model: ModelScoring
    settings: ScoreSettings = field(default_factory=ScoreSettings)


@dataclass(frozen=True)
class TextBatchScores:
    """A batch's :func:`score_item` results (records of each prompt, or its
    rejection), in order, and what the model did."""

    results: tuple
    requests: int
    truncated: int
    max_length: int | None


_MODELS: dict[tuple, object] = {}
_LOADS: dict[tuple, int] = {}
_LOCK = threading.Lock()


def loaded_model(model: ModelScoring):
    """This process's copy of the model ``model`` names, loaded on first use."""
    with _LOCK:
        key = model.load_key
        if key not in _MODELS:
            if model.spec.startswith("hf:"):
                quiet_loading()
            _MODELS[key] = load_model(model.spec, **model.load_options)
            _LOADS[key] = _LOADS.get(key, 0) + 1
        return _MODELS[key]


def unload_model(model: ModelScoring) -> None:
    """Drop this process's copy of the model ``model`` names."""
    with _LOCK:
        _MODELS.pop(model.load_key, None)


def model_loads() -> dict[tuple, int]:
    """How many times this process has loaded each model (for tests)."""
    return dict(_LOADS)


def score_text_batch(batch: list, job: ModelJob) -> TextBatchScores:
    """Score a batch of text prompts and rejections (run by a worker)."""
    loaded = loaded_model(job.model)
    tally = Tally()
    forced = forced_items(
        loaded, batch, job.model.texts, prompts_per_pass=max(1, len(batch)), tally=tally
    )
    results = tuple(map(job.settings.transform(), forced))
    return TextBatchScores(
        results, tally.requests, tally.truncated, getattr(loaded, "max_length", None)
    )
