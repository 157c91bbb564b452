"""The fallback chain: a failing, throttled, crashing or empty engine hands over to the next."""

from __future__ import annotations

import sys
import types

import pytest

from iisearch_local.search.base import RateLimitedError, SearchError, SearchHit
from iisearch_local.search.chain import AllEnginesFailedError, FallbackChain
from iisearch_local.search.engines.duckduckgo import DuckDuckGoEngine


class Engine:
    def __init__(self, name: str, result=None, error: BaseException | None = None) -> None:
        self.name, self.result, self.error, self.calls = name, result or [], error, 0

    def search(self, query: str, max_results: int = 10) -> list[SearchHit]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.result[:max_results]


HIT = SearchHit(url="https://r.org", title="R", snippet="s")


def test_rate_limited_engine_falls_through_and_the_note_says_so() -> None:
    first = Engine("duckduckgo", error=RateLimitedError("duckduckgo is rate-limiting searches (HTTP 202)"))
    second = Engine("brave", [HIT])
    result = FallbackChain([first, second]).run("q")
    assert result.engine == "brave" and result.hits[0].source == "brave"
    assert "duckduckgo is rate-limiting" in result.note and "Fell back to brave" in result.note


def test_plugin_crash_is_a_failure_not_an_exception() -> None:
    """A third-party engine raising an arbitrary bug must not break the search."""
    result = FallbackChain([Engine("buggy", error=ZeroDivisionError("boom")), Engine("ok", [HIT])]).run("q")
    assert result.engine == "ok" and "ZeroDivisionError: boom" in result.note


def test_empty_answer_tries_the_next_engine_but_is_not_an_error() -> None:
    empty, full = Engine("local"), Engine("web", [HIT])
    assert FallbackChain([empty, full]).run("q").engine == "web"
    result = FallbackChain([Engine("a"), Engine("b")]).run("q")
    assert result.hits == [] and result.engine == "a"


def test_all_failing_lists_every_reason() -> None:
    chain = FallbackChain([Engine("a", error=SearchError("a timed out")),
                           Engine("b", error=SearchError("b refused the key"))])
    with pytest.raises(AllEnginesFailedError, match="a: a timed out; b: b refused the key"):
        chain.run("q")
    with pytest.raises(AllEnginesFailedError, match="no search engine is configured"):
        FallbackChain([]).run("q")


def test_first_engine_answering_stops_the_chain() -> None:
    first, second = Engine("a", [HIT]), Engine("b", [HIT])
    result = FallbackChain([first, second]).run("q", 1)
    assert result.note is None and second.calls == 0


def _fake_ddgs(monkeypatch: pytest.MonkeyPatch, text_impl) -> None:
    """Stand-in ``ddgs`` module: the real one would go to the internet."""
    exceptions = types.ModuleType("ddgs.exceptions")

    class DDGSException(Exception): ...
    class RatelimitException(DDGSException): ...
    class TimeoutException(DDGSException): ...

    exceptions.DDGSException, exceptions.RatelimitException = DDGSException, RatelimitException
    exceptions.TimeoutException = TimeoutException
    module = types.ModuleType("ddgs")
    module.exceptions = exceptions

    class DDGS:
        def __init__(self, timeout=5):
            pass

        def text(self, query, **kwargs):
            return text_impl(exceptions, query, **kwargs)

    module.DDGS = DDGS
    monkeypatch.setitem(sys.modules, "ddgs", module)
    monkeypatch.setitem(sys.modules, "ddgs.exceptions", exceptions)


def test_ddgs_rate_limit_falls_through_to_the_next_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled(exc, query, **kwargs):
        raise exc.RatelimitException("https://duckduckgo.com 202 Ratelimit")
    _fake_ddgs(monkeypatch, throttled)
    result = FallbackChain([DuckDuckGoEngine(), Engine("searxng", [HIT])]).run("q")
    assert result.engine == "searxng" and "duckduckgo is rate-limiting" in result.note


def test_ddgs_results_and_no_results(monkeypatch: pytest.MonkeyPatch) -> None:
    def answer(exc, query, **kwargs):
        if query == "nothing":
            raise exc.DDGSException("No results found.")
        assert kwargs["max_results"] == 2 and kwargs["region"] == "us-en"
        return [{"title": "T", "href": "https://x.org", "body": "B"}, {"title": "no url"}]
    _fake_ddgs(monkeypatch, answer)
    engine = DuckDuckGoEngine()
    assert engine.search("q", 2) == [SearchHit(url="https://x.org", title="T", snippet="B", source="duckduckgo")]
    assert engine.search("nothing") == []
