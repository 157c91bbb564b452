"""Fixtures for the search tests: an isolated home, a local HTTP server, settings that trust it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from iisearch_local.search.settings import SearchSettings
from searchtest_server import LocalServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its config, cache and index under its own temporary folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("IISEARCH_HOME", str(home))
    for name in ("SERPER_API_KEY", "BRAVE_API_KEY", "BRAVE_SEARCH_API_KEY", "TAVILY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture
def settings(tmp_path: Path) -> SearchSettings:
    """Settings whose visits may reach the test server at 127.0.0.1 (and nothing else local)."""
    return SearchSettings(allowed_hosts=("127.0.0.1",), connect_timeout=2.0, read_timeout=2.0,
                          cache_file=tmp_path / "cache.sqlite", index_file=tmp_path / "index.sqlite",
                          prefetch_count=0)


@pytest.fixture
def zim_path() -> Path:
    """The small Ray Charles Wikipedia archive from the shared data folder."""
    shared = Path(os.environ.get("IISEARCH_SHARED", REPO.parent / "shared"))
    path = shared / "data" / "corpus" / "wikipedia_en_ray_charles_mini_2020-03.zim"
    if not path.exists():
        pytest.skip(f"ZIM test archive not found at {path} (set IISEARCH_SHARED)")
    import libzim  # noqa: F401  (the zim extra is part of the test install)
    return path
