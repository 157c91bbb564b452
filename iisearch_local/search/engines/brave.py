"""Brave Search API: key in ``search.brave.api_key`` or ``BRAVE_API_KEY``."""

from __future__ import annotations

from ..base import SearchHit
from ._http import KeyedHttpEngine, as_list, request_json, text_field

MAX_PER_REQUEST = 20  # the API's own limit for ``count``


class BraveEngine(KeyedHttpEngine):
    """GETs ``{base_url}/web/search?q=...&count=n`` with the ``X-Subscription-Token`` header."""

    name = "brave"

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
