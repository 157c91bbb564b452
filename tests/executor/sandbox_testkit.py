"""Helpers shared by the restricted executor tests: recording tool stubs and host snapshots."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iisearch_local.executor import ExecutorLimits, RestrictedExecutor

SEARCH_TEXT = "\n\n".join(
    f"Index: {i}\nURL: https://example.org/page{i}\nTitle: Page {i}\nPreview: Year {2000 + i}, "
    f"value {i * 11}." for i in range(10))


@dataclass
class ToolLog:
    """What the host functions received (so tests can check nothing else crossed)."""

    calls: list[tuple[str, tuple, dict]] = field(default_factory=list)

    def search(self, *args: Any, **kwargs: Any) -> str:
        self.calls.append(("web_search", args, kwargs))
        return SEARCH_TEXT

    def visit(self, *args: Any, **kwargs: Any) -> str:
        self.calls.append(("web_visit", args, kwargs))
        return "Page text. The Seine is 777 km long."


def make_executor(tools: ToolLog, **limits: Any) -> RestrictedExecutor:
    return RestrictedExecutor(
        functions={"web_search": tools.search, "web_visit": tools.visit,
                   "visit_webpage": tools.visit},
        limits=ExecutorLimits(**limits))


@dataclass
class HostSnapshot:
    """The host state a sandbox escape would change."""

    environ: dict[str, str]
    cwd: str
    threads: int
    children: set[str]

    @classmethod
    def take(cls) -> HostSnapshot:
        # Sandbox workers of executors closed by earlier tests exit asynchronously; counting
        # them would race, and code cannot start a thread under that name anyway.
        threads = sum(1 for t in threading.enumerate() if t.name != "iisearch-sandbox")
        return cls(environ=dict(os.environ), cwd=os.getcwd(), threads=threads,
                   children=_child_pids())


def _child_pids() -> set[str]:
    path = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
    return set(path.read_text().split()) if path.exists() else set()
