"""SearXNG: the JSON API of the user's own instance (``search.searxng.url``).

The instance must allow ``format=json`` (``search.formats`` in its settings.yml); when it does
not it answers 403, and the error says so.
"""

from __future__ import annotations

import httpx

from ..base import EngineUnavailableError, SearchError, SearchHit
from ..settings import SearchSettings
from ._http import as_list, make_client, request_json, text_field


class SearxngEngine:
    """Searches ``{url}/search?q=...&format=json``."""

    name = "searxng"
    local = False

    def __init__(self, *, base_url: str, client: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> SearxngEngine:
        if not settings.searxng_url:
            raise EngineUnavailableError("searxng needs the URL of your instance",
                                         hint="Set search.searxng.url, e.g. http://localhost:8888")
        return cls(base_url=settings.searxng_url, client=make_client(settings))

    def search(self, query: str, max_results: int = 10) -> list[SearchHit]:
        try:
            data = request_json(self._client, "GET", f"{self.base_url}/search", engine=self.name,
                                params={"q": query, "format": "json"},
                                headers={"Accept": "application/json"})
        except SearchError as exc:
            if "HTTP 403" in exc.message:
                raise SearchError("searxng refused JSON output (HTTP 403); enable the json format "
                                  "in the instance's settings.yml") from None
            raise
        results = as_list(data.get("results") if isinstance(data, dict) else None)
        hits = []
        for item in results:
            url = text_field(item, "url")
            if url:
                hits.append(SearchHit(url=url, title=text_field(item, "title"),
                                      snippet=text_field(item, "content"),
                                      date=text_field(item, "publishedDate") or None,
                                      source=self.name))
            if len(hits) >= max_results:
                break
        return hits
