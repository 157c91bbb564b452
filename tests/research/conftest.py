"""Fixtures of the research-engine tests: a fixed clock, the in-memory source, sessions."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from iisearch_local.backends.scripted import ScriptedBackend
from iisearch_local.research import ResearchSession, ResearchSettings
from iisearch_local.research.local_source import InMemorySource

FIXED_NOW = datetime(2025, 6, 2, 14, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def source() -> InMemorySource:
    return InMemorySource()


@pytest.fixture
def make_session(source):
    """Build a session on a scripted model: ``make_session(replies, protocol, **settings)``."""
    sessions: list[ResearchSession] = []

    def build(replies, protocol="cir", *, context_size=32768, tools=None, **settings):
        backend = ScriptedBackend(replies, context_size=context_size)
        session = ResearchSession(backend, tools=source.functions() if tools is None else tools,
                                  protocol=protocol, settings=ResearchSettings(**settings),
                                  clock=lambda: FIXED_NOW)
        sessions.append(session)
        return session

    yield build
    for session in sessions:
        session.close()
