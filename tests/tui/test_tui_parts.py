"""The non-UI parts of the TUI: event coalescing, citations, settings files, status text."""

from __future__ import annotations

import threading

import pytest
import tomllib
from tuitest_helpers import TOWER

from iisearch_local.errors import ConfigError
from iisearch_local.research import events as ev
from iisearch_local.tui.batching import EventBatcher, merge_deltas
from iisearch_local.tui.controller import LiveStatus
from iisearch_local.tui.sources import numbered_answer, page_text_from_events, sources_markdown
from iisearch_local.tui.user_config import save_settings
from iisearch_local.tui.widgets.status import status_content

SOURCE = ev.Source(number=1, url=TOWER, title="Eiffel Tower", supporting_text="The design...",
                   visited=True, searched=True)


def test_consecutive_deltas_merge_but_order_and_kinds_are_kept():
    events = [ev.ReasoningDelta(text="a"), ev.ReasoningDelta(text="b"), ev.CodeBlock(index=1, code="x"),
              ev.AnswerDelta(text="c"), ev.AnswerDelta(text="d"), ev.AnswerReset(reason="tool"),
              ev.AnswerDelta(text="e"), ev.ReportDelta(text="r", reasoning=True),
              ev.ReportDelta(text="s", reasoning=False), ev.ReportDelta(text="t", reasoning=False)]
    merged = merge_deltas(events)
    assert [type(e).__name__ for e in merged] == [
        "ReasoningDelta", "CodeBlock", "AnswerDelta", "AnswerReset", "AnswerDelta", "ReportDelta",
        "ReportDelta"]
    assert merged[0].text == "ab" and merged[2].text == "cd" and merged[6].text == "st"


def test_batcher_hands_over_everything_put_from_other_threads():
    """Four threads put 2,000 deltas each while the UI side drains: nothing is lost or doubled."""
    batcher = EventBatcher()
    drained: list[ev.Event] = []

    def produce(tag: str) -> None:
        for _ in range(2000):
            batcher.put(ev.AnswerDelta(text=tag))

    threads = [threading.Thread(target=produce, args=(tag,)) for tag in "wxyz"]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        drained.extend(batcher.drain())
    drained.extend(batcher.drain())
    text = "".join(e.text for e in drained)
    assert sorted(set(text)) == list("wxyz") and len(text) == 8000
    assert batcher.received == 8000 and len(drained) < 8000  # coalesced on the way


def test_numbered_answer_links_each_citation_to_its_source():
    answer = (f"It was designed by Koechlin ([Eiffel Tower]({TOWER})). See also {TOWER}. "
              "Unrelated: [x](https://other.example/).")
    shown = numbered_answer(answer, [SOURCE])
    assert f"(Eiffel Tower [[1]]({TOWER}))" in shown
    assert f"See also [[1]]({TOWER})." in shown  # the full stop is not part of the URL
    assert "[x](https://other.example/)" in shown  # not a numbered source: left alone


def test_sources_markdown_escapes_titles():
    source = ev.Source(number=2, url="https://a.example/p", title="A [draft] page",
                       supporting_text="", visited=False, searched=True)
    text = sources_markdown([source])
    assert text.startswith("2. [A \\[draft\\] page](https://a.example/p) *(from search results)*")


def test_page_text_prefers_the_visit_then_the_search_preview():
    hit = ev.Hit(index=1, url=TOWER, title="Eiffel Tower", preview="A lattice tower.")
    search = ev.SearchDone(query="q", max_results=5, hits=(hit,), output="", error=None, seconds=0)
    assert page_text_from_events([search], TOWER + "/") == ("Eiffel Tower", "A lattice tower.")
    visit = ev.VisitDone(url=TOWER, title="Eiffel Tower", output="Full text.", error=None, seconds=0)
    assert page_text_from_events([search, visit], TOWER) == ("Eiffel Tower", "Full text.")
    assert page_text_from_events([search], "https://unknown.example/") is None


def test_saving_settings_merges_into_the_users_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[model]\nname = "my.gguf"\n', "utf-8")
    config = save_settings({"sampling.temperature": 0.3, "search.engines": ["local", "zim"],
                            "models.II-Search-4B.gguf_repo": "me/repo"}, path=path)
    data = tomllib.loads(path.read_text("utf-8"))
    assert data["model"]["name"] == "my.gguf"  # kept
    assert data["sampling"]["temperature"] == 0.3 and data["search"]["engines"] == ["local", "zim"]
    assert data["models"]["II-Search-4B"]["gguf_repo"] == "me/repo"
    assert config.get("sampling.temperature") == 0.3


@pytest.mark.parametrize("changes", [{"sampling.top_k": "many"}, {"sampling.no_such_key": 1}])
def test_a_bad_setting_is_refused_and_the_file_is_untouched(tmp_path, changes):
    """A value of the wrong type, or an unknown key: ConfigError naming it, nothing written."""
    path = tmp_path / "config.toml"
    path.write_text('[model]\nname = "my.gguf"\n', "utf-8")
    with pytest.raises(ConfigError, match=next(iter(changes)).split(".")[-1]):
        save_settings(changes, path=path)
    assert path.read_text("utf-8") == '[model]\nname = "my.gguf"\n'
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temporary file left


def test_status_line_names_model_backend_search_and_progress():
    busy = LiveStatus(phase="researching", tokens_per_second=41.5, context_used=1500,
                      context_size=32768, steps=3, max_steps=32)
    line = status_content(model="II-Search-CIR-4B", backend="llama", search="duckduckgo",
                          offline=False, status=busy).plain
    for part in ("II-Search-CIR-4B", "llama", "duckduckgo", "41.5 tok/s", "ctx 1.5k/32.8k (5%)",
                 "code block 3 of 32", "researching"):
        assert part in line
    offline = status_content(model="m", backend="b", search="local", offline=True,
                             status=LiveStatus()).plain
    assert "OFFLINE" in offline and "tok/s" not in offline
