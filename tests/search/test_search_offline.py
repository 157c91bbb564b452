"""Offline mode: a whole research session opens no socket at all.

First an online session (against the local test server) searches and visits, filling the cache.
Then an offline session searches the local index and a ZIM archive, re-reads the cached page and
tries pages it does not have, while every ``socket.connect`` and DNS lookup is recorded.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from iisearch_local.search.local_index import LocalIndex
from iisearch_local.search.settings import SearchSettings
from iisearch_local.search.tools import SearchTools
from searchtest_server import LocalServer, Reply


@pytest.fixture
def recorded_network(monkeypatch: pytest.MonkeyPatch):
    """Record (not block) every socket connect and name lookup from here on."""
    connects: list[object] = []
    lookups: list[object] = []
    real_connect, real_connect_ex, real_getaddrinfo = (socket.socket.connect, socket.socket.connect_ex,
                                                       socket.getaddrinfo)

    def connect(self, address):
        connects.append(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        connects.append(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        lookups.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def start():
        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return connects, lookups
    return start


def test_offline_session_opens_no_socket(server: LocalServer, settings: SearchSettings, tmp_path: Path,
                                         zim_path: Path, recorded_network) -> None:
    server.routes["/search"] = Reply.json({"results": [
        {"url": server.url("/article"), "title": "Web article", "content": "zqxv marker"}]})
    server.routes["/article"] = Reply.html("<title>Web article</title><p>The web said zqxv once.</p>")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "squid.md").write_text("# Squids\n\nThe giant squid lives in deep water.")
    index = LocalIndex(settings.index_path)
    index.add_root(docs)
    index.update()
    index.close()
    configured = settings.with_(engines=("searxng", "local", "zim"), searxng_url=server.url(""),
                                zim_archives=(str(zim_path),), prefetch_count=2)

    with SearchTools.from_config(configured) as online:
        assert "Search engine: searxng" in online.web_search("zqxv marker")
        assert "The web said zqxv" in online.web_visit(server.url("/article"))

    connects, lookups = recorded_network()
    with SearchTools.from_config(configured.with_(offline=True)) as offline:
        assert offline.fetcher is None
        assert dict(offline.skipped_engines)["searxng"] == "needs the network (offline mode)"
        local = offline.web_search("giant squid")
        assert "Search engine: local" in local and "squid.md#p1" in local
        assert "deep water" in offline.web_visit(offline.calls[-1].hits[0].url)
        archive = offline.web_search("Hallelujah I Love Her So")
        assert "Search engine: zim" in archive
        assert "Ray Charles" in offline.web_visit(offline.calls[-1].hits[0].url)
        cached = offline.web_search("zqxv marker")
        assert "cache (searxng)" in cached and server.url("/article") in cached
        assert "The web said zqxv" in offline.web_visit(server.url("/article"))
        assert "did not come from a search" in offline.web_visit("https://example.org/")
    with SearchTools.from_config(configured.with_(offline=True), visit_only_searched=False) as free:
        assert "offline mode: this page is not in the cache" in free.web_visit("https://example.org/")
        assert "not in the cache" in free.web_visit(server.url("/never-fetched"))

    assert connects == [], f"offline session opened sockets: {connects}"
    assert lookups == [], f"offline session resolved names: {lookups}"
    assert server.hits("/article") == 1  # the online visit only (prefetch and visit shared it)
