"""The session store on a real SQLite file: recording, turns, listing, search, edits, recovery."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest
from sessionstest_helpers import (
    CIR_FOLLOW_UP,
    CIR_REPLIES,
    FOLLOW_UP,
    QUESTION,
    TOOLS_REPLIES,
    Ticker,
    scripted_session,
)

from iisearch_local.research import events as ev
from iisearch_local.sessions import (
    SessionBusyError,
    SessionNotFoundError,
    SessionStore,
    StoreError,
)
from iisearch_local.sessions.recorder import record


def run_recorded(store, sid, session, question):
    return list(record(store, sid, session.run(question), session=session))


def new_session(store, question=QUESTION, protocol="cir", **extra):
    return store.create(question=question, model=f"scripted-{protocol}", backend="scripted",
                        protocol=protocol, **extra)


def rows(store, sql, *params):
    return store._db.execute(sql, params).fetchall()


def test_a_recorded_session_comes_back_event_for_event(store):
    session = scripted_session(CIR_REPLIES)
    sid = new_session(store)
    seen = run_recorded(store, sid, session, QUESTION)
    stored = store.get(sid)
    assert [e.to_dict() for e in stored.events] == [e.to_dict() for e in seen]
    assert stored.trace == session.trace
    assert [r.seq for r in stored.records] == list(range(len(seen)))
    assert stored.status == "answered" and stored.summary.turns == 1
    assert stored.summary.answer == seen[-1].answer
    (turn,) = stored.turns
    assert (turn.number, turn.question, turn.status) == (1, QUESTION, "answered")
    assert turn.answer == seen[-1].answer and turn.finished_at is not None
    assert stored.finished() == seen[-1]


def test_a_follow_up_is_a_second_turn_of_the_same_session(store):
    session = scripted_session(CIR_REPLIES)
    sid = new_session(store)
    first = run_recorded(store, sid, session, QUESTION)
    session.backend.queue(*CIR_FOLLOW_UP)
    second = run_recorded(store, sid, session, FOLLOW_UP)
    stored = store.get(sid)
    assert [(t.number, t.question, t.status) for t in stored.turns] == [
        (1, QUESTION, "answered"), (2, FOLLOW_UP, "answered")]
    assert [r.turn for r in stored.records] == [1] * len(first) + [2] * len(second)
    assert stored.turn_events(2)[0] == second[0] and second[0].follow_up
    assert stored.trace == session.trace
    assert stored.summary.answer == second[-1].answer and stored.summary.question == QUESTION
    assert stored.finished(1) == first[-1] and stored.finished(2) == second[-1]


def test_the_trace_is_stored_as_appended_chunks(store):
    """Saving the growing trace writes only what is new; a rewritten trace replaces it all."""
    sid = new_session(store)
    store.set_trace(sid, "abc")
    store.set_trace(sid, "abc")  # unchanged: nothing written
    store.set_trace(sid, "abcdef")
    assert rows(store, "SELECT seq, text FROM trace_chunks WHERE session_id = ?", sid) == [
        (0, "abc"), (1, "def")]
    assert store.get(sid).trace == "abcdef"
    store.set_trace(sid, "xyz")
    assert rows(store, "SELECT seq, text FROM trace_chunks WHERE session_id = ?", sid) == [
        (0, "xyz")]
    other = SessionStore(store.path)  # another writer continues where the file is
    other.set_trace(sid, "xyz123")
    other.close()
    store.set_trace(sid, "xyz123456")
    assert store.get(sid).trace == "xyz123456"


def test_list_is_newest_first_with_a_limit(store):
    ids = [new_session(store, question=f"Question number {i}") for i in range(4)]
    for sid in ids:
        store.end_turn(sid, "cancelled")
    store.append_event(ids[1], ev.Notice(code="x", message="touched last"))
    assert [s.id for s in store.list()] == [ids[1], ids[3], ids[2], ids[0]]
    assert [s.id for s in store.list(limit=2)] == [ids[1], ids[3]]


def test_search_finds_questions_answers_and_titles(store):
    cir = new_session(store)
    run_recorded(store, cir, scripted_session(CIR_REPLIES), QUESTION)
    tools = new_session(store, question="Which Nobel prizes did Marie Curie win?",
                        protocol="tools")
    run_recorded(store, tools, scripted_session(TOOLS_REPLIES, "tools"),
                 "Which Nobel prizes did Marie Curie win?")
    assert [s.id for s in store.list(query="nouguier")] == [cir]  # only in the answer
    assert [s.id for s in store.list(query="NOBEL prizes")] == [tools]  # question, any case
    assert [s.id for s in store.list(query="chem")] == [tools]  # word starts match
    assert store.list(query="koechlin curie") == []  # every word must match
    store.rename(cir, "Paris landmarks")
    assert [s.id for s in store.list(query="landmark")] == [cir]
    assert {s.id for s in store.list(query="   ")} == {cir, tools}  # no words: no filter


@pytest.mark.parametrize("query", ['"', "eiffel*)", "NOT AND OR", "title:x", "a -b ^c",
                                   "\"unbalanced", "NEAR(a b)", "' OR 1=1 --"])
def test_search_text_is_never_read_as_query_syntax(store, query):
    """Hostile or odd search text (FTS operators, quotes, SQL) is plain words, never an error."""
    sid = new_session(store, question="Eiffel tower title NOT and near")
    found = store.list(query=query)
    assert all(s.id == sid for s in found)


def test_rename_and_delete(store):
    sid = new_session(store)
    store.end_turn(sid, "cancelled")
    store.rename(sid, "  My tower research ")
    summary = store.summary(sid)
    assert (summary.title, summary.renamed, summary.question) == (
        "My tower research", True, QUESTION)
    store.rename(sid, "")
    assert store.summary(sid).title == QUESTION and not store.summary(sid).renamed
    store.set_trace(sid, "trace")
    store.delete(sid)
    with pytest.raises(SessionNotFoundError):
        store.get(sid)
    for table in ("sessions", "turns", "events", "trace_chunks"):
        column = "id" if table == "sessions" else "session_id"
        assert rows(store, f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", sid) == [(0,)]
    assert store.list(query="eiffel") == []


def test_a_running_session_cannot_be_deleted_or_taken_over(store):
    sid = new_session(store)
    with pytest.raises(SessionBusyError):
        store.delete(sid)
    other = SessionStore(store.path)  # same process, another store: the owner is alive
    try:
        assert other.summary(sid).status == "running"
        with pytest.raises(SessionBusyError):
            other.delete(sid)
        with pytest.raises(SessionBusyError):
            other.append_event(sid, ev.SessionStarted(question="q", protocol="cir", model="m",
                                                      date="d", follow_up=True))
        # A recorder that failed to take the session over must not end the owner's turn.
        with pytest.raises(SessionBusyError):
            list(record(other, sid, scripted_session(CIR_REPLIES).run(QUESTION)))
        other.end_turn(sid, "error", "not mine")
        assert other.summary(sid).status == "running" and other.summary(sid).events == 0
    finally:
        other.close()
    assert store.summary(sid).status == "running"  # closing the other store left it alone


def test_ids_resolve_from_a_unique_prefix(store, monkeypatch):
    drawn = iter(["abc123000001", "abc123000001", "abc123000002", "fff000000000"])
    monkeypatch.setattr("iisearch_local.sessions.store.secrets.token_hex", lambda n: next(drawn))
    first, second, third = new_session(store), new_session(store), new_session(store)
    # The second draw collided with the first id and was drawn again.
    assert (first, second, third) == ("abc123000001", "abc123000002", "fff000000000")
    assert store.resolve("abc123000001") == first
    assert store.resolve(" FFF ") == third
    with pytest.raises(StoreError, match="several sessions start with 'abc1'") as ambiguous:
        store.resolve("abc1")
    assert "abc123000001, abc123000002" in ambiguous.value.message
    with pytest.raises(SessionNotFoundError, match="no stored session 'abd'"):
        store.resolve("abd")
    for pattern in ("%", "abc_", "abc%"):  # LIKE / GLOB wildcards are not patterns here
        with pytest.raises(SessionNotFoundError):
            store.resolve(pattern)


def test_closing_marks_own_running_sessions_interrupted(tmp_path):
    store = SessionStore(tmp_path / "s.db", clock=Ticker())
    sid = new_session(store)
    store.append_event(sid, ev.ReasoningDelta(text="thinking"))
    store.close()
    store.close()  # twice is fine
    reopened = SessionStore(tmp_path / "s.db")
    stored = reopened.get(sid)
    assert stored.status == "interrupted" and stored.turns[0].status == "interrupted"
    assert stored.events == [ev.ReasoningDelta(text="thinking")]
    reopened.close()
    with pytest.raises(StoreError, match="closed"):
        reopened.create(question="q", model="m", backend="b", protocol="cir")
    with pytest.raises(StoreError, match="closed"):
        reopened.list()


def test_a_session_left_running_by_a_dead_process_is_interrupted_on_open(tmp_path):
    """A child process records half a session and dies without closing anything."""
    db = tmp_path / "s.db"
    script = textwrap.dedent(f"""
        import os
        from iisearch_local.research import events as ev
        from iisearch_local.sessions import SessionStore
        store = SessionStore({str(db)!r})
        sid = store.create(question="q", model="m", backend="b", protocol="cir")
        store.append_event(sid, ev.SessionStarted(question="q", protocol="cir", model="m", date="d"))
        store.set_trace(sid, "partial trace")
        print(sid, flush=True)
        os._exit(0)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    sid = done.stdout.strip()
    store = SessionStore(db)
    try:
        stored = store.get(sid)
        assert stored.status == "interrupted" and "stopped" in stored.summary.detail
        assert stored.trace == "partial trace" and len(stored.events) == 1
        assert list((tmp_path / "s.db.owners").iterdir()) == []  # the dead owner's file is gone
    finally:
        store.close()


def test_a_damaged_file_is_a_clear_error_and_is_left_alone(tmp_path):
    """A file that is not SQLite (a broken copy, a wrong path) is refused, not overwritten."""
    db = tmp_path / "sessions.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="damaged or not a database") as error:
        SessionStore(db)
    assert "Move the file away" in error.value.hint
    assert db.read_bytes() == b"this is not a database" * 100


def test_a_database_from_a_newer_version_is_refused(tmp_path):
    db = tmp_path / "sessions.db"
    SessionStore(db).close()
    raw = sqlite3.connect(db)
    raw.execute("INSERT INTO migrations VALUES (99, 0)")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="version 99, newer"):
        SessionStore(db)


def test_events_of_an_unknown_type_are_skipped_not_fatal(store):
    """A row written by a newer version (an event type we do not know) does not block reading."""
    sid = new_session(store)
    store.append_event(sid, ev.Notice(code="a", message="before"))
    store._db.execute("INSERT INTO events VALUES (?, 1, 1, 'hologram', '{}', 0)", (sid,))
    store._db.execute("UPDATE sessions SET events = 2 WHERE id = ?", (sid,))
    store.append_event(sid, ev.Notice(code="b", message="after"))
    stored = store.get(sid)
    assert [e.message for e in stored.events] == ["before", "after"] and stored.unreadable == 1


def test_unknown_sessions_and_bad_statuses_are_refused(store):
    with pytest.raises(SessionNotFoundError):
        store.append_event("0123456789ab", ev.Notice(code="x", message="y"))
    with pytest.raises(SessionNotFoundError):
        store.set_trace("0123456789ab", "t")
    sid = new_session(store)
    with pytest.raises(ValueError):
        store.end_turn(sid, "running")
    assert store.summary(sid).events == 0  # nothing half-written


def test_finish_stores_the_event_once(store):
    sid = new_session(store)
    done = ev.Finished(reason="no_answer", answer="", detail="nothing found")
    store.append_event(sid, done)
    store.finish(sid, done)  # already the last event: only the status
    assert store.summary(sid).events == 1 and store.summary(sid).status == "no_answer"
    other = new_session(store)
    store.finish(other, ev.Finished(reason="answered", answer="42"))
    assert store.get(other).events[-1].answer == "42"
    assert store.summary(other).answer == "42"


def test_writers_on_threads_and_a_reader_share_the_store(store):
    ids = [new_session(store, question=f"q{i}") for i in range(4)]

    def write(sid):
        for i in range(50):
            store.append_event(sid, ev.ReasoningDelta(text=f"{i} "))

    threads = [threading.Thread(target=write, args=(sid,)) for sid in ids]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        store.list()
    for thread in threads:
        thread.join()
    for sid in ids:
        assert "".join(e.text for e in store.get(sid).events) == "".join(f"{i} " for i in range(50))


def test_a_folder_in_place_of_the_file_is_a_clear_error(tmp_path):
    """The history path is a directory (a bad setting, a mistaken mkdir): said, nothing touched."""
    (tmp_path / "sessions.db").mkdir()
    with pytest.raises(StoreError, match="cannot open the session history"):
        SessionStore(tmp_path / "sessions.db")
    assert list((tmp_path / "sessions.db").iterdir()) == []
