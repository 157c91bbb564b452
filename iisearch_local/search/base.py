"""The two plugin interfaces behind the model's tools, and the records they return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import UserFacingError


@dataclass(frozen=True, kw_only=True)
class SearchHit:
    """One search result."""

    url: str
    title: str
    snippet: str
    date: str | None = None
    source: str = ""  # name of the engine that answered


@dataclass(frozen=True, kw_only=True)
class Page:
    """A visited page, reduced to clean text."""

    url: str  # final URL after redirects
    title: str
    text: str
    content_type: str = "text/plain"
    fetched_at: float = 0.0  # unix time
    from_cache: bool = False
    date: str | None = None  # publication date when the page states one
    truncated: bool = False  # the body was longer than the size cap and was cut
    source: str = ""  # what served it: "http", "local", "zim", "cache"


class SearchError(UserFacingError):
    """A search or visit failed; the message is short and shown to the model as an observation."""


class RateLimitedError(SearchError):
    """The engine refused because of too many requests (DuckDuckGo answers 202 or 429)."""


class EngineUnavailableError(SearchError):
    """The engine cannot run here: its extra is not installed or it is not configured."""

    def __init__(self, message: str, *, hint: str | None = None,
                 state: str = "not configured") -> None:
        super().__init__(message, hint=hint)
        self.state = state  # "not configured", "not installed" or "broken"


class VisitRefusedError(SearchError):
    """A visit was refused on purpose (address not allowed, not from a search, offline...)."""


@runtime_checkable
class SearchBackend(Protocol):
    """A search engine: the web, a local index, an offline archive."""

    name: str

    def search(self, query: str, max_results: int = 10) -> list[SearchHit]: ...


@runtime_checkable
class PageFetcher(Protocol):
    """Turns a URL into a ``Page`` (over HTTP, from a local index, from an archive)."""

    name: str

    def visit(self, url: str) -> Page: ...


@runtime_checkable
class LocalSource(Protocol):
    """A backend that also serves its own URLs without the network (``file://``, ``zim://``)."""

    name: str

    def handles(self, url: str) -> bool: ...

    def visit(self, url: str) -> Page: ...
