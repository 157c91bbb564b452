"""Fixtures of the session-store tests: a private home folder and a real store on disk."""

from __future__ import annotations

import time

import pytest
from sessionstest_helpers import Ticker

from iisearch_local.sessions import SessionStore


@pytest.fixture
def home(tmp_path, monkeypatch):
    """IISEARCH_HOME in tmp_path, UTC as the local time zone (exact CLI output)."""
    monkeypatch.setenv("IISEARCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    for name in ("IISEARCH_BACKEND_NAME", "IISEARCH_MODEL_NAME", "IISEARCH_MODEL_PROTOCOL",
                 "IISEARCH_SESSIONS_SAVE"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path / "home"
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def store(tmp_path):
    opened = SessionStore(tmp_path / "sessions.db", clock=Ticker())
    yield opened
    opened.close()
