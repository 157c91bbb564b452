"""SearXNG, Serper, Brave and Tavily against a local server that mimics each API."""

from __future__ import annotations

import pytest

from iisearch_local.search.base import EngineUnavailableError, RateLimitedError, SearchError, SearchHit
from iisearch_local.search.engines.brave import BraveEngine
from iisearch_local.search.engines.searxng import SearxngEngine
from iisearch_local.search.engines.serper import SerperEngine
from iisearch_local.search.engines.tavily import TavilyEngine
from iisearch_local.search.settings import SearchSettings
from searchtest_server import LocalServer, Reply, Request


def test_searxng_request_and_parsing(server: LocalServer, settings: SearchSettings) -> None:
    server.routes["/search"] = Reply.json({"results": [
        {"url": "https://a.org", "title": "A", "content": "about a", "publishedDate": "2024-02-03"},
        {"title": "no url"},
        {"url": "https://b.org", "title": "B", "content": "about b"}]})
    engine = SearxngEngine.from_settings(settings.with_(searxng_url=server.url("/")))
    hits = engine.search("solar power", 5)
    request = server.requests[-1]
    assert request.method == "GET" and request.query == {"q": ["solar power"], "format": ["json"]}
    assert hits == [SearchHit(url="https://a.org", title="A", snippet="about a", date="2024-02-03", source="searxng"),
                    SearchHit(url="https://b.org", title="B", snippet="about b", source="searxng")]
    assert len(engine.search("solar power", 1)) == 1


def test_searxng_without_json_format_explains_the_fix(server: LocalServer, settings: SearchSettings) -> None:
    server.routes["/search"] = Reply(status=403, body=b"Forbidden")
    engine = SearxngEngine.from_settings(settings.with_(searxng_url=server.url("")))
    with pytest.raises(SearchError, match="enable the json format"):
        engine.search("q")


def test_serper_request_and_parsing(server: LocalServer, settings: SearchSettings) -> None:
    server.routes["/search"] = Reply.json({"organic": [
        {"title": "S", "link": "https://s.org", "snippet": "snip", "date": "Jan 1, 2024"}]})
    engine = SerperEngine.from_settings(settings.with_(serper_api_key="k1", serper_base_url=server.url("")))
    hits = engine.search("who", 3)
    request = server.requests[-1]
    assert request.method == "POST" and request.headers["x-api-key"] == "k1"
    assert request.json() == {"q": "who", "num": 3}
    assert hits == [SearchHit(url="https://s.org", title="S", snippet="snip", date="Jan 1, 2024", source="serper")]


def test_brave_request_and_parsing(server: LocalServer, settings: SearchSettings) -> None:
    server.routes["/res/v1/web/search"] = Reply.json({"web": {"results": [
        {"title": "Br", "url": "https://br.org", "description": "desc", "page_age": "2023-01-01"}]}})
    engine = BraveEngine.from_settings(settings.with_(brave_api_key="bk", brave_base_url=server.url("/res/v1")))
    hits = engine.search("what", 50)
    request = server.requests[-1]
    assert request.headers["x-subscription-token"] == "bk"
    assert request.query == {"q": ["what"], "count": ["20"]}  # capped at the API's maximum
    assert hits[0] == SearchHit(url="https://br.org", title="Br", snippet="desc", date="2023-01-01", source="brave")


def test_brave_without_web_results_is_empty(server: LocalServer, settings: SearchSettings) -> None:
    server.routes["/web/search"] = Reply.json({"query": {"original": "x"}})
    engine = BraveEngine.from_settings(settings.with_(brave_api_key="bk", brave_base_url=server.url("")))
    assert engine.search("x") == []


def test_tavily_request_and_parsing(server: LocalServer, settings: SearchSettings) -> None:
    def answer(request: Request) -> Reply:
        body = request.json()
        return Reply.json({"results": [{"title": f"T{i}", "url": f"https://t.org/{i}", "content": "c"}
                                       for i in range(body["max_results"])]})
    server.routes["/search"] = answer
    engine = TavilyEngine.from_settings(settings.with_(tavily_api_key="tv", tavily_base_url=server.url("")))
    hits = engine.search("q", 2)
    request = server.requests[-1]
    assert request.headers["authorization"] == "Bearer tv"
    assert request.json() == {"query": "q", "max_results": 2, "search_depth": "basic"}
    assert [h.url for h in hits] == ["https://t.org/0", "https://t.org/1"]


@pytest.mark.parametrize("status, error, message", [
    (429, RateLimitedError, "rate-limiting searches \\(HTTP 429\\)"),
    (202, RateLimitedError, "HTTP 202"),
    (401, SearchError, "check its API key"),
    (500, SearchError, "answered HTTP 500"),
])
def test_api_statuses_become_short_errors(server: LocalServer, settings: SearchSettings,
                                          status: int, error: type, message: str) -> None:
    server.routes["/search"] = Reply(status=status, body=b"{}", content_type="application/json")
    engine = SerperEngine.from_settings(settings.with_(serper_api_key="k", serper_base_url=server.url("")))
    with pytest.raises(error, match=message):
        engine.search("q")


def test_non_json_and_slow_answers(server: LocalServer, settings: SearchSettings) -> None:
    server.routes["/search"] = Reply.html("<html>maintenance</html>")
    engine = TavilyEngine.from_settings(settings.with_(tavily_api_key="k", tavily_base_url=server.url("")))
    with pytest.raises(SearchError, match="not JSON"):
        engine.search("q")
    server.routes["/search"] = Reply.json({"results": []}, delay=1.0)
    slow = TavilyEngine.from_settings(settings.with_(tavily_api_key="k", tavily_base_url=server.url(""),
                                                     timeout=0.2))
    with pytest.raises(SearchError, match="did not answer in time"):
        slow.search("q")


def test_unreachable_api(settings: SearchSettings) -> None:
    engine = SerperEngine.from_settings(settings.with_(serper_api_key="k", serper_base_url="http://127.0.0.1:9"))
    with pytest.raises(SearchError, match="could not be reached"):
        engine.search("q")


def test_missing_keys_and_urls_say_what_to_set(settings: SearchSettings) -> None:
    for engine, setting in ((SerperEngine, "SERPER_API_KEY"), (BraveEngine, "BRAVE_API_KEY"),
                            (TavilyEngine, "TAVILY_API_KEY"), (SearxngEngine, "search.searxng.url")):
        with pytest.raises(EngineUnavailableError) as info:
            engine.from_settings(settings)
        assert setting in str(info.value)


def test_keys_come_from_the_environment(settings: SearchSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERPER_API_KEY", "from-env")
    monkeypatch.setenv("BRAVE_SEARCH_API_KEY", "brave-env")
    assert SerperEngine.from_settings(settings).api_key == "from-env"
    assert BraveEngine.from_settings(settings).api_key == "brave-env"
    assert SerperEngine.from_settings(settings.with_(serper_api_key="cfg")).api_key == "cfg"
