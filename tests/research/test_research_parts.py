"""The loop's parts on their own: events, citations, the tool wrapper, the stream splitter."""

from __future__ import annotations

import json

import pytest
from researchtest_helpers import run_all
from test_research_golden import CIR_REPLIES, TOOLS_REPLIES

from iisearch_local.backends.scripted import ScriptedBackend
from iisearch_local.research import events as ev
from iisearch_local.research.citations import SourceBook, best_passage, normalize_url
from iisearch_local.research.prompting import PromptError, PromptSet, http_date
from iisearch_local.research.stream import TurnSplitter
from iisearch_local.research.tokens import cut_to_tokens, keep_head_and_tail
from iisearch_local.research.toolbox import ToolArgumentError, ToolBox, parse_hits


@pytest.mark.parametrize("protocol, replies", [("cir", CIR_REPLIES), ("tools", TOOLS_REPLIES)])
def test_every_event_survives_a_json_round_trip(make_session, protocol, replies):
    events = run_all(make_session(replies, protocol), "Who designed the Eiffel Tower?")
    assert {type(e) for e in events} >= {ev.SessionStarted, ev.ReasoningDelta, ev.AnswerDelta,
                                         ev.SearchDone, ev.VisitDone, ev.Finished}
    for event in events:
        again = ev.event_from_dict(json.loads(json.dumps(event.to_dict())))
        assert again == event


def test_unknown_event_type_is_an_error():
    with pytest.raises(ValueError, match="not a research event"):
        ev.event_from_dict({"type": "nope"})


# --- citations ---------------------------------------------------------------------------------


def book_with_pages() -> SourceBook:
    book = SourceBook()
    book.record(ev.SearchDone(query="q", max_results=2, output="", error=None, seconds=0, hits=(
        ev.Hit(index=1, url="https://a.example/page", title="Page A", preview="A preview."),
        ev.Hit(index=2, url="https://b.example/", title="Page B", preview="Bees make honey."))))
    book.record(ev.VisitDone(url="https://a.example/page", title="Page A", error=None, seconds=0,
                             output="Title: Page A\nURL: https://a.example/page\n\nThe river is "
                                    "long. The bridge was opened in 1932 by the mayor. Nothing else."))
    return book


def test_markdown_links_cite_visited_pages_with_the_supporting_sentence():
    sources = book_with_pages().cite("The bridge opened in 1932 ([A](https://a.example/page)).")
    assert len(sources) == 1
    assert sources[0].title == "Page A" and sources[0].visited and sources[0].searched
    assert sources[0].supporting_text == "The bridge was opened in 1932 by the mayor."


def test_bare_urls_numbered_references_and_unseen_urls():
    answer = ("Bees make honey [1]. The bridge opened in 1932 [2].\n\nReferences:\n"
              "[1] https://b.example\n[2] https://a.example/page#top\n"
              "See also https://c.example/x.")
    sources = book_with_pages().cite(answer)
    assert [s.number for s in sources] == [1, 2, 3]
    assert [s.url for s in sources] == ["https://b.example", "https://a.example/page#top",
                                        "https://c.example/x"]
    assert sources[0].supporting_text == "Bees make honey." and not sources[0].visited
    assert sources[1].supporting_text == "The bridge was opened in 1932 by the mayor."
    assert not sources[2].searched and not sources[2].visited and sources[2].title == "https://c.example/x"


def test_the_same_page_is_cited_once():
    sources = book_with_pages().cite("[x](https://a.example/page) and https://A.example/page/.")
    assert len(sources) == 1


def test_normalize_url_and_best_passage():
    assert normalize_url("HTTPS://Ex.COM/a/#frag") == normalize_url("https://ex.com/a")
    assert best_passage("One thing. Two cats sat.", "cats sat down") == "Two cats sat."
    assert best_passage("", "x") == ""


# --- the tool wrapper --------------------------------------------------------------------------


def test_search_accepts_every_spelling_and_clamps_the_count():
    seen = []

    def search(query: str, max_results: int = 5) -> str:
        seen.append((query, max_results))
        return f"Index: 1\nURL: https://x.example/{query}\nTitle: X\nPreview: x"

    events: list[ev.Event] = []
    box = ToolBox({"web_search": search}, on_event=events.append)
    box.call("web_search", "a")
    box.call("web_search", "b", 3)
    box.call("web_search", query="c", num_result=2)
    box.call("web_search", query="d", max_result=500)
    box.call("web_search", q=" e ", k="4")
    both = box.call("web_search", query=["f", "g"])
    assert seen == [("a", 5), ("b", 3), ("c", 2), ("d", 20), ("e", 4), ("f", 5), ("g", 5)]
    assert box.searches == 7 and box.calls == 7
    assert both.count("Index: 1") == 2 and [e.query for e in events[-2:]] == ["f", "g"]


@pytest.mark.parametrize("name, args, kwargs, message", [
    ("web_search", (), {}, "needs a query"),
    ("web_search", ("",), {}, "needs a query"),
    ("web_search", ("x" * 600,), {}, "too long"),
    ("web_visit", (), {}, "needs a URL"),
    ("web_visit", (), {"url": ["u"] * 9}, "at most 5 URLs"),
])
def test_argument_errors_explain_how_to_call(name, args, kwargs, message):
    box = ToolBox({"web_search": lambda query, num_result=5: "", "web_visit": lambda url: ""})
    with pytest.raises(ToolArgumentError, match=message):
        box.call(name, *args, **kwargs)
    assert box.calls == 0


def test_failures_the_source_returns_as_text_are_recorded_as_errors():
    events: list[ev.Event] = []
    box = ToolBox({"web_visit": lambda url: f"Visit failed for {url}: timed out after 10 s."},
                  on_event=events.append)
    box.call("web_visit", "https://slow.example")
    assert events[0].error == "Visit failed for https://slow.example: timed out after 10 s."


def test_aliases_and_failures_are_recorded():
    events: list[ev.Event] = []

    def visit(url):
        raise OSError("connection reset")

    box = ToolBox({"visit_webpage": visit, "extra": lambda x: x * 2}, on_event=events.append)
    assert set(box.names()) == {"web_visit", "extra", "visit_webpage"}
    out = box.model_functions()["visit_webpage"]("https://x.example")
    assert out == "Error: web_visit failed: connection reset"
    assert events[0] == ev.VisitDone(url="https://x.example", title="", output=out,
                                     error="connection reset", seconds=events[0].seconds)
    assert box.call("extra", "ab") == "abab"
    assert isinstance(events[1], ev.FunctionDone) and events[1].arguments == {"arg0": "ab"}
    with pytest.raises(ToolArgumentError, match="unknown function 'nope'"):
        box.call("nope")
    with pytest.raises(ToolArgumentError, match="extra"):
        box.call("extra", 1, 2)


def test_parse_hits_reads_the_formatted_blocks():
    text = ("Search engine: x\n\nIndex: 1\nURL: https://a\nTitle: A\nPreview: pa\n\n"
            "Index: 2\nURL: https://b\nTitle: B\nPreview: ")
    assert [(h.index, h.url, h.title, h.preview) for h in parse_hits(text)] == [
        (1, "https://a", "A", "pa"), (2, "https://b", "B", "")]


# --- stream splitter, tokens, prompts ----------------------------------------------------------


def test_splitter_handles_markers_split_across_deltas():
    splitter = TurnSplitter()
    text = "I think.\n</think>\n\nThe answer <start_code>hidden"
    events = []
    for i in range(0, len(text), 3):
        events += splitter.feed(text[i:i + 3])
    events += splitter.flush()
    reasoning = "".join(e.text for e in events if isinstance(e, ev.ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, ev.AnswerDelta))
    assert reasoning == "I think.\n" and answer == "The answer " and splitter.phase == "action"


def test_splitter_releases_a_partial_marker_that_never_completes():
    splitter = TurnSplitter()
    events = splitter.feed("a </thi") + splitter.feed("s is not a tag") + splitter.flush()
    assert "".join(e.text for e in events) == "a </this is not a tag"


def test_cut_to_tokens_without_detokenize_bisects():
    backend = ScriptedBackend()
    cut, was_cut = cut_to_tokens(backend, "one two three four", 3)
    assert (cut, was_cut) == ("one two", True)
    assert cut_to_tokens(backend, "short", 10) == ("short", False)
    both = keep_head_and_tail(backend, " ".join(f"w{i}" for i in range(100)), 20)
    assert both.startswith("w0 w1") and both.endswith("w98 w99") and "left out" in both


def test_http_date_and_prompt_overrides(tmp_path):
    from datetime import datetime, timezone

    assert http_date(datetime(2025, 6, 2, 14, 3, tzinfo=timezone.utc)) == "Mon, 02 Jun 2025 14:03:00 GMT"
    mine = tmp_path / "sys.txt"
    mine.write_text("Be brief. Today: $date", encoding="utf-8")
    prompts = PromptSet({"report_system": str(mine)})
    assert prompts.render("report_system", date="D") == "Be brief. Today: D"
    with pytest.raises(PromptError, match="cannot read"):
        PromptSet({"cir_hint": str(tmp_path / "missing.txt")})
    with pytest.raises(PromptError, match="unknown prompt"):
        PromptSet({"nope": "x"})
    bad = tmp_path / "bad.txt"
    bad.write_text("Uses $nothing", encoding="utf-8")
    with pytest.raises(PromptError, match="placeholder"):
        PromptSet({"report_system": str(bad)}).render("report_system", date="D")
