"""``record`` stores every event before it is seen; ``resume_session`` continues a stored one."""

from __future__ import annotations

import pytest
from sessionstest_helpers import (
    CIR_FOLLOW_UP,
    CIR_REPLIES,
    FOLLOW_UP,
    QUESTION,
    TOWER,
    scripted_runtime,
    scripted_session,
)

from iisearch_local.backends.scripted import ScriptedBackend
from iisearch_local.research import events as ev
from iisearch_local.sessions import SessionStore
from iisearch_local.sessions.recorder import record
from iisearch_local.sessions.resume import ProtocolMismatchError, resume_session


def new_session(store, protocol="cir"):
    return store.create(question=QUESTION, model=f"scripted-{protocol}", backend="scripted",
                        protocol=protocol)


def test_each_event_is_on_disk_before_the_consumer_sees_it(store):
    """A second connection (another process's view) already holds every event yielded so far."""
    session = scripted_session(CIR_REPLIES)
    sid = new_session(store)
    reader = SessionStore(store.path)
    try:
        for count, event in enumerate(record(store, sid, session.run(QUESTION), session=session),
                                      start=1):
            stored = reader.get(sid)
            assert len(stored.records) == count and stored.events[-1] == event
            if not isinstance(event, ev.ReasoningDelta | ev.AnswerDelta | ev.ReportDelta):
                assert stored.trace == session.trace  # saved with every step
    finally:
        reader.close()


def test_a_failing_stream_marks_the_turn_error_and_keeps_what_came_before(store):
    def broken():
        yield ev.SessionStarted(question=QUESTION, protocol="cir", model="m", date="d")
        yield ev.ReasoningDelta(text="half a thought")
        raise RuntimeError("the engine fell over")

    sid = new_session(store)
    with pytest.raises(RuntimeError, match="fell over"):
        list(record(store, sid, broken()))
    stored = store.get(sid)
    assert stored.status == "error" and stored.turns[0].status == "error"
    assert stored.summary.detail == "RuntimeError: the engine fell over"
    assert [e.type for e in stored.events] == ["session_started", "reasoning"]


def test_a_consumer_that_stops_early_cancels_the_turn_and_keeps_the_written_text(store):
    """Breaking out mid-generation: the session puts the streamed text into its trace."""
    session = scripted_session(CIR_REPLIES)
    sid = new_session(store)
    stream = record(store, sid, session.run(QUESTION), session=session)
    for event in stream:
        if isinstance(event, ev.ReasoningDelta) and "look" in event.text:
            break
    stream.close()
    stored = store.get(sid)
    assert stored.status == "cancelled" and stored.summary.detail == "stopped before the end"
    assert stored.trace == session.trace and stored.trace.endswith("I should look")


def test_a_cancel_is_recorded_as_the_sessions_own_finished_event(store):
    session = scripted_session(CIR_REPLIES)
    sid = new_session(store)
    for event in record(store, sid, session.run(QUESTION), session=session):
        if isinstance(event, ev.CodeBlock):
            session.cancel()
    stored = store.get(sid)
    assert stored.status == "cancelled" and isinstance(stored.events[-1], ev.Finished)
    assert stored.trace == session.trace


def test_a_stored_session_continues_after_a_restart(tmp_path):
    """Record turn 1, close everything, reopen the file and ask a follow-up on the stored trace."""
    db = tmp_path / "s.db"
    store = SessionStore(db)
    session = scripted_session(CIR_REPLIES)
    sid = new_session(store)
    list(record(store, sid, session.run(QUESTION), session=session))
    first_trace = session.trace
    store.close()

    store = SessionStore(db)
    stored = store.get(sid)
    backend = ScriptedBackend(CIR_FOLLOW_UP)
    resumed = resume_session(scripted_runtime([], backend=backend), stored)
    events = list(record(store, sid, resumed.run(FOLLOW_UP), session=resumed))
    assert backend.prompts[0].startswith(first_trace)  # the model sees the whole earlier trace
    assert events[0].follow_up
    done = events[-1]
    # The follow-up cites a page read in turn 1: the restored sources know it was visited.
    assert [(s.url, s.visited) for s in done.sources] == [(TOWER, True)]
    assert "330 metres" in done.sources[0].supporting_text
    again = store.get(sid)
    assert [t.status for t in again.turns] == ["answered", "answered"]
    assert again.trace == resumed.trace and again.trace.startswith(first_trace)
    store.close()


def test_continuing_with_the_other_protocol_is_refused(store):
    sid = new_session(store)
    list(record(store, sid, scripted_session(CIR_REPLIES).run(QUESTION)))
    with pytest.raises(ProtocolMismatchError, match="'cir' model") as error:
        resume_session(scripted_runtime([], "tools"), store.get(sid))
    assert "--model scripted-cir" in error.value.hint


def test_generated_spans_are_stored_with_the_trace_and_carried_into_a_follow_up(store):
    """What the model wrote is saved with each trace save; a resumed session extends it."""
    session = scripted_session(CIR_REPLIES)
    sid = new_session(store)
    list(record(store, sid, session.run(QUESTION), session=session))
    stored = store.get(sid)
    assert stored.generated_spans == session.generated_spans and stored.generated_spans
    assert all(stored.trace[a:b] for a, b in stored.generated_spans)

    resumed = resume_session(scripted_runtime(CIR_FOLLOW_UP), stored)
    assert resumed.generated_spans == stored.generated_spans
    list(record(store, sid, resumed.run(FOLLOW_UP), session=resumed))
    again = store.get(sid)
    assert again.generated_spans[: len(stored.generated_spans)] == stored.generated_spans
    assert len(again.generated_spans) > len(stored.generated_spans)
    assert again.generated_spans == resumed.generated_spans
