"""The tools facade: every spelling the models use, observations instead of exceptions, records."""

from __future__ import annotations

from pathlib import Path

import pytest

from iisearch_local.search.base import SearchError, SearchHit
from iisearch_local.search.cache import PageCache
from iisearch_local.search.fetch import FetchLimits, HttpFetcher
from iisearch_local.search.settings import SearchSettings
from iisearch_local.search.ssrf import AddressPolicy
from iisearch_local.search.tools import SearchTools, ToolCall, normalize_url
from searchtest_server import LocalServer, Reply


class StaticEngine:
    """A search engine answering from a fixed list (the pages themselves are real, on the server)."""

    def __init__(self, name: str, hits: list[SearchHit] | None = None, error: Exception | None = None):
        self.name, self.hits, self.error, self.queries = name, hits or [], error, []

    def search(self, query: str, max_results: int = 10) -> list[SearchHit]:
        self.queries.append((query, max_results))
        if self.error:
            raise self.error
        return self.hits[:max_results]


def _pages(server: LocalServer, count: int = 6) -> list[SearchHit]:
    hits = []
    for i in range(count):
        server.routes[f"/p{i}"] = Reply.html(f"<title>Page {i}</title><p>Text of page {i} with "
                                             f"<a href='https://x.org'>a link</a>.</p>")
        hits.append(SearchHit(url=server.url(f"/p{i}"), title=f"Page {i}", snippet=f"about {i}"))
    return hits


def _tools(server: LocalServer, tmp_path: Path, engines, *, read_timeout: float = 2.0,
           **kw) -> SearchTools:
    fetcher = HttpFetcher(limits=FetchLimits(connect_timeout=2, read_timeout=read_timeout),
                          policy=AddressPolicy.build(allowed_hosts=["127.0.0.1"]))
    cache = PageCache(tmp_path / "cache.sqlite", ttl_seconds=3600, max_bytes=50_000_000)
    kw.setdefault("prefetch_count", 0)
    return SearchTools(engines=engines, fetcher=fetcher, cache=cache, **kw)


@pytest.mark.parametrize("call", [
    lambda t: t.web_search("q", 2),
    lambda t: t.web_search("q", num_result=2),
    lambda t: t.web_search(query="q", max_result=2),
    lambda t: t.web_search(query="q", max_results="2"),
    lambda t: t.web_search(q="q", k=2.0),
])
def test_every_search_spelling(server: LocalServer, tmp_path: Path, call) -> None:
    engine = StaticEngine("static", _pages(server))
    tools = _tools(server, tmp_path, [engine])
    text = call(tools)
    assert engine.queries == [("q", 2)]
    assert text.startswith("Search engine: static\n\nIndex: 1\nURL: ")
    assert "Index: 2" in text and "Index: 3" not in text


def test_counts_are_clamped_and_defaulted(server: LocalServer, tmp_path: Path) -> None:
    engine = StaticEngine("static", _pages(server))
    tools = _tools(server, tmp_path, [engine], default_results=3, max_results=4)
    tools.web_search("a")
    tools.web_search("b", 99)
    tools.web_search("c", -5)
    tools.web_search("d", "many")
    assert [n for _q, n in engine.queries] == [3, 4, 1, 3]


def test_list_of_queries_and_bad_arguments(server: LocalServer, tmp_path: Path) -> None:
    engine = StaticEngine("static", _pages(server))
    tools = _tools(server, tmp_path, [engine])
    text = tools.web_search(["first", "second"], 1)
    assert [q for q, _n in engine.queries] == ["first", "second"] and text.count("Index: 1") == 2
    assert tools.web_search() == ('web_search error: web_search needs a query, '
                                  'e.g. web_search("your question", num_result=5).')
    assert "too long" in tools.web_search("x" * 600)
    assert "at most 5" in tools.web_search(["q"] * 6)
    assert "needs a URL" in tools.web_visit()
    assert all(isinstance(c, ToolCall) for c in tools.calls) and tools.calls[-1].error


def test_visit_spellings_and_page_format(server: LocalServer, tmp_path: Path) -> None:
    hits = _pages(server)
    tools = _tools(server, tmp_path, [StaticEngine("static", hits)])
    tools.web_search("q", 6)
    functions = tools.functions()
    for text in (functions["web_visit"](hits[0].url), functions["visit_webpage"](url=hits[1].url),
                 tools.web_visit(link=hits[2].url), tools.visit_webpage(hits[3].url)):
        assert text.startswith("Title: Page ")
        assert "Text of page" in text and "https://x.org" not in text and "a link" in text


def test_visit_only_searched_urls(server: LocalServer, tmp_path: Path) -> None:
    hits = _pages(server)
    tools = _tools(server, tmp_path, [StaticEngine("static", hits[:2])])
    refused = tools.web_visit(hits[0].url)
    assert "did not come from a search" in refused and server.hits("/p0") == 0
    tools.web_search("q")
    assert "Text of page 0" in tools.web_visit(hits[0].url + "#section")  # fragment does not matter
    # http and https count as the same page for the rule (the fetch itself fails: no TLS here)
    assert "did not come from a search" not in tools.web_visit(hits[1].url.replace("http://", "https://", 1))
    assert "did not come from a search" in tools.web_visit(hits[4].url)
    free = _tools(server, tmp_path / "2", [StaticEngine("static")], visit_only_searched=False)
    assert "Text of page 4" in free.web_visit(hits[4].url)


def test_normalize_url() -> None:
    assert normalize_url("HTTP://Example.ORG:80/a/#frag") == normalize_url("https://example.org/a")
    assert normalize_url("https://e.org/a?x=1") != normalize_url("https://e.org/a?x=2")
    assert normalize_url("http://[::1") == "http://[::1"  # malformed: compared as typed


def test_failures_become_observations(server: LocalServer, tmp_path: Path) -> None:
    """Timeouts, HTTP errors, refused addresses, bad URLs and engine crashes never raise."""
    server.routes["/slow"] = Reply.html("<p>late</p>", delay=3)
    server.routes["/gone"] = Reply(status=410, body=b"gone")
    tools = _tools(server, tmp_path, [StaticEngine("static")], visit_only_searched=False,
                   read_timeout=0.3)
    assert tools.web_visit(server.url("/slow")).startswith(f"Visit failed for {server.url('/slow')}: timed out")
    assert "HTTP 410" in tools.web_visit(server.url("/gone"))
    assert "loopback" in tools.web_visit("http://127.0.0.2/")
    assert "only http and https" in tools.web_visit("gopher://x")
    assert "invalid URL" in tools.web_visit("http://a:bad/")
    assert "file URLs are only served by the local engine" in tools.web_visit("file:///etc/passwd")
    crashing = _tools(server, tmp_path / "2", [StaticEngine("bad", error=KeyError("oops"))])
    text = crashing.web_search("q")
    assert text.startswith("Search failed for 'q': every search engine failed (bad: KeyError")
    empty = _tools(server, tmp_path / "3", [StaticEngine("none")])
    assert "No results found for 'q'" in empty.web_search("q")


def test_internal_bugs_in_a_source_still_give_text(server: LocalServer, tmp_path: Path) -> None:
    class BrokenSource(StaticEngine):
        def handles(self, url): return url.startswith("zim:")
        def visit(self, url): raise RuntimeError("decoder exploded")
    tools = _tools(server, tmp_path, [BrokenSource("zim")], visit_only_searched=False)
    assert "internal error (RuntimeError: decoder exploded)" in tools.web_visit("zim://a/b")


def test_calls_are_recorded_and_reported(server: LocalServer, tmp_path: Path) -> None:
    seen: list[ToolCall] = []
    hits = _pages(server)
    tools = _tools(server, tmp_path, [StaticEngine("static", hits)], on_call=seen.append)
    tools.web_search("q", 2)
    tools.web_visit(hits[0].url)
    tools.web_visit("https://never-searched.example/")
    assert [c.kind for c in tools.calls] == ["search", "visit", "visit"] and seen == tools.calls
    search, visit, refused = tools.calls
    assert search.engine == "static" and len(search.hits) == 2 and search.args == {"query": "q", "max_results": 2}
    assert visit.page is not None and visit.page.title == "Page 0" and visit.engine == "http" and visit.seconds > 0
    assert refused.error and refused.page is None and refused.observation.startswith("Visit failed")


def test_failing_listener_does_not_break_the_tools(server: LocalServer, tmp_path: Path) -> None:
    def listener(call):
        raise ValueError("ui bug")
    tools = _tools(server, tmp_path, [StaticEngine("static", _pages(server))], on_call=listener)
    assert "Index: 1" in tools.web_search("q")


def test_repeated_visits_and_searches_come_from_the_cache(server: LocalServer, tmp_path: Path) -> None:
    hits = _pages(server)
    engine = StaticEngine("static", hits)
    tools = _tools(server, tmp_path, [engine])
    first = tools.web_search("same query")
    assert tools.web_search("Same   QUERY") == first and len(engine.queries) == 1
    tools.web_visit(hits[0].url)
    tools.web_visit(hits[0].url)
    assert server.hits("/p0") == 1 and tools.calls[-1].page.from_cache


def test_stale_copy_is_served_when_the_site_fails(server: LocalServer, tmp_path: Path) -> None:
    hits = _pages(server)
    tools = _tools(server, tmp_path, [StaticEngine("static", hits)])
    tools.cache.ttl_seconds = 1e-9  # every entry is immediately stale
    tools.web_search("q")
    tools.web_visit(hits[0].url)
    server.routes["/p0"] = Reply(status=503, body=b"down")
    assert "Text of page 0" in tools.web_visit(hits[0].url)


def test_prefetch_serves_the_next_visit(server: LocalServer, tmp_path: Path) -> None:
    hits = _pages(server)
    for i in range(3):
        server.routes[f"/p{i}"].delay = 0.3
    tools = _tools(server, tmp_path, [StaticEngine("static", hits)], prefetch_count=3, prefetch_concurrency=3)
    tools.web_search("q")
    text = tools.web_visit(hits[2].url)
    assert "Text of page 2" in text
    tools.close()
    assert [server.hits(f"/p{i}") for i in range(5)] == [1, 1, 1, 0, 0]


def test_from_config_builds_the_configured_chain(server: LocalServer, settings: SearchSettings) -> None:
    server.routes["/search"] = Reply.json({"results": [{"url": server.url("/doc"), "title": "Doc", "content": "c"}]})
    server.routes["/doc"] = Reply.html("<title>Doc</title><p>searxng found me</p>")
    configured = settings.with_(engines=("brave", "searxng"), searxng_url=server.url(""))
    with SearchTools.from_config(configured) as tools:
        assert dict(tools.skipped_engines) == {"brave": "brave needs an API key"}
        assert tools.visit_only_searched
        assert "Search engine: searxng" in tools.web_search("doc")
        assert "searxng found me" in tools.web_visit(server.url("/doc"))
    with SearchTools.from_config(configured, visit_only_searched=False, engines=["searxng"]) as tools:
        assert not tools.visit_only_searched and tools.chain.engine_names == ["searxng"]


def test_typed_layer_raises_search_error(server: LocalServer, tmp_path: Path) -> None:
    tools = _tools(server, tmp_path, [StaticEngine("static")])
    with pytest.raises(SearchError, match="query is empty"):
        tools.search("   ")
    with pytest.raises(SearchError, match="URL is empty"):
        tools.visit("")


def test_failed_prefetch_is_reported_once_and_a_stale_copy_still_serves(server: LocalServer,
                                                                        tmp_path: Path) -> None:
    """The prefetch of a page fails (HTTP 500): the visit reports that error without a second
    request; once a copy is cached, a failing prefetch falls back to it."""
    hits = _pages(server, 2)
    server.routes["/p0"] = Reply(status=500, body=b"boom")
    tools = _tools(server, tmp_path, [StaticEngine("static", hits)], prefetch_count=2)
    tools.web_search("q")
    assert "HTTP 500" in tools.web_visit(hits[0].url)
    assert server.hits("/p0") == 1
    second = _tools(server, tmp_path / "b", [StaticEngine("static", hits)], prefetch_count=0)
    second.cache.ttl_seconds = 1e-9
    second.web_search("q")
    server.routes["/p1"] = Reply.html("<title>Page 1</title><p>old copy</p>")
    second.web_visit(hits[1].url)
    server.routes["/p1"] = Reply(status=500, body=b"boom")
    third = SearchTools(engines=[StaticEngine("static", hits)], fetcher=second.fetcher,
                        cache=second.cache, prefetch_count=2)
    third.web_search("q")
    assert "old copy" in third.web_visit(hits[1].url)


def test_a_source_without_fetcher_says_so(server: LocalServer) -> None:
    tools = SearchTools(engines=[StaticEngine("static")], fetcher=None, visit_only_searched=False)
    assert "cannot fetch web pages" in tools.web_visit("https://example.org/")
    offline = SearchTools(engines=[StaticEngine("static")], fetcher=None, offline=True,
                          visit_only_searched=False)
    assert "offline mode" in offline.web_visit("https://example.org/")


def test_remembered_urls_of_a_continued_session_can_be_visited(server: LocalServer,
                                                                tmp_path: Path) -> None:
    """A session continued after a restart: URLs its earlier turns' searches returned stay open."""
    hits = _pages(server)
    tools = _tools(server, tmp_path, [StaticEngine("static", hits[:1])])
    assert "did not come from a search" in tools.web_visit(hits[3].url)
    tools.remember_searched([hits[3].url])
    assert "Text of page 3" in tools.web_visit(hits[3].url)
    assert "did not come from a search" in tools.web_visit(hits[4].url)
