"""Tavily search API: key in ``search.tavily.api_key`` or ``TAVILY_API_KEY``."""

from __future__ import annotations

import httpx

from ..base import SearchHit
from ..settings import SearchSettings
from ._http import KeyedHttpEngine, as_list, request_json, text_field

MAX_PER_REQUEST = 20


class TavilyEngine(KeyedHttpEngine):
    """POSTs ``{"query", "max_results", "search_depth"}`` to ``{base_url}/search`` (Bearer key)."""

    name = "tavily"

    def __init__(self, *, api_key: str, base_url: str, client: httpx.Client,
                 search_depth: str = "basic") -> None:
        super().__init__(api_key=api_key, base_url=base_url, client=client)
        self.search_depth = search_depth

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> TavilyEngine:
        return cls(**cls.api_settings(settings), search_depth=settings.tavily_search_depth)

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
