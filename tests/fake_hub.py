"""A small Hugging Face compatible hub on 127.0.0.1, for download tests without the network.

It implements what huggingface_hub's ``get_hf_file_metadata`` and ``HfApi.model_info`` use:
``HEAD/GET /{repo}/resolve/{revision}/{file}`` (with ``X-Repo-Commit``, ``ETag``,
``Content-Length`` and Range support) and ``GET /api/models/{repo}/revision/{revision}``, with
the hub's ``X-Error-Code`` headers on 404s. It records every request and counts the body bytes
it served, and can misbehave on purpose (drop a connection, ignore Range, send damaged bytes,
answer 5xx) so tests can show the client copes.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
SEND_PIECE = 64 * 1024
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_API = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
_RANGE = re.compile(r"^bytes=(\d+)-$")


@dataclass
class Repo:
    files: dict[str, bytes]
    commit: str


@dataclass
class Seen:
    method: str
    path: str
    range: str | None


@dataclass
class FakeHub:
    """Serve ``repos``; tweak the misbehaviour fields between requests."""

    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    bytes_served: int = 0
    # file name -> number of body bytes to send before dropping the connection (once each)
    drop_after: dict[str, int] = field(default_factory=dict)
    # statuses to answer the next GETs of file contents with, one per request
    fail_gets: list[int] = field(default_factory=list)
    ignore_range: int = 0  # answer this many ranged GETs with the whole file (200)
    corrupt: set[str] = field(default_factory=set)
    gated: set[str] = field(default_factory=set)  # repo ids that need accepted terms

    def add_repo(self, repo_id: str, files: dict[str, bytes]) -> Repo:
        listing = [repo_id] + [f"{name} {_etag(data)}" for name, data in sorted(files.items())]
        commit = hashlib.sha1("\n".join(listing).encode()).hexdigest()
        self.repos[repo_id] = Repo(files=dict(files), commit=commit)
        return self.repos[repo_id]

    def content_gets(self, name: str | None = None) -> list[Seen]:
        """GET requests for file contents (optionally of one file)."""
        return [r for r in self.requests if r.method == "GET" and "/resolve/" in r.path
                and (name is None or r.path.endswith("/" + name))]


def _etag(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _error(self, status: int, code: str | None, commit: str | None = None) -> None:
        body = json.dumps({"error": code or "error"}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _serve(self, *, head: bool) -> None:
        hub = self.server.hub
        path = unquote(urlsplit(self.path).path)
        hub.requests.append(Seen(self.command, path, self.headers.get("Range")))
        if match := _API.match(path):
            return self._api(hub, match["repo"], match["rev"] or "main")
        match = _RESOLVE.match(path)
        if match is None:
            return self._error(404, None)
        repo = hub.repos.get(match["repo"])
        if repo is None:
            return self._error(404, "RepoNotFound")
        if match["repo"] in hub.gated:
            return self._error(403, "GatedRepo")
        if match["rev"] not in ("main", repo.commit):
            return self._error(404, "RevisionNotFound")
        name = match["file"]
        if name not in repo.files:
            return self._error(404, "EntryNotFound", repo.commit)
        if not head and hub.fail_gets:
            return self._error(hub.fail_gets.pop(0), None)
        self._send_file(hub, repo, name, head=head)

    def _api(self, hub: FakeHub, repo_id: str, rev: str) -> None:
        repo = hub.repos.get(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound")
        if rev not in ("main", repo.commit):
            return self._error(404, "RevisionNotFound")
        siblings = [{"rfilename": n, "size": len(d)} for n, d in sorted(repo.files.items())]
        body = json.dumps({"id": repo_id, "sha": repo.commit, "siblings": siblings}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_file(self, hub: FakeHub, repo: Repo, name: str, *, head: bool) -> None:
        data = repo.files[name]
        etag = _etag(data)
        if not head and name in hub.corrupt:
            data = bytes(b ^ 0xFF for b in data)
        start = 0
        wanted = _RANGE.match(self.headers.get("Range") or "")
        if wanted and not head and hub.ignore_range > 0:
            hub.ignore_range -= 1
        elif wanted and not head:
            start = int(wanted.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", repo.commit)
        self.send_header("ETag", f'"{etag}"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if head:
            return
        limit = hub.drop_after.pop(name, None)
        to_send = body if limit is None else body[:limit]
        try:
            for at in range(0, len(to_send), SEND_PIECE):
                piece = to_send[at:at + SEND_PIECE]
                self.wfile.write(piece)
                hub.bytes_served += len(piece)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        if limit is not None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: FakeHub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hub = hub

    def handle_error(self, request, client_address) -> None:  # clients hanging up are expected
        pass


class RunningHub:
    """Context manager: ``with RunningHub() as hub: hub.endpoint ...``."""

    def __init__(self) -> None:
        self.hub = FakeHub()
        self._server = _Server(self.hub)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> RunningHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def forbid_remote_network(monkeypatch) -> list[object]:
    """Make any connection or name lookup beyond the loopback interface fail loudly.

    Returns the list of refused addresses: libraries that swallow the error (huggingface_hub's
    best-effort telemetry does) cannot hide the attempt from a test that checks it is empty.
    """
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    refused: list[object] = []

    def check(address) -> None:
        if isinstance(address, tuple) and address and address[0] not in LOOPBACK_HOSTS:
            refused.append(address)
            raise OSError(f"network access outside 127.0.0.1 is forbidden in tests: {address}")

    def connect(self, address):
        check(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        check((host,) if isinstance(host, str) else (str(host),))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return refused


def isolate_hub_client(monkeypatch, tmp_path) -> list[object]:
    """Environment for huggingface_hub in tests: our folders, no token, no xet, no network.

    Telemetry is deliberately left *on* here: our code must switch it off itself. Returns the
    list of refused remote addresses (see ``forbid_remote_network``).
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    monkeypatch.setenv("IISEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HF_ENDPOINT",
                 "IISEARCH_HUB_ENDPOINT", "IISEARCH_HUB_OFFLINE", "IISEARCH_MODEL_QUANT",
                 "IISEARCH_MODEL_MLX_QUANT", "IISEARCH_MODEL_PROTOCOL", "IISEARCH_BACKEND_NAME",
                 "IISEARCH_MODEL_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    # Forget any cached agent list, so a telemetry fetch would really be attempted again.
    monkeypatch.setattr(_detect_agent, "_registry", None, raising=False)
    return forbid_remote_network(monkeypatch)
