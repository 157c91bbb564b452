"""A tiny in-memory search source: a handful of documents, keyword match, no network.

It serves the research loop through the same interface as the real search layer
(``web_search(query, num_result)``, ``web_visit(url)``, ``visit_webpage(url)`` returning the
formatted text of PROTOCOL.md §7), so tests can run end to end without the network. It is also
a ``SearchBackend`` + ``LocalSource`` (``search``, ``handles``, ``visit``), so the real
``SearchTools`` facade can serve it (``iisearch ask --search sample``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..search.base import Page, SearchError, SearchHit
from ..search.format import format_hits, format_page
from .citations import normalize_url

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
TITLE_WEIGHT = 3  # a query word in the title counts for this many in the text


@dataclass(frozen=True, kw_only=True)
class Document:
    url: str
    title: str
    text: str
    date: str | None = None


# A few short pages of our own, enough for a research session to search, visit and cite.
SAMPLE_DOCUMENTS: tuple[Document, ...] = (
    Document(url="https://local.example/eiffel-tower", title="Eiffel Tower",
             text="The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. "
                  "It was built by the company of the engineer Gustave Eiffel for the 1889 "
                  "World's Fair. The design came from Maurice Koechlin and Emile Nouguier, two "
                  "engineers of the company. The tower is about 330 metres tall."),
    Document(url="https://local.example/gustave-eiffel", title="Gustave Eiffel",
             text="Gustave Eiffel (1832-1923) was a French civil engineer. His company built "
                  "the Eiffel Tower and the internal frame of the Statue of Liberty. He was born "
                  "in Dijon."),
    Document(url="https://local.example/statue-of-liberty", title="Statue of Liberty",
             text="The Statue of Liberty stands on Liberty Island in New York Harbor. It was "
                  "designed by the sculptor Frederic Auguste Bartholdi and dedicated in 1886. "
                  "Its metal framework was built by Gustave Eiffel's company."),
    Document(url="https://local.example/marie-curie", title="Marie Curie",
             text="Marie Curie (1867-1934) was a physicist and chemist born in Warsaw. She was "
                  "the first person to win Nobel Prizes in two sciences: physics in 1903 and "
                  "chemistry in 1911. She discovered the elements polonium and radium."),
    Document(url="https://local.example/python-language", title="Python (programming language)",
             text="Python is a programming language created by Guido van Rossum. Its first "
                  "release, version 0.9.0, came out in February 1991. Python 3.0 was released "
                  "in December 2008."),
    Document(url="https://local.example/mount-everest", title="Mount Everest",
             text="Mount Everest is the highest mountain above sea level, at 8,849 metres. It "
                  "lies in the Himalayas on the border between Nepal and China. Tenzing Norgay "
                  "and Edmund Hillary first reached the summit on 29 May 1953."),
)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


class InMemorySource:
    """Keyword search and visits over a fixed list of documents."""

    name = "sample"

    def __init__(self, documents: Iterable[Document] = SAMPLE_DOCUMENTS) -> None:
        self.documents = tuple(documents)
        self._by_url = {normalize_url(d.url): d for d in self.documents}
        self.searches: list[str] = []
        self.visits: list[str] = []

    def search(self, query: str, max_results: int = 10) -> list[SearchHit]:
        """Documents sharing words with ``query``, best first (title words count more)."""
        wanted = set(_words(query))
        scored = []
        for order, doc in enumerate(self.documents):
            title, text = _words(doc.title), _words(doc.text)
            score = TITLE_WEIGHT * sum(w in wanted for w in title) + sum(w in wanted for w in text)
            if score:
                scored.append((-score, order, doc))
        scored.sort(key=lambda item: item[:2])
        return [SearchHit(url=doc.url, title=doc.title, snippet=self._snippet(doc, wanted),
                          date=doc.date, source=self.name)
                for _, _, doc in scored[:max_results]]

    def web_search(self, query: str, num_result: int = 5) -> str:
        """Search the documents; the result is formatted like every search the model sees."""
        self.searches.append(query)
        return format_hits(self.search(query, num_result), query=query)

    def web_visit(self, url: str) -> str:
        """The document at ``url`` as page text; an unknown URL is a ``SearchError``."""
        self.visits.append(url)
        return format_page(self.visit(url))

    def handles(self, url: str) -> bool:
        return normalize_url(url) in self._by_url

    def visit(self, url: str) -> Page:
        doc = self._by_url.get(normalize_url(url))
        if doc is None:
            raise SearchError(f"no page at {url} in the local source")
        return Page(url=doc.url, title=doc.title, text=doc.text, date=doc.date, source=self.name)

    def functions(self) -> dict[str, Callable[..., str]]:
        """The model-facing functions, under every name the models use."""
        return {"web_search": self.web_search, "web_visit": self.web_visit,
                "visit_webpage": self.web_visit}

    @staticmethod
    def _snippet(doc: Document, wanted: set[str]) -> str:
        sentences = _SENTENCE.split(doc.text)
        return max(sentences, key=lambda s: sum(w in wanted for w in _words(s)))
