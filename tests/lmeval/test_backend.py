"""seqscore as lm-evaluation-harness's backend, against lm-eval's own ``hf``.

Offline, with lm-eval's real machinery: the local tasks of
``fixtures/lmeval_tasks/`` (a 5-shot multiple-choice task of MMLU's shape,
a cloze task with multi-token choices, a rolling-perplexity task and a
``generate_until`` task) run through ``lm_eval.simple_evaluate`` with
``--model hf`` and ``--model seqscore`` on two tiny random models: the
committed 2-layer Llama whose tokenizer adds BOS, and the GPT-2 of
:mod:`tests.tiny_lm` (no BOS: the prefix token is EOS). Both at
``max_length=64``, so few-shot contexts are left-truncated, documents take
several windows and generation contexts are cut to ``64 - max_gen_toks``.

Where lm-eval is missing these tests skip, unless
``SEQSCORE_REQUIRE_LMEVAL=1`` (CI), where they fail.
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from seqscore.lmeval import backend
from tests.tiny_lm import save_tiny_gpt2

REQUIRE_ENV = "SEQSCORE_REQUIRE_LMEVAL"
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:
    import accelerate  # noqa: F401 (lm-eval's hf backend, the reference)
    import lm_eval
    from lm_eval.tasks import TaskManager
except ImportError as exc:  # pragma: no cover - CI has the extra
    if os.environ.get(REQUIRE_ENV) == "1":
        raise
    pytest.skip(
        f"lm-eval is not installed ({exc}): pip install 'seqscore[lm-eval]' "
        f"(set {REQUIRE_ENV}=1 to fail instead)",
        allow_module_level=True,
    )

ROOT = Path(__file__).resolve().parents[2]
TASKS_DIR = ROOT / "fixtures" / "lmeval_tasks"
LLAMA = ROOT / "fixtures" / "served" / "tiny-llama-bos"
ALL_TASKS = [
    "seqscore_mmlu_shape",
    "seqscore_cloze",
    "seqscore_rolling",
    "seqscore_generate",
]
TOLERANCE = 1e-4  # per request log-likelihood (float32 rounding)


@contextmanager
def in_tasks_folder():
    """The tasks' ``data_files`` are relative to the working directory."""
    before = os.getcwd()
    os.chdir(TASKS_DIR)
    try:
        yield
    finally:
        os.chdir(before)


@functools.cache
def task_manager():
    """Our tasks only (indexing lm-eval's thousands of YAMLs takes seconds)."""
    return TaskManager(include_path=str(TASKS_DIR), include_defaults=False)


def evaluate(model, model_args=None, tasks=ALL_TASKS, **options):
    with in_tasks_folder():
        return lm_eval.simple_evaluate(
            model=model,
            model_args=model_args,
            tasks=list(tasks),
            task_manager=task_manager(),
            log_samples=True,
            device="cpu",
            **options,
        )


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    return save_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), n_positions=64)


@pytest.fixture(scope="module")
def runs(gpt2_folder):
    """``{model: {backend: simple_evaluate's output}}``; the Llama through
    the registered name, the GPT-2 through an instance (Python use)."""
    backend.register()
    out = {"llama": {}, "gpt2": {}}
    args = f"pretrained={LLAMA},max_length=64"
    out["llama"]["hf"] = evaluate("hf", args)
    out["llama"]["seqscore"] = evaluate("seqscore", args)
    gpt2_tasks = ALL_TASKS[:3]
    out["gpt2"]["hf"] = evaluate(
        "hf", f"pretrained={gpt2_folder},max_length=64", gpt2_tasks
    )
    model = backend.SeqScoreLM(pretrained=str(gpt2_folder), max_length=64)
    out["gpt2"]["seqscore"] = evaluate(model, tasks=gpt2_tasks)
    return out


def numbers(results: dict) -> dict:
    return {
        (task, metric): value
        for task, figures in results["results"].items()
        for metric, value in figures.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def response_differences(reference: dict, ours: dict):
    """Every logged document's responses compared: the largest difference
    of a log-likelihood; generated texts and is_greedy must be equal."""
    largest, count = 0.0, 0
    for task, samples in reference["samples"].items():
        mine = ours["samples"][task]
        assert [s["doc_id"] for s in samples] == [s["doc_id"] for s in mine]
        for a, b in zip(samples, mine, strict=True):
            assert a["target"] == b["target"]
            assert a["arguments"] == b["arguments"]
            for x, y in zip(a["resps"], b["resps"], strict=True):
                (x,), (y,) = x, y
                if isinstance(x, str):
                    assert x == y, (task, a["doc_id"])
                    continue
                x, y = (
                    (x, None) if isinstance(x, float) else x,
                    ((y, None) if isinstance(y, float) else y),
                )
                assert x[1] == y[1], (task, a["doc_id"], "is_greedy")
                # a document's rolling total sums thousands of float32 terms:
                # its rounding grows with it (per 1,000 nats)
                scale = max(1.0, abs(x[0]) / 1000) if x[1] is None else 1.0
                largest = max(largest, abs(x[0] - y[0]) / scale)
                count += 1
            # the rest of --log_samples' record (documents, hashes, metrics,
            # filtered responses of multiple-choice and generation) is equal,
            # perplexity records up to the log-likelihood they hold
            assert a.keys() == b.keys()
            for key in a.keys() - {"resps", "filtered_resps"}:
                if key not in ("word_perplexity", "byte_perplexity", "bits_per_byte"):
                    assert a[key] == b[key], (task, a["doc_id"], key)
            if task != "seqscore_rolling":
                assert _rounded(a["filtered_resps"]) == _rounded(b["filtered_resps"])
    return largest, count


def _rounded(value):
    """Responses with their floats to 3 decimals (1e-4 apart may round apart
    only at a boundary: none here)."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


@pytest.mark.parametrize("model", ["llama", "gpt2"])
def test_per_request_loglikelihoods_match_lm_evals_hf(runs, model):
    largest, count = response_differences(runs[model]["hf"], runs[model]["seqscore"])
    assert count > 100
    assert largest <= TOLERANCE


@pytest.mark.parametrize("model", ["llama", "gpt2"])
def test_results_match_lm_evals_hf(runs, model):
    reference, ours = (numbers(runs[model][b]) for b in ("hf", "seqscore"))
    assert reference.keys() == ours.keys()
    for key, value in reference.items():
        if key[1].startswith(("acc", "exact_match")):
            assert ours[key] == value, key
        else:  # perplexities: exp of sums of float32 log-probs
            assert math.isclose(ours[key], value, rel_tol=1e-5), key


def test_the_tasks_exercise_truncation_windows_and_generation(runs):
    llama = runs["llama"]["seqscore"]
    assert llama["configs"]["seqscore_mmlu_shape"]["num_fewshot"] == 5
    # a 5-shot context is longer than the 64 positions: cut from the left
    (first,) = llama["samples"]["seqscore_mmlu_shape"][:1]
    model = backend.SeqScoreLM(pretrained=str(LLAMA), max_length=64).model
    assert len(model.encode(first["arguments"][0][0])) > 64
    generated = [s["resps"][0][0] for s in llama["samples"]["seqscore_generate"]]
    assert any(generated)
    assert llama["results"]["seqscore_rolling"]["word_perplexity,none"] > 1


def test_rolling_windows_are_lm_evals():
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    from seqscore.models.requests import rolling_requests

    for size in range(1, 30):
        ids = list(range(100, 100 + size))
        for window in range(1, 9):
            theirs = [
                make_disjoint_window(w)
                for w in get_rolling_token_windows(
                    token_list=ids, prefix_token=7, max_seq_len=window, context_len=1
                )
            ]
            ours = [
                (list(r.context), list(r.continuation))
                for r in rolling_requests(ids, window, prefix_id=7)
            ]
            assert ours == [(list(a), list(b)) for a, b in theirs], (size, window)


def test_add_bos_token_false_matches_lm_evals_hf():
    args = f"pretrained={LLAMA},max_length=64,add_bos_token=False"
    backend.register()
    reference = evaluate("hf", args, ["seqscore_cloze"])
    ours = evaluate("seqscore", args, ["seqscore_cloze"])
    largest, count = response_differences(reference, ours)
    assert count == 96 and largest <= TOLERANCE


def lmeval_output(folder: Path) -> Path:
    (results,) = folder.rglob("results_*.json")
    return results.parent


def test_the_command_line_runs_lm_eval_and_seqscore_checks_its_logs(tmp_path):
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "seqscore.cli",
        "lm-eval",
        "run",
        "--model",
        "seqscore",
        "--model_args",
        f"pretrained={LLAMA},max_length=64",
        "--tasks",
        "seqscore_mmlu_shape,seqscore_cloze",
        "--include_path",
        str(TASKS_DIR),
        "--output_path",
        str(tmp_path / "out"),
        "--log_samples",
    ]
    done = subprocess.run(
        command, cwd=TASKS_DIR, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "seqscore_mmlu_shape" in done.stdout
    folder = lmeval_output(tmp_path / "out")
    results = json.loads(next(folder.glob("results_*.json")).read_text())
    assert results["config"]["model"] == "seqscore"
    check = subprocess.run(
        [sys.executable, "-m", "seqscore.cli", "evaluate", str(folder), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("consistency: consistent") == 2


def test_help_is_lm_evals():
    from click.testing import CliRunner

    from seqscore.cli import main

    result = CliRunner().invoke(main, ["lm-eval", "--help"])
    assert result.exit_code == 0
    assert "--model seqscore" in result.output and "Examples" in result.output
    assert "usage: lm-eval" in result.output


def test_importing_seqscore_imports_no_lm_eval():
    code = (
        "import sys, seqscore, seqscore.lmeval, seqscore.lmeval.backend, "
        "seqscore.commands.lmeval_run\n"
        "print('lm_eval' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_the_served_backend_matches_the_local_one(llama_server_bos):
    url, folder = llama_server_bos
    served = backend.SeqScoreOpenAILM(base_url=url, tokenizer=str(folder))
    local = backend.SeqScoreLM(pretrained=str(folder))
    ours = evaluate(served, tasks=["seqscore_cloze"])
    reference = evaluate(local, tasks=["seqscore_cloze"])
    largest, count = response_differences(reference, ours)
    assert count == 96 and largest <= TOLERANCE
    assert numbers(ours) == pytest.approx(numbers(reference))


def test_the_entry_points_resolve_through_lm_evals_registry():
    # lm-eval's PR #4013 (after 0.4.13) reads the group "lm_eval.models" and
    # registers each entry point as a placeholder; 0.4.13's registry already
    # takes EntryPoint placeholders, so the resolution is the same
    from importlib.metadata import entry_points

    from lm_eval.api import registry
    from lm_eval.api.model import LM
    from lm_eval.api.registry import get_model, model_registry

    found = {e.name: e for e in entry_points(group="lm_eval.models")}
    assert found["seqscore"].value == "seqscore.lmeval.backend:SeqScoreLM"
    for name, point in found.items():
        if not name.startswith("seqscore"):
            continue
        alias = f"plugin-test-{name}"
        # built by the registry's own importlib.metadata (a test elsewhere
        # may have imported that module afresh, with a new EntryPoint class)
        point = registry.md.EntryPoint(point.name, point.value, point.group)
        if alias not in model_registry:
            model_registry.register(alias, target=point)
        resolved = get_model(alias)
        assert issubclass(resolved, LM)
        assert resolved is getattr(backend, backend.BACKENDS[name])


def test_the_served_backend_generates_as_the_local_one(llama_server_bos):
    # the server's completions (max_tokens, stop, temperature 0) against
    # Hugging Face generate on the same weights
    url, folder = llama_server_bos
    served = backend.SeqScoreOpenAILM(base_url=f"{url}/completions")
    local = backend.SeqScoreLM(pretrained=str(folder))
    ours = evaluate(served, tasks=["seqscore_generate"])["samples"]
    reference = evaluate(local, tasks=["seqscore_generate"])["samples"]
    texts = [s["resps"][0][0] for s in ours["seqscore_generate"]]
    # the random model emits stray bytes: Hugging Face decodes an incomplete
    # UTF-8 character as U+FFFD, llama-cpp-python leaves it out
    expected = [s["resps"][0][0] for s in reference["seqscore_generate"]]
    expected = [text.replace("\ufffd", "") for text in expected]
    same = sum(a == b for a, b in zip(texts, expected, strict=True))
    # not all: on this random model llama.cpp's greedy choice parts from
    # torch's at near-ties, and its max_tokens counts the bytes of an
    # incomplete character differently (17 of 24 equal with 0.3.36)
    assert same >= len(texts) // 2
    assert any(texts)
    assert not any(stop in text for text in texts for stop in ("\n", "."))
