"""Kiwix ZIM archives: full-text search, title suggestions, reading articles offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from iisearch_local.search.base import EngineUnavailableError, SearchError, VisitRefusedError
from iisearch_local.search.settings import SearchSettings
from iisearch_local.search.zim import ZimEngine, zim_url

ARCHIVE = "wikipedia_en_ray_charles_mini_2020-03"


def test_full_text_search_finds_articles(zim_path: Path) -> None:
    engine = ZimEngine([zim_path])
    hits = engine.search("Ray Charles piano soul", 5)
    assert 1 <= len(hits) <= 5
    assert all(h.url.startswith(f"zim://{ARCHIVE}/") and h.source == "zim" for h in hits)
    assert any("Ray Charles" in (h.title + h.snippet) for h in hits)
    assert len({h.url for h in hits}) == len(hits)  # redirects to one article are merged
    assert not any(h.snippet.startswith("#") for h in hits)


def test_title_suggestions_when_full_text_finds_nothing(zim_path: Path) -> None:
    """A word prefix ("Anthol") matches no full word, but it starts article titles."""
    hits = ZimEngine([zim_path]).search("Anthol", 3)
    assert hits and all("Anthology" in h.title for h in hits)


def test_visit_reads_an_article_as_text(zim_path: Path) -> None:
    engine = ZimEngine([zim_path])
    url = zim_url(ARCHIVE, "A/Ray_Charles")
    assert engine.handles(url) and not engine.handles("https://x.org")
    page = engine.visit(url)
    assert page.title == "Ray Charles" and "pianist" in page.text and "<" not in page.text[:500]
    assert page.source == "zim"


def test_visit_follows_redirect_entries_and_quoted_paths(zim_path: Path) -> None:
    engine = ZimEngine([zim_path])
    page = engine.visit(zim_url(ARCHIVE, "A/Charles,_Ray"))
    assert page.url == zim_url(ARCHIVE, "A/Ray_Charles")
    quoted = engine.visit(f"zim://{ARCHIVE}/A/Driftin%27_Blues")
    assert "Blues" in quoted.title


def test_visit_errors(zim_path: Path) -> None:
    engine = ZimEngine([zim_path])
    with pytest.raises(SearchError, match="no article"):
        engine.visit(zim_url(ARCHIVE, "A/No_Such_Article"))
    with pytest.raises(SearchError, match="no ZIM archive named 'other'"):
        engine.visit("zim://other/A/Ray_Charles")
    with pytest.raises(VisitRefusedError):
        engine.visit("https://example.org/A/Ray_Charles")
    assert engine.visit(f"zim://{ARCHIVE}/").title  # no path: the archive's main page


def test_from_settings_accepts_folders_and_reports_problems(zim_path: Path, tmp_path: Path) -> None:
    engine = ZimEngine.from_settings(SearchSettings(zim_archives=(str(zim_path.parent),)))
    assert ARCHIVE in engine.archive_names
    with pytest.raises(EngineUnavailableError, match="no ZIM archives configured"):
        ZimEngine.from_settings(SearchSettings(zim_archives=(str(tmp_path / "missing"),)))
    bogus = tmp_path / "bogus.zim"
    bogus.write_bytes(b"not a zim file")
    with pytest.raises(EngineUnavailableError, match="not a readable ZIM archive"):
        ZimEngine([bogus])
