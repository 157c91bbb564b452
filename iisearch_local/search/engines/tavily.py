"""Tavily search API: key in ``search.tavily.api_key`` or ``TAVILY_API_KEY``."""

from __future__ import annotations

import httpx

from ..base import EngineUnavailableError, SearchHit
from ..settings import SearchSettings
from ._http import as_list, make_client, request_json, text_field

MAX_PER_REQUEST = 20


class TavilyEngine:
    """POSTs ``{"query", "max_results", "search_depth"}`` to ``{base_url}/search`` (Bearer key)."""

    name = "tavily"
    local = False

    def __init__(self, *, api_key: str, base_url: str, client: httpx.Client,
                 search_depth: str = "basic") -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.search_depth = search_depth
        self._client = client

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> TavilyEngine:
        key = settings.api_key("tavily")
        if not key:
            raise EngineUnavailableError("tavily needs an API key",
                                         hint="Set search.tavily.api_key or TAVILY_API_KEY.")
        return cls(api_key=key, base_url=settings.tavily_base_url, client=make_client(settings),
                   search_depth=settings.tavily_search_depth)

    def search(self, query: str, max_results: int = 10) -> list[SearchHit]:
        body = {"query": query, "max_results": min(max_results, MAX_PER_REQUEST),
                "search_depth": self.search_depth}
        data = request_json(self._client, "POST", f"{self.base_url}/search", engine=self.name,
                            json=body, headers={"Authorization": f"Bearer {self.api_key}"})
        results = as_list(data.get("results") if isinstance(data, dict) else None)
        hits = []
        for item in results[:max_results]:
            url = text_field(item, "url")
            if url:
                hits.append(SearchHit(url=url, title=text_field(item, "title"),
                                      snippet=text_field(item, "content"),
                                      date=text_field(item, "published_date") or None,
                                      source=self.name))
        return hits
