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

Before 0.4.3 the names were others: lm-eval 0.4.0-0.4.2 wrote
``results.json`` (or the ``.json`` file ``--output_path`` named) and, beside
it, ``<model_args>_<task>.jsonl`` per task, with ``/`` and ``=`` in the model
arguments as ``__`` (``pretrained__EleutherAI__pythia-70m_arc_easy.jsonl``);
the 0.4.0 development versions (2023) wrote the results where
``--output_path`` said and kept the ``=``
(``pretrained=EleutherAI__pythia-70m_arc_easy.jsonl``). Such a name says its
task only against the results file, whose tasks and ``config.model_args``
tell where the model arguments end (:func:`named_task`); with no model
arguments it is ``_<task>.jsonl``.
"""

from __future__ import annotations

import glob
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
    "named_task",
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


#: How every lm-eval results file begins (``json.dumps(results, indent=2)``
#: with ``results`` first).
_RESULTS_HEAD = re.compile(rb'\s*\{\s*"results"\s*:\s*\{')


def is_results_file(path: str) -> bool:
    """Whether ``path`` is an lm-eval results file: named as lm-eval names
    one (``results_<date>.json``, ``results.json``), or a ``.json`` file
    that begins as one does.

    >>> is_results_file("out/results_2024-05-01T10-00-00.json")
    True
    >>> is_results_file("out/samples_arc_2024-05-01T10-00-00.jsonl")
    False
    """
    name = os.path.basename(path)
    if not name.endswith(".json"):
        return False
    if name.startswith("results_") or name == "results.json":
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
            if _RESULTS_HEAD.match(head):
                return True
            small = os.fstat(handle.fileno()).st_size <= _SMALL
            return small and head.lstrip()[:1] == b"{" and _has_results(handle)
    except OSError:
        return False


#: A ``.json`` file up to this size is parsed to tell whether it is a
#: results file whose ``results`` does not come first.
_SMALL = 16 << 20


def _has_results(handle) -> bool:
    handle.seek(0)
    try:
        data = json.load(handle)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and isinstance(data.get("results"), dict)


def results_beside(samples_path: str) -> str | None:
    """The results file written with a samples file, if present: the
    ``results_<date>.json`` of its date; before lm-eval 0.4.3, the one
    results file of its folder that has the task its name ends with."""
    _, date = samples_task(samples_path)
    if date is None:
        return _older_results_beside(samples_path)
    path = os.path.join(os.path.dirname(samples_path), f"results_{date}.json")
    return path if os.path.isfile(path) else None


def _older_results_beside(samples_path: str) -> str | None:
    folder = os.path.dirname(samples_path) or "."
    found = []
    for path in sorted(glob.glob(os.path.join(glob.escape(folder), "*.json"))):
        if not is_results_file(path):
            continue
        try:
            run = read_results(path)
        except DataFormatError:
            continue  # not one to pair with
        if _tasks_named(_stem(samples_path), run):
            found.append(path)
    return found[0] if len(found) == 1 else None


def named_task(samples_path: str, run: RunResults | None = None) -> str | None:
    """The task a samples file's name says: ``samples_<task>_<date>``; or,
    as lm-eval before 0.4.3 named them, ``<model_args>_<task>`` where
    ``<task>`` is one of ``run``'s tasks (and ``<model_args>`` its model
    arguments, written as lm-eval wrote them, when it says), or
    ``_<task>`` (no model arguments); ``None`` if it says none. A name that
    fits several of ``run``'s tasks is an error.

    >>> named_task("out/_winogrande.jsonl")
    'winogrande'
    """
    task, _ = samples_task(samples_path)
    if task is not None:
        return task
    stem = _stem(samples_path)
    if run is not None:
        tasks = _tasks_named(stem, run)
        if len(tasks) > 1:
            raise DataFormatError(
                f"{samples_path}: its name fits tasks "
                f"{', '.join(map(repr, tasks))} of {run.path}",
                remedy="task",
            )
        if tasks:
            return tasks[0]
    return stem[1:] if stem.startswith("_") and len(stem) > 1 else None


def _stem(path: str) -> str:
    name = os.path.basename(path)
    for suffix in (".jsonl", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _tasks_named(stem: str, run: RunResults) -> list[str]:
    """The tasks of ``run`` that ``stem`` (``<model_args>_<task>``, or the
    task) names: the task itself first, else those whose prefix is ``run``'s
    model arguments as lm-eval wrote them (any, when the file does not say
    them)."""
    if stem in run.tasks:
        return [stem]
    prefixes = _model_args_prefixes(run.model_args)
    return [
        task
        for task in run.tasks
        if stem.endswith("_" + task)
        and (prefixes is None or stem[: -len(task) - 1] in prefixes)
    ]


def _model_args_prefixes(model_args: str | None) -> set[str] | None:
    """``model_args`` as lm-eval 0.4.0-0.4.2 (``/`` and ``=`` as ``__``)
    and its 2023 development versions (``/`` as ``__``) began file names."""
    if model_args is None:
        return None
    return {re.sub("/|=", "__", model_args), model_args.replace("/", "__")}


def read_results(path: str) -> RunResults:
    """Read an lm-eval ``results_*.json``; errors name the file and field."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot open ({exc.strerror})") from None
    except ValueError as exc:
        raise DataFormatError(f"{path}: not JSON ({exc})") from None
    except RecursionError:
        raise DataFormatError(f"{path}: not JSON (nested too deeply)") from None
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
    config = data.get("config")
    model_args = config.get("model_args") if isinstance(config, dict) else None
    return RunResults(
        path=path,
        tasks=tasks,
        model=model if isinstance(model, str) else None,
        lm_eval_version=version if isinstance(version, str) else None,
        model_args=model_args if isinstance(model_args, str) else None,
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


def lmeval_settings(
    samples_path: str | None,
    results: RunResults | None = None,
    task: str | None = None,
):
    """``{"delimiter", "target_field"}`` for reading a samples file: from
    its task's config in ``results`` (default: the results file beside it,
    if any, and if it has the task: ``task``, else the one the file's name
    says), else lm-eval's defaults."""
    settings = {"delimiter": DEFAULT_DELIMITER, "target_field": None}
    if results is None and samples_path is not None:
        beside = results_beside(samples_path)
        results = read_results(beside) if beside else None
    if task is None and samples_path is not None:
        task = named_task(samples_path, results)
    if results is not None and task in results.tasks:
        config = results.tasks[task]
        settings = {
            "delimiter": config.target_delimiter,
            "target_field": config.target_field,
        }
    return settings
