"""An on-disk cache of a server's answers, so that a run resumes.

``--cache DIR`` keeps every successful answer in ``DIR/responses.sqlite``
under the SHA-256 of ``(server URL, model, request body)``: a run that is
interrupted (killed, a network failure after its retries) and started
again asks the server only what it has not answered yet, and gets the very
same numbers for the rest. Each answer is committed as it arrives (SQLite's
transactions make a half-written entry impossible, even under ``kill -9``);
failed requests are never stored.

Why SQLite and not a file per answer: a run of 100,000 requests would make
100,000 files; one table holds them in one file, safely shared by the
run's threads.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from typing import Any

from seqscore.errors import InvalidInputError

__all__ = ["ResponseCache", "request_key"]

FILE_NAME = "responses.sqlite"


def request_key(server: str, model: str, payload: dict) -> str:
    """The cache key of ``payload`` sent to ``model`` at ``server``: the same
    request to the same model gives the same key, in any key order.

    >>> a = request_key("http://h/v1", "m", {"prompt": "x", "echo": True})
    >>> a == request_key("http://h/v1/", "m", {"echo": True, "prompt": "x"})
    True
    >>> a == request_key("http://h/v1", "other", {"prompt": "x", "echo": True})
    False
    """
    text = json.dumps(
        [server.rstrip("/"), model, payload], sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """Answers stored under :func:`request_key` s in ``folder`` (created)."""

    def __init__(self, folder: str):
        try:
            os.makedirs(folder, exist_ok=True)
            self._db = sqlite3.connect(
                os.path.join(folder, FILE_NAME),
                check_same_thread=False,
                isolation_level=None,  # autocommit: each put is one transaction
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, body TEXT)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise InvalidInputError(f"--cache {folder}: {exc}") from None
        self.folder = folder
        self._lock = threading.Lock()
        self.hits = 0
        self.stored = 0

    def get(self, key: str) -> Any | None:
        """The stored answer for ``key``, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM answers WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        try:
            body = json.loads(row[0])
        except json.JSONDecodeError:  # never written by us: ask again
            return None
        self.hits += 1
        return body

    def put(self, key: str, body: Any) -> None:
        """Keep ``body`` (JSON-serialisable) as the answer for ``key``."""
        text = json.dumps(body, ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, body) VALUES (?, ?)", (key, text)
            )
            self.stored += 1

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
