"""The SQL behind ``SessionStore``: each function works inside the caller's transaction.

Kept apart from the store so the store reads as policy (who may write, when to commit) and this
module as the data layout (which rows change together).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ..research.events import Event, SessionStarted
from .models import SessionNotFoundError, SessionSummary, StoredSession

INTERRUPTED_DETAIL = "the program stopped while this was running"
SUMMARY_COLUMNS = ("id", "title", "question", "model", "backend", "protocol", "offline",
                   "status", "detail", "answer", "turns", "events", "created_at", "updated_at")


def encode(event: Event) -> str:
    """The stored form of an event: compact JSON of ``to_dict``."""
    return json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":"))


def columns(prefix: str = "") -> str:
    return ", ".join(prefix + name for name in SUMMARY_COLUMNS)


def summary_from_row(row: tuple) -> SessionSummary:
    values = dict(zip(SUMMARY_COLUMNS, row))
    title = values["title"]
    values.update(title=title or values["question"], offline=bool(values["offline"]),
                  renamed=title is not None)
    return SessionSummary(**values)


def not_found(session_id: str) -> SessionNotFoundError:
    return SessionNotFoundError(f"no stored session {session_id!r}",
                                hint="List them with: iisearch sessions list")


def session_state(db: sqlite3.Connection,
                  session_id: str) -> tuple[int, int, str, str | None, int]:
    """(next event seq, current turn, status, owner, num) of a session."""
    row = db.execute("SELECT events, turns, status, owner, num FROM sessions WHERE id = ?",
                     (session_id,)).fetchone()
    if row is None:
        raise not_found(session_id)
    return row


def start_turn(db: sqlite3.Connection, sid: str, question: str, turn: int, *, owner: str,
               pid: int, now: float) -> int:
    """The turn a ``SessionStarted`` opens: the one ``create`` made if unused, else the next."""
    row = db.execute("SELECT started, status FROM turns WHERE session_id = ? AND number = ?",
                     (sid, turn)).fetchone()
    if row is not None and not row[0]:
        db.execute("UPDATE turns SET started = 1, question = ?, status = 'running', "
                   "started_at = ? WHERE session_id = ? AND number = ?", (question, now, sid, turn))
    else:
        if row is not None and row[1] == "running":  # it never ended: say so, keep its events
            db.execute("UPDATE turns SET status = 'interrupted', detail = ? "
                       "WHERE session_id = ? AND number = ?", (INTERRUPTED_DETAIL, sid, turn))
        turn += 1
        db.execute("INSERT INTO turns(session_id, number, question, status, started, started_at) "
                   "VALUES (?, ?, ?, 'running', 1, ?)", (sid, turn, question, now))
    db.execute("UPDATE sessions SET turns = ?, status = 'running', detail = '', owner = ?, "
               "owner_pid = ? WHERE id = ?", (turn, owner, pid, sid))
    reindex(db, sid)
    return turn


def end_turn(db: sqlite3.Connection, sid: str, turn: int, status: str, answer: str | None,
             detail: str, now: float) -> None:
    """Set the turn's and the session's end status (``answer=None`` keeps the answer)."""
    db.execute("UPDATE turns SET status = ?, answer = COALESCE(?, answer), detail = ?, "
               "finished_at = ? WHERE session_id = ? AND number = ?",
               (status, answer, detail, now, sid, turn))
    db.execute("UPDATE sessions SET status = ?, answer = COALESCE(?, answer), detail = ?, "
               "owner = NULL, owner_pid = NULL, updated_at = ? WHERE id = ?",
               (status, answer, detail, now, sid))
    if answer is not None:
        reindex(db, sid)


def interrupt(db: sqlite3.Connection, ids: list[str], detail: str) -> None:
    """Mark running sessions and their running turns "interrupted"."""
    for sid in ids:
        db.execute("UPDATE turns SET status = 'interrupted', detail = ? "
                   "WHERE session_id = ? AND status = 'running'", (detail, sid))
        db.execute("UPDATE sessions SET status = 'interrupted', detail = ?, owner = NULL, "
                   "owner_pid = NULL WHERE id = ?", (detail, sid))


def stored_trace(db: sqlite3.Connection, sid: str) -> str:
    return "".join(text for (text,) in db.execute(
        "SELECT text FROM trace_chunks WHERE session_id = ? ORDER BY seq", (sid,)))


def save_trace(db: sqlite3.Connection, sid: str, trace: str, known: str | None) -> None:
    """Append the new end of ``trace`` (or replace it all when it is not an extension).

    ``known`` is the trace this writer saved last; it is checked against the stored length
    and re-read when another writer changed the trace since.
    """
    chunks, chars = db.execute("SELECT trace_chunks, trace_chars FROM sessions WHERE id = ?",
                               (sid,)).fetchone()
    saved = known if known is not None and len(known) == chars else stored_trace(db, sid)
    if trace is saved or trace == saved:
        return
    if trace.startswith(saved):
        db.execute("INSERT INTO trace_chunks(session_id, seq, text) VALUES (?, ?, ?)",
                   (sid, chunks, trace[len(saved):]))
        chunks += 1
    else:
        db.execute("DELETE FROM trace_chunks WHERE session_id = ?", (sid,))
        db.execute("INSERT INTO trace_chunks(session_id, seq, text) VALUES (?, 0, ?)",
                   (sid, trace))
        chunks = 1
    db.execute("UPDATE sessions SET trace_chunks = ?, trace_chars = ? WHERE id = ?",
               (chunks, len(trace), sid))


def encode_spans(spans: Sequence[tuple[int, int]]) -> str:
    return json.dumps([[int(a), int(b)] for a, b in spans], separators=(",", ":"))


def decode_spans(text: str | None) -> tuple[tuple[int, int], ...] | None:
    """The stored generated spans; ``None`` when never recorded (or unreadable)."""
    if text is None:
        return None
    try:
        return tuple((int(a), int(b)) for a, b in json.loads(text))
    except (ValueError, TypeError):
        return None


def save_spans(db: sqlite3.Connection, sid: str, spans: Sequence[tuple[int, int]]) -> None:
    db.execute("UPDATE sessions SET generated_spans = ? WHERE id = ?", (encode_spans(spans), sid))


def reindex(db: sqlite3.Connection, sid: str) -> None:
    """Refresh the session's full-text row (title, questions, answers)."""
    num = db.execute("SELECT num FROM sessions WHERE id = ?", (sid,)).fetchone()[0]
    db.execute("DELETE FROM session_search WHERE rowid = ?", (num,))
    db.execute(
        "INSERT INTO session_search(rowid, title, questions, answers) "
        "SELECT s.num, COALESCE(s.title, ''), "
        "COALESCE((SELECT group_concat(question, char(10)) FROM turns "
        "WHERE session_id = s.id), ''), "
        "COALESCE((SELECT group_concat(answer, char(10)) FROM turns WHERE session_id = s.id), '') "
        "FROM sessions s WHERE s.num = ?", (num,))


def insert_stored(db: sqlite3.Connection, sid: str, stored: StoredSession) -> None:
    """Write a whole session under ``sid``; what was running is stored as "interrupted"."""
    s = stored.summary
    started = {r.turn for r in stored.records if isinstance(r.event, SessionStarted)}

    def settled(status: str) -> str:
        return "interrupted" if status == "running" else status

    db.execute(
        "INSERT INTO sessions(id, title, question, model, backend, protocol, offline, status, "
        "detail, answer, turns, events, trace_chunks, trace_chars, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (sid, s.title if s.renamed else None, s.question, s.model, s.backend, s.protocol,
         int(s.offline), settled(s.status), s.detail, s.answer, len(stored.turns),
         max((r.seq for r in stored.records), default=-1) + 1, 1 if stored.trace else 0,
         len(stored.trace), s.created_at, s.updated_at))
    db.executemany(
        "INSERT INTO turns(session_id, number, question, status, answer, detail, started, "
        "started_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?)",
        [(sid, t.number, t.question, settled(t.status), t.answer, t.detail,
          int(t.number in started), t.started_at, t.finished_at) for t in stored.turns])
    db.executemany(
        "INSERT INTO events(session_id, seq, turn, type, data, at) VALUES (?,?,?,?,?,?)",
        [(sid, r.seq, r.turn, r.event.type, encode(r.event), r.at) for r in stored.records])
    if stored.trace:
        db.execute("INSERT INTO trace_chunks(session_id, seq, text) VALUES (?, 0, ?)",
                   (sid, stored.trace))
    if stored.generated_spans is not None:
        save_spans(db, sid, stored.generated_spans)
    reindex(db, sid)
