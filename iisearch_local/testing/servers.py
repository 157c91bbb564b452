"""llama-cpp-python's own OpenAI-compatible server on a local model, for tests and benchmarks.

Binds 127.0.0.1 only. Needs the server's dependencies (fastapi, uvicorn, sse-starlette,
starlette-context, pydantic-settings: the ``dev`` extra).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
