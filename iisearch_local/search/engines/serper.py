"""Serper (Google results over an API): key in ``search.serper.api_key`` or ``SERPER_API_KEY``."""

from __future__ import annotations

from ..base import SearchHit
from ._http import KeyedHttpEngine, as_list, request_json, text_field

MAX_PER_REQUEST = 100


class SerperEngine(KeyedHttpEngine):
    """POSTs ``{"q": ..., "num": n}`` to ``{base_url}/search`` with the ``X-API-KEY`` header."""

    name = "serper"

    def search(self, query: str, max_results: int = 10) -> list[SearchHit]:
        data = request_json(self._client, "POST", f"{self.base_url}/search", engine=self.name,
                            json={"q": query, "num": min(max_results, MAX_PER_REQUEST)},
                            headers={"X-API-KEY": self.api_key})
        organic = as_list(data.get("organic") if isinstance(data, dict) else None)
        hits = []
        for item in organic[:max_results]:
            url = text_field(item, "link", "url")
            if url:
                hits.append(SearchHit(url=url, title=text_field(item, "title"),
                                      snippet=text_field(item, "snippet"),
                                      date=text_field(item, "date") or None, source=self.name))
        return hits
