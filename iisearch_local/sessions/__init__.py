"""The session store: every research session kept on disk as it happens, never lost.

``SessionStore`` records sessions event by event (SQLite, WAL), lists and searches them, and
hands them back as ``StoredSession`` for replay, export (``export``) or a follow-up question;
``recorder.record`` wraps a running session's event stream so each event is stored first.
"""

from __future__ import annotations

from .models import (
    CitedSource,
    EventRecord,
    SessionBusyError,
    SessionNotFoundError,
    SessionStatus,
    SessionSummary,
    SourceText,
    StoredSession,
    StoreError,
    Turn,
)
from .store import SessionStore, default_path

__all__ = ["CitedSource", "EventRecord", "SessionBusyError", "SessionNotFoundError",
           "SessionStatus", "SessionStore", "SessionSummary", "SourceText", "StoreError",
           "StoredSession", "Turn", "default_path"]
