"""HTTP to an OpenAI-compatible server: retries, timeouts, concurrency.

One :class:`ServerClient` per run holds a pooled ``httpx.Client`` (the
optional extra ``seqscore[serve]``) and answers :meth:`ServerClient.post`
and :meth:`ServerClient.get` with the decoded JSON body, or raises
:class:`~seqscore.errors.ServerError` naming what failed.

What is retried, and why: a ``429`` (rate limited), a ``5xx`` (an
overloaded or restarting server), a timeout and a dropped connection are
the server's passing troubles, so they are retried with exponential
backoff (``backoff * 2**k`` seconds, at most :data:`MAX_BACKOFF`, or the
server's ``Retry-After``); any other ``4xx`` says the request itself is
wrong (a prompt too long for the model, an unknown model name), and
retrying cannot help, so it fails at once with the server's own message.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, TypeVar

from seqscore.errors import InvalidInputError, MissingExtraError, ServerError

__all__ = ["MAX_BACKOFF", "ServerClient", "api_key_from_env", "in_order"]

#: The longest wait between two tries, in seconds.
MAX_BACKOFF = 8.0

#: Statuses that say "try again later" rather than "this request is wrong".
RETRIED_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})

#: Statuses that say "this request is wrong" (a prompt too long for the
#: model, a value out of range): the record's fault, not the run's.
REFUSED_REQUEST = frozenset({400, 413, 422})

R = TypeVar("R")


def _httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise MissingExtraError(
            "served models (--model openai:URL) need httpx: "
            "pip install 'seqscore[serve]'"
        ) from None
    return httpx


def api_key_from_env(variable: str | None) -> str | None:
    """The API key in environment variable ``variable`` (None: no key).

    >>> api_key_from_env(None) is None
    True
    """
    if variable is None:
        return None
    key = os.environ.get(variable)
    if not key:
        raise InvalidInputError(
            f"--api-key-env {variable}: that environment variable is not set"
        )
    return key


@dataclass
class ServerClient:
    """Requests to the server at ``base_url`` (e.g. ``http://host:8000/v1``).

    ``timeout``: seconds one try may take; ``retries``: tries after the
    first; ``backoff``: the first wait, doubled after each try;
    ``connections``: the pool's size (the run's concurrency).
    """

    base_url: str
    api_key: str | None = None
    timeout: float = 120.0
    retries: int = 5
    backoff: float = 0.5
    connections: int = 8

    def __post_init__(self) -> None:
        httpx = _httpx()
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        limits = httpx.Limits(
            max_connections=self.connections,
            max_keepalive_connections=self.connections,
        )
        self._http = httpx.Client(
            base_url=self.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=self.timeout,
            limits=limits,
        )
        self._transient = (httpx.TimeoutException, httpx.TransportError)

    def get(self, path: str) -> Any:
        """``GET base_url/path``'s JSON body."""
        return self._send("GET", path, None)

    def post(self, path: str, payload: dict) -> Any:
        """``POST base_url/path`` with a JSON ``payload``; the JSON body."""
        return self._send("POST", path, payload)

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, payload: dict | None) -> Any:
        where = f"{method} {self.base_url.rstrip('/')}/{path}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._http.request(method, path, json=payload)
            except self._transient as exc:
                if last:
                    raise ServerError(
                        f"{where}: {_describe(exc)} (after {attempt + 1} tries)"
                    ) from None
                time.sleep(self._wait(attempt, None))
                continue
            if response.status_code in RETRIED_STATUSES and not last:
                time.sleep(self._wait(attempt, response.headers.get("retry-after")))
                continue
            return _body(response, where, attempt + 1)
        raise AssertionError("unreachable: the last try returns or raises")

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        """Seconds before the next try: the server's ``Retry-After`` when it
        gives one in seconds, else exponential backoff."""
        try:
            asked = float(retry_after) if retry_after is not None else None
        except ValueError:
            asked = None
        if asked is not None and asked >= 0:
            return min(asked, MAX_BACKOFF * 4)
        return min(self.backoff * 2**attempt, MAX_BACKOFF)


def _body(response, where: str, tries: int) -> Any:
    """The response's JSON, or a :class:`ServerError` with the server's
    own words (its ``error.message`` when it sends one)."""
    if response.status_code >= 400:
        after = f" (after {tries} tries)" if tries > 1 else ""
        text = f"{where}: HTTP {response.status_code}{after}: {_message(response)}"
        if response.status_code in REFUSED_REQUEST:
            raise InvalidInputError(f"the server refused the request: {text}")
        raise ServerError(text)
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ServerError(
            f"{where}: the server's answer is not JSON: {response.text[:200]!r}"
        ) from None


def _message(response) -> str:
    """What the server said was wrong, as briefly as it said it."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:300] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and "message" in error:
        return str(error["message"])[:300]
    if isinstance(body, dict) and "detail" in body:
        return json.dumps(body["detail"])[:300]
    return json.dumps(body)[:300]


def _describe(exc: Exception) -> str:
    name = type(exc).__name__
    text = str(exc)
    return f"{name}: {text}" if text else name


def in_order(
    work: Callable[[int], R],
    count: int,
    workers: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[R]:
    """``[work(0), ..., work(count - 1)]``, computed ``workers`` at a time;
    ``on_progress(done, count)`` as each finishes. The first exception
    cancels the queued calls and propagates."""
    out: list[Any] = [None] * count
    done = 0
    if workers <= 1 or count <= 1:
        for index in range(count):
            out[index] = work(index)
            done += 1
            if on_progress is not None:
                on_progress(done, count)
        return out
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(work, index): index for index in range(count)}
        try:
            for future in as_completed(futures):
                out[futures[future]] = future.result()
                done += 1
                if on_progress is not None:
                    on_progress(done, count)
        finally:
            for future in futures:
                future.cancel()
    return out
