"""Servers for the openai backend's tests: llama-cpp-python's real OpenAI-compatible server on a
tiny model, and a small scripted http.server for failures (all on 127.0.0.1)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

SERVER_START_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def llama_cpp_server(model: Path, *, context_size: int = 2048) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` on ``model``; yield its base URL; kill it after."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", str(context_size), "--verbose", "False"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError("llama_cpp.server exited: "
                                   + process.stderr.read().decode(errors="replace")[-2000:])
            try:
                if httpx.get(f"{url}/v1/models", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start in time")
            time.sleep(0.2)
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stderr.close()


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
