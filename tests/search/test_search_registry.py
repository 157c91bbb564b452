"""Engines come from the ``iisearch_local.search_backends`` entry points, built-ins included."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from iisearch_local.search.base import EngineUnavailableError
from iisearch_local.search.registry import (ENTRY_POINT_GROUP, available_engines, build_engines,
                                            create_engine, describe_engines, is_local_engine)
from iisearch_local.search.settings import SearchSettings

BUILTINS = {"duckduckgo", "searxng", "serper", "brave", "tavily", "local", "zim"}
REPO = Path(__file__).resolve().parents[2]


def test_builtins_are_declared_in_pyproject_and_installed() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert set(declared) == BUILTINS
    assert BUILTINS <= set(available_engines())


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A third-party package installed the ordinary way: a module plus dist-info with entry points."""
    (tmp_path / "acme_search.py").write_text(
        "from iisearch_local.search.base import SearchHit\n"
        "class AcmeEngine:\n"
        "    name = 'acme'\n"
        "    local = True\n"
        "    def __init__(self, greeting): self.greeting = greeting\n"
        "    @classmethod\n"
        "    def from_settings(cls, settings):\n"
        "        return cls(settings.plugins.get('acme.greeting', 'hi'))\n"
        "    def search(self, query, max_results=10):\n"
        "        return [SearchHit(url='https://acme.example/' + query, title=self.greeting, snippet='')]\n"
        "def broken_factory(settings):\n"
        "    raise RuntimeError('bad plugin')\n")
    dist = tmp_path / "acme_search-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-search\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nacme = acme_search:AcmeEngine\nbroken = acme_search:broken_factory\n"
        "missing = acme_search_nonexistent:Engine\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "acme"
    sys.modules.pop("acme_search", None)


def test_third_party_plugin_is_found_built_and_gets_its_settings(plugin_dist: str) -> None:
    assert "acme" in available_engines()
    engine = create_engine("acme", SearchSettings(plugins={"acme.greeting": "hello"}))
    assert engine.search("q")[0].title == "hello"
    assert is_local_engine("acme")


def test_broken_and_missing_plugins_are_reported_not_raised(plugin_dist: str) -> None:
    with pytest.raises(EngineUnavailableError, match="failed to start \\(RuntimeError: bad plugin\\)"):
        create_engine("broken", SearchSettings())
    with pytest.raises(EngineUnavailableError, match="cannot be imported"):
        create_engine("missing", SearchSettings())
    states = {info.name: info.state for info in describe_engines(SearchSettings())}
    assert states["broken"] == "broken" and states["missing"] == "not installed"
    assert states["acme"] == "ready"


def test_unknown_engine_names_the_installed_ones() -> None:
    with pytest.raises(EngineUnavailableError) as info:
        create_engine("altavista", SearchSettings())
    assert "unknown search engine 'altavista'" in info.value.message and "duckduckgo" in info.value.hint


def test_describe_engines_shows_configuration_state(tmp_path: Path) -> None:
    settings = SearchSettings(engines=("serper", "local"), serper_api_key="k",
                              index_file=tmp_path / "i.sqlite")
    infos = {info.name: info for info in describe_engines(settings)}
    assert infos["serper"].state == "ready" and infos["serper"].in_chain and infos["serper"].local is False
    assert infos["brave"].state == "not configured" and "API key" in infos["brave"].detail
    assert infos["local"].state == "ready" and infos["local"].local is True
    assert infos["searxng"].state == "not configured" and not infos["searxng"].in_chain


def test_build_engines_offline_skips_network_engines_without_building_them(tmp_path: Path) -> None:
    settings = SearchSettings(index_file=tmp_path / "i.sqlite", serper_api_key="k")
    ready, skipped = build_engines(["duckduckgo", "serper", "local", "brave", "local"], settings, offline=True)
    assert [e.name for e in ready] == ["local"]
    assert dict(skipped) == {"duckduckgo": "needs the network (offline mode)",
                             "serper": "needs the network (offline mode)",
                             "brave": "needs the network (offline mode)"}
    ready, skipped = build_engines(["serper", "brave"], settings)
    assert [e.name for e in ready] == ["serper"] and "API key" in dict(skipped)["brave"]
