"""DuckDuckGo (and the other engines the ``ddgs`` metasearch library reaches), no API key.

Needs the ``web`` extra. ddgs reports throttling (DuckDuckGo answers 202 or 429) as its own
``RatelimitException``; that becomes ``RateLimitedError`` so the fallback chain moves on.
"""

from __future__ import annotations

from typing import Any

from ..base import EngineUnavailableError, RateLimitedError, SearchError, SearchHit
from ..settings import SearchSettings


class DuckDuckGoEngine:
    """Web search through ``ddgs.DDGS().text``."""

    name = "duckduckgo"
    local = False

    def __init__(self, *, region: str = "us-en", safesearch: str = "moderate",
                 backend: str = "auto", timeout: float = 15.0) -> None:
        try:
            import ddgs
            import ddgs.exceptions
        except ImportError:
            raise EngineUnavailableError("the duckduckgo engine needs the 'web' extra",
                                         hint="pip install 'iisearch-local[web]'",
                                         state="not installed") from None
        self._ddgs = ddgs
        self.region, self.safesearch, self.backend = region, safesearch, backend
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> DuckDuckGoEngine:
        return cls(region=settings.ddg_region, safesearch=settings.ddg_safesearch,
                   backend=settings.ddg_backend, timeout=settings.timeout)

    def search(self, query: str, max_results: int = 10) -> list[SearchHit]:
        exceptions = self._ddgs.exceptions
        try:
            client = self._ddgs.DDGS(timeout=max(1, round(self.timeout)))
            rows: list[dict[str, Any]] = client.text(
                query, region=self.region, safesearch=self.safesearch,
                max_results=max_results, backend=self.backend)
        except exceptions.RatelimitException:
            raise RateLimitedError("duckduckgo is rate-limiting searches (HTTP 202/429)") from None
        except exceptions.TimeoutException:
            raise SearchError("duckduckgo did not answer in time") from None
        except exceptions.DDGSException as exc:
            if "no results" in str(exc).lower():
                return []
            raise SearchError(f"duckduckgo failed ({exc})") from None
        hits = []
        for row in rows[:max_results]:
            url = str(row.get("href") or row.get("url") or "")
            if url:
                hits.append(SearchHit(url=url, title=str(row.get("title") or ""),
                                      snippet=str(row.get("body") or ""), source=self.name))
        return hits
