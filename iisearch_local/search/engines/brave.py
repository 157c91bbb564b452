"""Brave Search API: key in ``search.brave.api_key`` or ``BRAVE_API_KEY``."""

from __future__ import annotations

import httpx

from ..base import EngineUnavailableError, SearchHit
from ..settings import SearchSettings
from ._http import as_list, make_client, request_json, text_field

MAX_PER_REQUEST = 20  # the API's own limit for ``count``


class BraveEngine:
    """GETs ``{base_url}/web/search?q=...&count=n`` with the ``X-Subscription-Token`` header."""

    name = "brave"
    local = False

    def __init__(self, *, api_key: str, base_url: str, client: httpx.Client) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self._client = client

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> BraveEngine:
        key = settings.api_key("brave")
        if not key:
            raise EngineUnavailableError("brave needs an API key",
                                         hint="Set search.brave.api_key or BRAVE_API_KEY.")
        return cls(api_key=key, base_url=settings.brave_base_url, client=make_client(settings))

    def search(self, query: str, max_results: int = 10) -> list[SearchHit]:
        data = request_json(self._client, "GET", f"{self.base_url}/web/search", engine=self.name,
                            params={"q": query, "count": min(max_results, MAX_PER_REQUEST)},
                            headers={"X-Subscription-Token": self.api_key,
                                     "Accept": "application/json"})
        web = data.get("web") if isinstance(data, dict) else None
        results = as_list(web.get("results") if isinstance(web, dict) else None)
        hits = []
        for item in results[:max_results]:
            url = text_field(item, "url")
            if url:
                hits.append(SearchHit(url=url, title=text_field(item, "title"),
                                      snippet=text_field(item, "description"),
                                      date=text_field(item, "page_age", "age") or None,
                                      source=self.name))
        return hits
