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


class SearchError(UserFacingError):
    """A search or visit failed; the message is short and shown to the model as an observation."""


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
