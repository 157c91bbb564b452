"""The ``local`` search engine: the user's indexed folders, offline.

Searches return ``file://...#p<N>`` URLs pointing at a passage; visiting one returns the whole
document when it fits the page budget, otherwise the part starting just before that passage.
"""

from __future__ import annotations

import time

from .base import Page, SearchError, SearchHit
from .format import DEFAULT_PAGE_WORDS
from .local_index import LocalIndex, parse_file_url
from .settings import SearchSettings

CONTEXT_PASSAGES_BEFORE = 1  # passages shown before the one a hit pointed at


class LocalIndexEngine:
    """``SearchBackend`` and ``LocalSource`` over a ``LocalIndex``."""

    name = "local"
    local = True

    def __init__(self, index: LocalIndex, *, page_words: int = DEFAULT_PAGE_WORDS) -> None:
        self.index = index
        self.page_words = page_words

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> LocalIndexEngine:
        index = LocalIndex(settings.index_path, extra_roots=settings.local_paths,
                           passage_words=settings.passage_words)
        return cls(index, page_words=settings.page_words)

    def close(self) -> None:
        self.index.close()

    def search(self, query: str, max_results: int = 10) -> list[SearchHit]:
        if self.index.is_empty():
            raise SearchError("the local index is empty; add folders with `iisearch index add PATH`")
        hits = []
        for hit in self.index.search(query, max_results):
            title = f"{hit.title} - {hit.heading}" if hit.heading and hit.heading != hit.title else hit.title
            hits.append(SearchHit(url=hit.url, title=title, snippet=hit.snippet, source=self.name))
        return hits

    def handles(self, url: str) -> bool:
        return url.startswith("file:")

    def visit(self, url: str) -> Page:
        path, ordinal = parse_file_url(url)
        title, passages = self.index.read(path)
        start = 0
        total_words = sum(len(text.split()) for _h, text in passages)
        if ordinal and total_words > self.page_words and 1 <= ordinal <= len(passages):
            start = max(0, ordinal - 1 - CONTEXT_PASSAGES_BEFORE)
        body = "\n\n".join(text for _h, text in passages[start:])
        if start:
            note = (f"[Passages {start + 1}-{len(passages)} of {len(passages)}; "
                    f"the search pointed at passage {ordinal}.]")
            body = note + "\n\n" + body
        return Page(url=url, title=title, text=body, content_type="text/plain",
                    fetched_at=time.time(), source=self.name)
