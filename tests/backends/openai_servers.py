"""Servers for the openai backend's tests: llama-cpp-python's real OpenAI-compatible server on a
tiny model, and a small scripted http.server for failures (all on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from iisearch_local.testing.servers import free_port, llama_cpp_server  # noqa: F401  (re-exported)

Handler = Callable[[str, str, dict], tuple[int, dict | list[str]]]


@contextmanager
def scripted_server(handle: Handler) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """An http.server whose answers come from ``handle(method, path, body)``.

    ``handle`` returns (status, json dict) or (200, list of SSE ``data:`` payloads). Yields the
    base URL and the list of (method, path) requests seen.
    """
    seen: list[tuple[str, str]] = []

    class Scripted(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            seen.append((method, self.path))
            status, payload = handle(method, self.path, body)
            if isinstance(payload, list):
                data = "".join(f"data: {p}\n\n" for p in payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/event-stream")
            else:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def sse_completion(pieces: list[str], *, finish: str = "stop", usage: dict | None = None,
                   extra: dict | None = None) -> list[str]:
    """SSE payloads of a streamed completion made of ``pieces``."""
    events = [json.dumps({"choices": [{"index": 0, "text": p, "finish_reason": None}]})
              for p in pieces]
    events.append(json.dumps({"choices": [{"index": 0, "text": "", "finish_reason": finish,
                                           **(extra or {})}]}))
    if usage is not None:
        events.append(json.dumps({"choices": [], "usage": usage}))
    return events + ["[DONE]"]
