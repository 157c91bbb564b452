"""Try the configured engines in order until one answers.

A rate limit (DuckDuckGo's 202/429), a timeout, a bad key, a crash inside a plugin, or an empty
answer moves on to the next engine. The result names the engine that answered and why the ones
before it did not, so the model (and the user) can see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .base import SearchBackend, SearchError, SearchHit


@dataclass(frozen=True)
class EngineFailure:
    """Why one engine of the chain gave nothing."""

    engine: str
    reason: str


@dataclass(frozen=True)
class ChainResult:
    """The hits, the engine that produced them, and the engines that failed before it."""

    hits: list[SearchHit]
    engine: str
    failures: list[EngineFailure] = field(default_factory=list)

    @property
    def note(self) -> str | None:
        """A one-line account of the fallbacks, or None when the first engine answered."""
        if not self.failures:
            return None
        parts = "; ".join(f"{f.engine}: {f.reason}" for f in self.failures)
        return f"(Fell back to {self.engine}: {parts}.)" if self.hits else f"({parts}.)"


class AllEnginesFailedError(SearchError):
    """Every engine of the chain failed; the message lists each reason."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SearchError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"[:200]  # a plugin bug is reported, never raised


class FallbackChain:
    """A ``SearchBackend`` made of several, tried in order."""

    name = "chain"

    def __init__(self, backends: Sequence[SearchBackend]) -> None:
        self.backends = list(backends)

    @property
    def engine_names(self) -> list[str]:
        return [backend.name for backend in self.backends]

    def run(self, query: str, max_results: int = 10) -> ChainResult:
        """Search with the first engine that gives hits; raise only if all of them failed."""
        failures: list[EngineFailure] = []
        empty: list[str] = []
        for backend in self.backends:
            try:
                hits = backend.search(query, max_results)
            except Exception as exc:  # noqa: BLE001 - any engine failure means: try the next
                failures.append(EngineFailure(backend.name, _reason(exc)))
                continue
            if hits:
                tagged = [h if h.source else _with_source(h, backend.name) for h in hits]
                return ChainResult(tagged[:max_results], backend.name, failures)
            empty.append(backend.name)
        if empty:  # somebody answered, with nothing: that is a result, not a failure
            return ChainResult([], empty[0], failures)
        if not failures:
            raise AllEnginesFailedError("no search engine is configured",
                                        hint="Set search.engines, e.g. [\"duckduckgo\"].")
        reasons = "; ".join(f"{f.engine}: {f.reason}" for f in failures)
        raise AllEnginesFailedError(f"every search engine failed ({reasons})")

    def search(self, query: str, max_results: int = 10) -> list[SearchHit]:
        return self.run(query, max_results).hits


def _with_source(hit: SearchHit, engine: str) -> SearchHit:
    return SearchHit(url=hit.url, title=hit.title, snippet=hit.snippet, date=hit.date, source=engine)
