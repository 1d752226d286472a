"""A real llama-cpp-python server for the served-model tests.

The models are the committed tiny Llamas of ``fixtures/served/`` (made by
``fixtures/served/make_served_fixtures.py``): ``tiny-llama-bos`` (its
tokenizer prepends ``<s>``) and ``tiny-llama-nobos`` (it adds nothing), one
set of float32 weights, each folder holding the Hugging Face files and
``model-f32.gguf``. What the server answers is written down in
``fixtures/served/SERVER_FACTS.md``.

``start_server`` launches ``python -m llama_cpp.server`` on 127.0.0.1 at a
free port with a float32 KV cache (``--type_k 0 --type_v 0``: the default
float16 cache moves log-probs by up to 1e-2) and ``--logits_all true``
(without it a request with ``logprobs`` fails), waits until
``GET /v1/models`` answers, and returns the base URL (``.../v1``) and the
process; ``stop_server`` ends it. The server's output goes to a log file
(``process.log_path``), never to a pipe that nobody reads, and its tail is
in the error when it dies or does not answer in time.

Where ``llama_cpp`` (with its ``[server]`` extra) cannot be imported the
fixtures skip, unless ``SEQSCORE_REQUIRE_SERVER=1``, where they fail.

The fixtures (``tests/models/conftest.py`` imports them):

- ``llama_server_factory``: session-scoped; ``factory("bos" | "nobos",
  n_ctx=512)`` gives a ``ServedModel`` (one server per variant and
  ``n_ctx``, started on first use, stopped at the end of the session);
- ``llama_server_bos``, ``llama_server_nobos``: session-scoped
  ``ServedModel(url, folder)``: ``url`` is ``http://127.0.0.1:PORT/v1``,
  ``folder`` the Hugging Face folder with the same weights and tokenizer
  (``transformers``' ``from_pretrained`` reads it offline).
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "served"
GGUF_NAME = "model-f32.gguf"
VARIANTS = {"bos": "tiny-llama-bos", "nobos": "tiny-llama-nobos"}
REQUIRE_ENV = "SEQSCORE_REQUIRE_SERVER"
HOST = "127.0.0.1"

# Requests to the server must not go through a proxy named in the
# environment (http_proxy without a no_proxy for 127.0.0.1).
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerError(RuntimeError):
    """The server did not start, or died."""


class ServedModel(NamedTuple):
    """A running server (``url``: its ``/v1`` base) and the Hugging Face
    folder of the model it serves."""

    url: str
    folder: Path


def model_folder(variant: str) -> Path:
    """The Hugging Face folder of ``variant`` (``"bos"`` or ``"nobos"``)."""
    return FIXTURES / VARIANTS[variant]


def gguf_path(variant: str) -> Path:
    """The GGUF file the server loads for ``variant``."""
    return model_folder(variant) / GGUF_NAME


def missing_server() -> str | None:
    """Why ``python -m llama_cpp.server`` cannot run here, or None."""
    for module in ("llama_cpp", "llama_cpp.server.app"):
        try:
            importlib.import_module(module)
        except Exception as error:  # ImportError, or the library failing to load
            return (
                f"cannot import {module} ({type(error).__name__}: {error}); "
                "install llama-cpp-python[server]"
            )
    return None


def require_server() -> None:
    """Skip (or, with ``SEQSCORE_REQUIRE_SERVER=1``, fail) the calling test
    where the server cannot run."""
    reason = missing_server()
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(f"no llama-cpp-python server: {reason}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _log_tail(process: subprocess.Popen, chars: int = 4000) -> str:
    path = getattr(process, "log_path", None)
    if path is None:
        return ""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return text[-chars:]


def _answers(url: str) -> bool:
    try:
        with _OPENER.open(f"{url}/models", timeout=2) as response:
            return response.status == 200 and "data" in json.load(response)
    except (OSError, ValueError):  # URLError, refused, reset, timeout, bad JSON
        return False


def start_server(
    gguf_path: str | Path,
    *,
    n_ctx: int = 512,
    timeout: float = 60.0,
    extra_args: tuple[str, ...] = (),
) -> tuple[str, subprocess.Popen]:
    """Launch the server on ``gguf_path``; return its ``/v1`` base URL and
    the process once ``GET /v1/models`` answers.

    Raises ``ServerError`` (with the end of the server's log) when it exits
    or does not answer within ``timeout`` seconds. A port taken between
    choosing it and binding it is retried with another."""
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise ServerError(f"no model file {gguf_path}")
    last_error: ServerError | None = None
    for _ in range(3):
        port = free_port()
        url = f"http://{HOST}:{port}/v1"
        log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop_server)
            prefix=f"llama-server-{port}-", suffix=".log", delete=False
        )
        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf_path),
            "--host",
            HOST,
            "--port",
            str(port),
            "--n_ctx",
            str(n_ctx),
            "--type_k",
            "0",
            "--type_v",
            "0",
            "--logits_all",
            "true",
            *extra_args,
        ]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        process.log_path = log.name  # type: ignore[attr-defined]
        process.log_file = log  # type: ignore[attr-defined]
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                tail = _log_tail(process)
                last_error = ServerError(
                    f"llama_cpp.server exited with {process.returncode} before "
                    f"answering ({' '.join(command)}); its output ends:\n{tail}"
                )
                log.close()
                Path(log.name).unlink(missing_ok=True)
                if "address already in use" in tail.lower():
                    break  # another port
                raise last_error
            if _answers(url):
                return url, process
            if time.monotonic() > deadline:
                tail = _log_tail(process)
                stop_server(process)
                raise ServerError(
                    f"llama_cpp.server did not answer GET {url}/models within "
                    f"{timeout:g} s ({' '.join(command)}); its output ends:\n{tail}"
                )
            time.sleep(0.1)
    assert last_error is not None
    raise last_error


def stop_server(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """End the server (SIGTERM, then SIGKILL after ``timeout`` seconds) and
    remove its log."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    log = getattr(process, "log_file", None)
    if log is not None:
        log.close()
    path = getattr(process, "log_path", None)
    if path is not None:
        Path(path).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def llama_server_factory() -> Iterator[Callable[..., ServedModel]]:
    """``factory(variant="bos", n_ctx=512) -> ServedModel``: one server per
    variant and context size for the whole session."""
    running: dict[tuple[str, int], tuple[ServedModel, subprocess.Popen]] = {}

    def factory(variant: str = "bos", *, n_ctx: int = 512) -> ServedModel:
        if variant not in VARIANTS:
            raise ValueError(
                f"variant must be one of {sorted(VARIANTS)}, not {variant!r}"
            )
        key = (variant, n_ctx)
        if key in running:
            served, process = running[key]
            if process.poll() is None:
                return served
            raise ServerError(
                f"the {variant} server (n_ctx={n_ctx}) died during the session "
                f"with {process.returncode}; its output ends:\n{_log_tail(process)}"
            )
        require_server()
        url, process = start_server(gguf_path(variant), n_ctx=n_ctx)
        served = ServedModel(url, model_folder(variant))
        running[key] = (served, process)
        return served

    try:
        yield factory
    finally:
        for _, process in running.values():
            stop_server(process)


@pytest.fixture(scope="session")
def llama_server_bos(llama_server_factory) -> ServedModel:
    """The server on ``tiny-llama-bos`` (prepends ``<s>``), n_ctx 512."""
    return llama_server_factory("bos")


@pytest.fixture(scope="session")
def llama_server_nobos(llama_server_factory) -> ServedModel:
    """The server on ``tiny-llama-nobos`` (adds no BOS), n_ctx 512."""
    return llama_server_factory("nobos")
