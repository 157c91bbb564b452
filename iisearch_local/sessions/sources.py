"""Reopening what a stored session cites, with no network.

A cited page is served from, in order: the text the session itself read (its ``VisitDone``
events keep the page exactly as the model saw it), the search package's page cache (which may
hold the fuller page, however old), and last the search result's preview.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from ..research.citations import normalize_url
from ..research.events import Finished, SearchDone, VisitDone
from .models import CitedSource, SourceText, StoredSession


class PageSource(Protocol):
    """What ``source_text`` needs of a page cache (``search.cache.PageCache`` fits)."""

    def get_page(self, url: str, *, allow_stale: bool = False) -> Any: ...


def cited_sources(stored: StoredSession) -> list[CitedSource]:
    """Every page the session's answers cite, in order of first citation, each once."""
    seen: set[str] = set()
    out: list[CitedSource] = []
    for record in stored.records:
        if not isinstance(record.event, Finished):
            continue
        for source in record.event.sources:
            key = normalize_url(source.url)
            if key in seen:
                continue
            seen.add(key)
            out.append(CitedSource(turn=record.turn, number=source.number, url=source.url,
                                   title=source.title, visited=source.visited))
    return out


def source_text(stored: StoredSession, url: str, *,
                cache: PageSource | None = None) -> SourceText | None:
    """The text of ``url`` as the session read it, else as ``cache`` holds it, else the preview.

    ``cache=None`` opens the user's page cache if it exists (read-only use, never the network).
    """
    key = normalize_url(url)
    for event in reversed(stored.events):  # the latest successful visit wins
        if isinstance(event, VisitDone) and event.error is None and normalize_url(event.url) == key:
            return SourceText(url=event.url, title=event.title, text=event.output, origin="session")
    page = _cached_page(url, cache)
    if page is not None:
        return SourceText(url=page.url, title=page.title, text=page.text, origin="cache")
    for event in stored.events:
        if isinstance(event, SearchDone):
            for hit in event.hits:
                if normalize_url(hit.url) == key:
                    return SourceText(url=hit.url, title=hit.title, text=hit.preview,
                                      origin="search")
    return None


def _cached_page(url: str, cache: PageSource | None) -> Any:
    if cache is not None:
        return cache.get_page(url, allow_stale=True)
    opened = open_page_cache()
    if opened is None:
        return None
    try:
        return opened.get_page(url, allow_stale=True)
    finally:
        opened.close()


def open_page_cache(path: Path | None = None) -> Any:
    """The search package's page cache at ``path`` (default: the configured file), or None.

    Never creates a cache file that does not exist yet: reading must not leave files behind.
    """
    from ..search.cache import PageCache

    if path is None:
        from ..config import load_config
        from ..search.settings import SearchSettings

        try:
            path = SearchSettings.from_config(load_config()).cache_path
        except Exception:  # noqa: BLE001 - a broken config must not block reading history
            return None
    if not path.exists():
        return None
    # max_bytes=0: no eviction from a reader; the TTL does not apply to allow_stale reads.
    return PageCache(path, ttl_seconds=0, max_bytes=0)
