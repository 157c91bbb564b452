"""A real HTTP server on 127.0.0.1 for the search tests.

Routes map a path to a ``Reply`` (or a function of the request returning one). A reply can
delay, fail, redirect, stream a huge body, lie about its length or send garbage, which is how the
tests reach every failure a page visit or a search API can meet, without leaving this machine.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """What the server sends for one request."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    repeat: int = 1  # send ``body`` this many times (huge pages without huge memory)
    drip: float = 0.0  # seconds between repeats
    declared_length: int | None = None  # a Content-Length that lies (truncated bodies)

    @classmethod
    def html(cls, html: str, **kw: Any) -> Reply:
        return cls(body=html.encode("utf-8"), **kw)

    @classmethod
    def json(cls, data: Any, **kw: Any) -> Reply:
        return cls(body=json.dumps(data).encode(), content_type="application/json", **kw)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status=status, headers={"Location": location}, content_type=None)


@dataclass
class Request:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Route = Reply | Callable[[Request], Reply]


class LocalServer:
    """``ThreadingHTTPServer`` in a daemon thread; ``url(path)`` gives an address on it."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.bytes_sent: dict[str, int] = {}
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, parts.path, parse_qs(parts.query),
                                  {k.lower(): v for k, v in self.headers.items()}, body)
                with server._lock:
                    server.requests.append(request)
                route = server.routes.get(parts.path)
                reply = Reply(status=404, body=b"not found", content_type="text/plain") if route is None \
                    else (route(request) if callable(route) else route)
                server._send(self, parts.path, reply)

            do_GET = _handle
            do_POST = _handle

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients hanging up mid-body is what several tests do on purpose

        self._httpd = QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._thread.start()

    def _send(self, handler: BaseHTTPRequestHandler, path: str, reply: Reply) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        total = len(reply.body) * reply.repeat
        try:
            handler.send_response(reply.status)
            if reply.content_type:
                handler.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            length = reply.declared_length if reply.declared_length is not None else total
            handler.send_header("Content-Length", str(length))
            handler.end_headers()
            sent = 0
            for _ in range(reply.repeat):
                handler.wfile.write(reply.body)
                sent += len(reply.body)
                with self._lock:
                    self.bytes_sent[path] = sent
                if reply.drip:
                    time.sleep(reply.drip)
            handler.wfile.flush()
            if reply.declared_length is not None and reply.declared_length > total:
                handler.close_connection = True  # hang up early: a truncated body
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (size cap) or gave up (timeout)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
