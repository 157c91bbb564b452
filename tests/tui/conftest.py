"""Fixtures of the TUI tests: a private home folder, a real session store, the app factory."""

from __future__ import annotations

from pathlib import Path

import pytest
from tuitest_helpers import CIR_REPLIES, ScriptedRuntimes

from iisearch_local.config import load_config


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A private IISEARCH_HOME (config, data, cache) with no settings from the environment."""
    monkeypatch.setenv("IISEARCH_HOME", str(tmp_path / "home"))
    for name in ("IISEARCH_MODEL_NAME", "IISEARCH_BACKEND_NAME", "IISEARCH_MODEL_PROTOCOL",
                 "IISEARCH_SEARCH_OFFLINE", "IISEARCH_SEARCH_ENGINES"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


@pytest.fixture
def store(home):
    from iisearch_local.sessions import SessionStore

    opened = SessionStore(home / "data" / "sessions.db")
    yield opened
    close = getattr(opened, "close", None)
    if callable(close):
        close()


@pytest.fixture
def make_app(home, store):
    """``make_app(runtimes, **kwargs)``: the app on a scripted provider and a real store."""
    from iisearch_local.tui.app import IISearchApp

    def build(runtimes: ScriptedRuntimes | None = None, **kwargs) -> IISearchApp:
        kwargs.setdefault("config", load_config(environ={}))
        kwargs.setdefault("store", store)
        return IISearchApp(provider=runtimes or ScriptedRuntimes(CIR_REPLIES), **kwargs)

    return build
