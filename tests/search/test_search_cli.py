"""``iisearch search`` and ``iisearch index`` as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from iisearch_local.cli import main
from iisearch_local.config import load_config
from iisearch_local.search.settings import SearchSettings


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(60):  # enough files for the progress bar path
        (folder / f"n{i:02d}.md").write_text(f"# Note {i}\n\nThis note mentions topic{i} and otters.")
    return folder


def test_backends_lists_every_engine_with_its_state(capsys) -> None:
    code, out, _ = run(capsys, "search", "backends")
    assert code == 0
    for name in ("duckduckgo", "searxng", "serper", "brave", "tavily", "local", "zim"):
        assert name in out
    assert "not configured" in out and "Order: duckduckgo" in out


def test_index_add_list_search_remove(capsys, docs: Path) -> None:
    code, out, err = run(capsys, "index", "add", str(docs))
    assert code == 0 and "60 added" in out and "60 files" in out
    code, out, _ = run(capsys, "index", "list")
    assert f"{docs}: 60 files, 60 passages" in out
    code, out, _ = run(capsys, "index", "search", "topic7 otters", "-n", "3")
    assert code == 0 and out.startswith("Index: 1\nURL: file://") and "n07.md#p1" in out
    code, out, _ = run(capsys, "index", "update")
    assert "0 added, 0 changed, 0 removed, 60 unchanged" in out
    code, out, _ = run(capsys, "--set", 'search.engines=["local"]', "search", "query", "topic12")
    assert code == 0 and "Search engine: local" in out and "n12.md" in out
    url = (docs / "n12.md").as_uri()
    code, out, _ = run(capsys, "--set", 'search.engines=["local"]', "search", "visit", url)
    assert code == 0 and out.startswith("Title: Note 12")
    code, out, _ = run(capsys, "index", "remove", str(docs))
    assert code == 0 and "60 files" in out
    code, out, _ = run(capsys, "index", "list")
    assert "The index is empty" in out


def test_errors_are_short_messages_not_tracebacks(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "index", "search", "anything")
    assert code == 1 and "the local index is empty" in err and "Traceback" not in err
    code, _, err = run(capsys, "index", "remove", str(tmp_path))
    assert code == 1 and "not an indexed folder" in err
    code, _, err = run(capsys, "search", "query", "q", "--engine", "nonexistent")
    assert code == 1 and "nonexistent" in err
    code, _, err = run(capsys, "search", "query", "q", "--engine", "serper")
    assert code == 1 and "serper needs an API key" in err


def test_offline_query_never_uses_web_engines(capsys, docs: Path) -> None:
    run(capsys, "index", "add", str(docs))
    code, out, err = run(capsys, "search", "query", "otters", "--offline")
    assert code == 0 and "skipped duckduckgo: needs the network" in err and "Search engine: local" in out


def test_every_documented_search_setting_reaches_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ``search.*`` key of default_config.toml is read by SearchSettings.from_config."""
    config = load_config()
    keys = [k for k in config.values if k.startswith("search.")]
    assert len(keys) >= 35
    defaults = SearchSettings.from_config(config)
    assert defaults == SearchSettings(plugins=defaults.plugins)  # code defaults equal documented ones
    monkeypatch.setenv("IISEARCH_SEARCH_ENGINES", '["local", "zim"]')
    monkeypatch.setenv("IISEARCH_SEARCH_FETCH_MAX_BYTES", "1234")
    monkeypatch.setenv("IISEARCH_SEARCH_CACHE_FILE", "~/c.sqlite")
    changed = SearchSettings.from_config(load_config())
    assert changed.engines == ("local", "zim") and changed.max_bytes == 1234
    assert changed.cache_path == Path("~/c.sqlite").expanduser()
    for key in keys:  # no key is silently ignored: changing it changes the settings
        like = config.values[key]
        other = (not like if isinstance(like, bool) else like + 1 if isinstance(like, (int, float))
                 else ["x"] if isinstance(like, list) else like + "x/y")
        altered = SearchSettings.from_config(config.with_overrides({key: other}))
        assert altered != defaults, key
