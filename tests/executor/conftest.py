"""Fixtures for the restricted executor tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_testkit import ToolLog, make_executor

from iisearch_local.executor import RestrictedExecutor


@pytest.fixture
def tools() -> ToolLog:
    return ToolLog()


@pytest.fixture
def executor(tools: ToolLog) -> Iterator[RestrictedExecutor]:
    ex = make_executor(tools, wall_time_seconds=10.0)
    ex.run("pass")  # start the worker thread before any snapshot of the host's threads
    yield ex
    ex.close()


@pytest.fixture
def sentinel(tmp_path: Path) -> Path:
    """A file that any successful escape payload in these tests would create."""
    return tmp_path / "escaped"
