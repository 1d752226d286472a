"""lm-evaluation-harness results files, and finding one beside its samples.

``lm_eval ... --output_path OUT --log_samples`` writes, in one folder,
``results_<date>.json`` and one ``samples_<task>_<date>.jsonl`` per task
(the same ``<date>``). The results file holds, per task::

    "results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.75,
                             "acc_stderr,none": 0.0089, ...}},
    "configs": {"arc_easy": {"target_delimiter": " ", "doc_to_target": ...}},
    "n-samples": {"arc_easy": {"original": 2376, "effective": 2376}},
    "task_hashes": {"arc_easy": "<sha256>"}

Metric keys are ``<metric>,<filter>``; a standard error lm-eval could not
compute is the string ``"N/A"``. ``task_hashes`` is the SHA-256 of the
concatenated ``doc_hash + prompt_hash + target_hash`` of the task's samples,
in file order.

The task config says how the samples were made: the target delimiter lm-eval
put before each choice (``""`` when a chat template was applied, unless the
task has a ``gen_prefix`` not ending in whitespace) and the document field
``doc_to_target`` reads, if it is a plain field name.
"""

from __future__ import annotations

import json
import math
import os
import re

from seqscore.errors import DataFormatError
from seqscore.formats.lmeval import DEFAULT_DELIMITER
from seqscore.lmeval.logged import RunResults, TaskResults

__all__ = [
    "is_results_file",
    "lmeval_settings",
    "read_results",
    "results_beside",
    "samples_task",
]

_SAMPLES_NAME = re.compile(
    r"samples_(?P<task>.+)_(?P<date>\d{4}-\d{2}-\d{2}T[0-9.\-]+)\.jsonl"
)


def samples_task(path: str) -> tuple[str | None, str | None]:
    """``(task, date)`` from a samples file's name (``None`` if not lm-eval's).

    >>> samples_task("out/samples_arc_easy_2024-05-01T10-00-00.123456.jsonl")
    ('arc_easy', '2024-05-01T10-00-00.123456')
    >>> samples_task("renamed.jsonl")
    (None, None)
    """
    match = _SAMPLES_NAME.fullmatch(os.path.basename(path))
    return (match["task"], match["date"]) if match else (None, None)


def is_results_file(path: str) -> bool:
    """Whether ``path`` is named as lm-eval names a results file.

    >>> is_results_file("out/results_2024-05-01T10-00-00.json")
    True
    >>> is_results_file("out/samples_arc_2024-05-01T10-00-00.jsonl")
    False
    """
    name = os.path.basename(path)
    return name.startswith("results_") and name.endswith(".json")


def results_beside(samples_path: str) -> str | None:
    """The ``results_<date>.json`` written with a samples file, if present."""
    _, date = samples_task(samples_path)
    if date is None:
        return None
    path = os.path.join(os.path.dirname(samples_path), f"results_{date}.json")
    return path if os.path.isfile(path) else None


def read_results(path: str) -> RunResults:
    """Read an lm-eval ``results_*.json``; errors name the file and field."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot open ({exc.strerror})") from None
    except ValueError as exc:
        raise DataFormatError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise DataFormatError(
            f"{path}: not an lm-eval results file (no 'results' object)"
        )
    chat = data.get("chat_template") is not None
    configs = data.get("configs")
    if not isinstance(configs, dict):
        configs = {}
    tasks = {
        name: _task(path, name, values, data, configs.get(name), chat)
        for name, values in data["results"].items()
    }
    model = data.get("model_name")
    version = data.get("lm_eval_version")
    return RunResults(
        path=path,
        tasks=tasks,
        model=model if isinstance(model, str) else None,
        lm_eval_version=version if isinstance(version, str) else None,
    )


def _task(path, name, values, data, config, chat) -> TaskResults:
    where = f"{path}: results.{name}"
    if not isinstance(values, dict):
        raise DataFormatError(f"{where}: expected an object")
    metrics = {}
    for key, value in values.items():
        metric, comma, filter_key = key.partition(",")
        if not comma or metric.endswith("_stderr"):
            continue
        stderr = values.get(f"{metric}_stderr,{filter_key}")
        metrics[metric, filter_key] = (
            _number(value, f"{where}.{key}"),
            None if stderr in (None, "N/A") else _number(stderr, f"{where}.stderr"),
        )
    config = config if isinstance(config, dict) else {}
    return TaskResults(
        task=name,
        metrics=metrics,
        n_samples=_effective(data.get("n-samples"), name),
        task_hash=_string_at(data.get("task_hashes"), name),
        target_delimiter=_delimiter(config, chat),
        target_field=_target_field(config),
        config=config,
    )


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataFormatError(f"{where}: {value!r} is not a number")
    if math.isnan(value):
        raise DataFormatError(f"{where}: NaN")
    return float(value)


def _effective(counts, name: str) -> int | None:
    entry = counts.get(name) if isinstance(counts, dict) else None
    value = entry.get("effective") if isinstance(entry, dict) else None
    return value if type(value) is int else None


def _string_at(mapping, name: str) -> str | None:
    value = mapping.get(name) if isinstance(mapping, dict) else None
    return value if isinstance(value, str) else None


def _delimiter(config: dict, chat: bool) -> str:
    """The delimiter lm-eval put before each choice (``construct_requests``)."""
    delimiter = config.get("target_delimiter", DEFAULT_DELIMITER)
    if not isinstance(delimiter, str):
        delimiter = DEFAULT_DELIMITER
    if not chat:
        return delimiter
    prefix = config.get("gen_prefix")
    keeps = isinstance(prefix, str) and prefix and not prefix[-1].isspace()
    return delimiter if keeps else ""


def _target_field(config: dict) -> str | None:
    """``doc_to_target`` when it names a document field (not a template)."""
    target = config.get("doc_to_target")
    if isinstance(target, str) and re.fullmatch(r"\w+", target):
        return target
    return None


def lmeval_settings(samples_path: str | None, results: RunResults | None = None):
    """``{"delimiter", "target_field"}`` for reading a samples file: from
    its task's config in ``results`` (default: the results file beside it,
    if any, and if it has the task), else lm-eval's defaults."""
    settings = {"delimiter": DEFAULT_DELIMITER, "target_field": None}
    task, _ = samples_task(samples_path) if samples_path else (None, None)
    if results is None and samples_path is not None:
        beside = results_beside(samples_path)
        results = read_results(beside) if beside else None
    if results is not None and task in results.tasks:
        config = results.tasks[task]
        settings = {
            "delimiter": config.target_delimiter,
            "target_field": config.target_field,
        }
    return settings
