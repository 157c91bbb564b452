"""What the session store hands out: typed, read-only records of stored sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..errors import UserFacingError
from ..research.events import Event, Finished, SessionEnd

# A turn (one question) ends with its Finished reason; "running" while it goes, and
# "interrupted" when the process recording it died (kill, crash, power loss) before it ended.
SessionStatus = Literal["running", "answered", "length", "no_answer", "cancelled", "error",
                        "interrupted"]
STATUSES: tuple[str, ...] = ("running", "answered", "length", "no_answer", "cancelled", "error",
                             "interrupted")
FINISHED_STATUSES: tuple[SessionEnd, ...] = ("answered", "length", "no_answer", "cancelled",
                                             "error")


class StoreError(UserFacingError):
    """The session store could not do what was asked (the message says why)."""


class SessionNotFoundError(StoreError):
    """No stored session has that id (or id prefix)."""


class SessionBusyError(StoreError):
    """The session is being recorded right now (by this or another process)."""


@dataclass(frozen=True, kw_only=True)
class SessionSummary:
    """One row of the history list: what a session is about and how it ended."""

    id: str
    title: str  # the name given with ``rename``, else the first question
    question: str  # the first question
    model: str
    backend: str
    protocol: str
    offline: bool
    status: SessionStatus
    detail: str  # why the latest turn ended, in words ("" when it simply answered)
    answer: str  # the latest turn's answer
    turns: int
    events: int
    created_at: float  # seconds since the epoch (UTC)
    updated_at: float
    renamed: bool = False  # the title was set with ``rename``


@dataclass(frozen=True, kw_only=True)
class Turn:
    """One question of a session and how it ended."""

    number: int  # 1, 2, ... in the order asked
    question: str
    status: SessionStatus
    answer: str
    detail: str
    started_at: float
    finished_at: float | None


@dataclass(frozen=True, kw_only=True)
class EventRecord:
    """One stored event: its place in the session, its turn and when it was written."""

    seq: int  # 0, 1, ... in the order the session yielded them
    turn: int
    at: float
    event: Event


@dataclass(frozen=True, kw_only=True)
class StoredSession:
    """Everything stored about a session: summary, turns, every event and the raw trace."""

    summary: SessionSummary
    turns: tuple[Turn, ...]
    records: tuple[EventRecord, ...]
    trace: str
    # The ranges of ``trace`` the model generated; None when they were not recorded.
    generated_spans: tuple[tuple[int, int], ...] | None = None
    unreadable: int = 0  # rows whose event type this version does not know (skipped)

    @property
    def id(self) -> str:
        return self.summary.id

    @property
    def status(self) -> SessionStatus:
        return self.summary.status

    @property
    def events(self) -> list[Event]:
        """The events in the order they happened, every turn."""
        return [record.event for record in self.records]

    def turn_events(self, number: int) -> list[Event]:
        """The events of turn ``number`` (1-based)."""
        return [record.event for record in self.records if record.turn == number]

    def finished(self, number: int | None = None) -> Finished | None:
        """The ``Finished`` event of turn ``number`` (default: the latest finished turn)."""
        for record in reversed(self.records):
            if isinstance(record.event, Finished) and number in (None, record.turn):
                return record.event
        return None


@dataclass(frozen=True, kw_only=True)
class CitedSource:
    """A page an answer of the session cites (the first turn citing it)."""

    turn: int
    number: int  # its number in that turn's references
    url: str
    title: str
    visited: bool


@dataclass(frozen=True, kw_only=True)
class SourceText:
    """The text of a cited page, without the network: what the session read, or the cache's copy."""

    url: str
    title: str
    text: str
    origin: Literal["session", "cache", "search"]  # "search": only the search preview exists
