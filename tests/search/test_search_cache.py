"""The SQLite page/search cache: TTL, stale reads offline, LRU size cap, persistence, threads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from iisearch_local.search import cache as cache_module
from iisearch_local.search.base import Page, SearchHit
from iisearch_local.search.cache import PageCache, search_key


def _page(url: str, text: str = "body") -> Page:
    return Page(url=url, title="T", text=text, content_type="text/html", fetched_at=time.time(),
                date="2024-01-01", truncated=True)


def test_page_round_trip_under_asked_and_final_url(tmp_path: Path) -> None:
    cache = PageCache(tmp_path / "c.sqlite", ttl_seconds=60, max_bytes=10_000_000)
    cache.put_page("http://a/redirecting", _page("http://a/final"))
    for url in ("http://a/redirecting", "http://a/final"):
        page = cache.get_page(url)
        assert page is not None and page.from_cache and page.url == "http://a/final"
        assert page.date == "2024-01-01" and page.truncated and page.source == "cache"
    assert cache.get_page("http://a/other") is None


def test_expired_entries_are_only_served_when_stale_is_allowed(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PageCache(tmp_path / "c.sqlite", ttl_seconds=10, max_bytes=10_000_000)
    cache.put_page("http://a/", _page("http://a/"))
    cache.put_search("k", "Query", "duckduckgo", [SearchHit(url="http://a/", title="t", snippet="s")])
    later = time.time() + 3600
    monkeypatch.setattr(cache_module.time, "time", lambda: later)
    assert cache.get_page("http://a/") is None and cache.get_search("k") is None
    assert cache.get_page("http://a/", allow_stale=True) is not None
    hits, engine = cache.get_search("k", allow_stale=True)
    assert engine == "duckduckgo" and hits[0].url == "http://a/"


def test_search_results_are_found_by_query_for_offline_use(tmp_path: Path) -> None:
    cache = PageCache(tmp_path / "c.sqlite", ttl_seconds=60, max_bytes=10_000_000)
    hits = [SearchHit(url=f"http://a/{i}", title="t", snippet="s", source="brave") for i in range(5)]
    cache.put_search(search_key("Ray  Charles", 5, "brave"), "Ray  Charles", "brave", hits)
    found, engine = cache.find_search("ray charles", 3)
    assert engine == "brave" and [h.url for h in found] == ["http://a/0", "http://a/1", "http://a/2"]
    assert cache.find_search("other", 3) is None


def test_size_cap_evicts_least_recently_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(1_000_000, 2_000_000))
    monkeypatch.setattr(cache_module.time, "time", lambda: float(next(clock)))
    cache = PageCache(tmp_path / "c.sqlite", ttl_seconds=0, max_bytes=5000)
    for i in range(4):
        cache.put_page(f"http://p/{i}", _page(f"http://p/{i}", "x" * 1000))
    assert cache.get_page("http://p/0") is not None  # touch 0: now 1 is the oldest
    cache.put_page("http://p/4", _page("http://p/4", "x" * 1000))
    cache.put_page("http://p/5", _page("http://p/5", "x" * 1000))
    assert cache.total_bytes <= 5000
    assert cache.get_page("http://p/1") is None
    assert cache.get_page("http://p/0") is not None and cache.get_page("http://p/5") is not None


def test_cache_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    first = PageCache(path, ttl_seconds=60, max_bytes=10_000_000)
    first.put_page("http://a/", _page("http://a/", "persisted"))
    first.close()
    second = PageCache(path, ttl_seconds=60, max_bytes=10_000_000)
    assert second.get_page("http://a/").text == "persisted"
    assert second.total_bytes > 0 and second.counts() == (1, 0)


def test_concurrent_writers(tmp_path: Path) -> None:
    cache = PageCache(tmp_path / "c.sqlite", ttl_seconds=60, max_bytes=10_000_000)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(30):
                cache.put_page(f"http://t{n}/{i}", _page(f"http://t{n}/{i}"))
                cache.get_page(f"http://t{n}/{i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and cache.counts() == (120, 0)
