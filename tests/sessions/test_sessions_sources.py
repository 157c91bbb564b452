"""Replaying a stored session offline: every cited page opens without the network."""

from __future__ import annotations

from sessionstest_helpers import (
    CIR_FOLLOW_UP,
    CIR_REPLIES,
    CURIE,
    FOLLOW_UP,
    QUESTION,
    TOOLS_REPLIES,
    TOWER,
    scripted_session,
)

from iisearch_local.research import events as ev
from iisearch_local.search.base import Page
from iisearch_local.search.cache import PageCache
from iisearch_local.sessions.recorder import record
from iisearch_local.sessions.sources import open_page_cache

CURIE_QUESTION = "Which Nobel prizes did Marie Curie win?"


def recorded(store, replies, protocol, question):
    sid = store.create(question=question, model="m", backend="b", protocol=protocol)
    session = scripted_session(replies, protocol)
    list(record(store, sid, session.run(question), session=session))
    return sid, session


def test_cited_sources_lists_each_page_once_across_turns(store):
    sid, session = recorded(store, CIR_REPLIES, "cir", QUESTION)
    session.backend.queue(*CIR_FOLLOW_UP)
    list(record(store, sid, session.run(FOLLOW_UP), session=session))
    cited = store.cited_sources(sid)
    assert [(c.turn, c.number, c.url, c.title, c.visited) for c in cited] == [
        (1, 1, TOWER, "Eiffel Tower", True)]


def test_a_visited_page_opens_from_the_session_itself(store, home):
    """No cache file anywhere: the page text comes from the session's own visit."""
    sid, _ = recorded(store, CIR_REPLIES, "cir", QUESTION)
    text = store.source_text(sid, TOWER + "/")  # another spelling of the same URL
    assert text.origin == "session" and text.title == "Eiffel Tower"
    assert "Maurice Koechlin and Emile Nouguier" in text.text
    assert not (home / "cache" / "search_cache.sqlite").exists()  # reading created nothing


def test_a_page_only_searched_opens_from_the_page_cache(store, tmp_path):
    sid, _ = recorded(store, TOOLS_REPLIES, "tools", CURIE_QUESTION)
    cache = PageCache(tmp_path / "cache.sqlite", ttl_seconds=1, max_bytes=0)
    cache.put_page(CURIE, Page(url=CURIE, title="Marie Curie (cached)", text="Full page text.",
                               fetched_at=1.0))  # long expired: still readable offline
    text = store.source_text(sid, CURIE, cache=cache)
    assert (text.origin, text.title, text.text) == ("cache", "Marie Curie (cached)",
                                                    "Full page text.")
    cache.close()


def test_the_users_page_cache_is_used_by_default(store, home):
    sid, _ = recorded(store, TOOLS_REPLIES, "tools", CURIE_QUESTION)
    path = home / "cache" / "search_cache.sqlite"
    cache = PageCache(path, ttl_seconds=1, max_bytes=0)
    cache.put_page(CURIE, Page(url=CURIE, title="Marie Curie", text="From the user's cache."))
    cache.close()
    assert store.source_text(sid, CURIE).text == "From the user's cache."
    reopened = open_page_cache(path)
    assert reopened.get_page(CURIE, allow_stale=True) is not None
    reopened.close()


def test_without_a_visit_or_cache_the_search_preview_is_left(store, home):
    sid, _ = recorded(store, TOOLS_REPLIES, "tools", CURIE_QUESTION)
    text = store.source_text(sid, CURIE)
    assert text.origin == "search" and text.title == "Marie Curie"
    assert text.text.startswith("Marie Curie")
    assert store.source_text(sid, "https://never.example/seen") is None


def test_a_failed_visit_is_not_served_as_page_text(store, home):
    sid = store.create(question="q", model="m", backend="b", protocol="cir")
    store.append_event(sid, ev.VisitDone(url=TOWER, title="", output="Visit failed: 404",
                                         error="404", seconds=0.1))
    assert store.source_text(sid, TOWER) is None
