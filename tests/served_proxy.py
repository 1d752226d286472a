"""A real HTTP proxy in front of a real server, that misbehaves on cue.

Retries, timeouts, a chat-only endpoint and a server with several models
are a server's behaviours, so they are tested against a server that has
them: this proxy (Python's ``http.server``, in a thread) forwards requests
to the llama-cpp-python server and, following its ``faults`` script,
answers some of them itself first: a status (``503``, ``429`` with
``Retry-After``), a delay past the client's timeout, or a 404 for
``/v1/completions`` (a chat-only endpoint).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Faults:
    """What the proxy does to each request to ``/v1/completions``, in order:
    ``script`` items are ``("status", code)``, ``("sleep", seconds)`` or
    ``("pass", None)``; once the script is used up every request passes.
    ``chat_only`` makes ``/v1/completions`` a 404; ``models`` replaces the
    model list of ``GET /v1/models``."""

    script: list[tuple[str, object]] = field(default_factory=list)
    chat_only: bool = False
    models: list[str] | None = None
    seen: int = 0  # completions requests received
    forwarded: int = 0  # completions requests passed to the server
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self) -> tuple[str, object]:
        with self.lock:
            self.seen += 1
            return self.script.pop(0) if self.script else ("pass", None)


def _handler(target: str, faults: Faults):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            if self.path.endswith("/models") and faults.models is not None:
                data = [{"id": name, "object": "model"} for name in faults.models]
                return self._send(200, {"object": "list", "data": data})
            return self._forward(None)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path.endswith("/completions") and "chat" not in self.path:
                if faults.chat_only:
                    return self._send(404, {"detail": "Not Found"})
                kind, value = faults.next()
                if kind == "status":
                    headers = {"Retry-After": "0"} if value == 429 else {}
                    return self._send(
                        int(value), {"error": {"message": "busy"}}, headers
                    )
                if kind == "sleep":
                    time.sleep(float(value))
                with faults.lock:
                    faults.forwarded += 1
            return self._forward(body)

        def _forward(self, body: bytes | None):
            request = urllib.request.Request(
                target + self.path[len("/v1") :],
                data=body,
                headers={"content-type": "application/json"},
                method="POST" if body is not None else "GET",
            )
            try:
                with _OPENER.open(request, timeout=60) as response:
                    status, payload = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, payload = exc.code, exc.read()
            self._raw(status, payload)

        def _send(self, status: int, payload, headers=None):
            self._raw(status, json.dumps(payload).encode(), headers)

        def _raw(self, status: int, payload: bytes, headers=None):
            try:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout): nothing to answer

    return Handler


@contextmanager
def proxy(target: str, faults: Faults) -> Iterator[str]:
    """``http://127.0.0.1:PORT/v1`` forwarding to ``target`` (a ``/v1``
    URL) under ``faults``, for the ``with`` block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(target, faults))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
