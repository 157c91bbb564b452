"""``SessionStore``: every research session on disk, written as it happens, never lost.

One SQLite file in WAL mode. Each event is its own transaction, committed before ``append_event``
returns, so a crash or ``kill -9`` at any moment loses at most the event being written. That
is fast enough not to batch streamed deltas: ``scripts/bench sessions`` measures several thousand
committed events per second, dozens of times what a local model streams. With ``synchronous=NORMAL`` a committed transaction survives the death of the process;
only a power cut may drop the last few, and the file stays consistent even then.

The raw trace is stored as appended chunks: ``set_trace`` writes only what was added since the
last call, so saving it after every step costs little. A session holds one or more turns
(questions); a ``SessionStarted`` event opens the next one. Sessions still "running" when their
process died are marked "interrupted" on open, and can be continued with a follow-up question.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..paths import user_dirs
from ..research.events import EVENT_TYPES, Event, Finished, SessionStarted
from . import rows
from .models import (
    STATUSES,
    EventRecord,
    SessionBusyError,
    SessionSummary,
    StoredSession,
    StoreError,
    Turn,
)
from .owners import OwnerLock, owner_alive
from .rows import INTERRUPTED_DETAIL
from .schema import migrate

DEFAULT_FILE = "sessions.db"
BUSY_TIMEOUT_SECONDS = 10.0  # another process writing: wait this long before giving up
ID_BYTES = 6  # ids are 12 hex characters
CLOSED_DETAIL = "the program closed while this was running"
_HEX = re.compile(r"[0-9a-f]+")
_WORD = re.compile(r"\w+", re.UNICODE)


def default_path() -> Path:
    """``sessions.db`` in the user data folder (``IISEARCH_HOME/data`` when that is set)."""
    return user_dirs().data / DEFAULT_FILE


class SessionStore:
    """The session history: create, record, list, search, read, rename, delete.

    Thread-safe (one connection behind a lock); several processes may share the file.
    """

    def __init__(self, path: Path | str | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._clock = clock
        self._lock = threading.RLock()
        self._traces: dict[str, str] = {}  # session id -> the trace text last saved
        self._spans: dict[str, tuple[tuple[int, int], ...]] = {}  # ... and its spans
        self._owner = OwnerLock(self.path.with_name(self.path.name + ".owners"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), isolation_level=None,
                                       check_same_thread=False, timeout=BUSY_TIMEOUT_SECONDS)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the session history {self.path}: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            migrate(self._db)
        except sqlite3.OperationalError as exc:  # locked for too long, unreadable folder, ...
            self._db.close()
            raise StoreError(f"cannot open the session history {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"the session history {self.path} is damaged or not a database "
                             f"({exc})", hint="Move the file away; a new one will be created.") \
                from None
        except BaseException:
            self._db.close()
            raise
        self.recover()

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Mark this store's unfinished sessions interrupted and release the file."""
        with self._lock:
            if self._db is None:
                return
            if self._owner.held:
                with self._write() as db:
                    mine = [sid for (sid,) in db.execute(
                        "SELECT id FROM sessions WHERE status = 'running' AND owner = ?",
                        (self._owner.token,))]
                    rows.interrupt(db, mine, CLOSED_DETAIL)
            self._owner.release()
            self._db.close()
            self._db = None  # type: ignore[assignment]

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def recover(self) -> list[str]:
        """Mark sessions left running by a dead process "interrupted"; returns their ids."""
        with self._lock:
            running = self._conn.execute(
                "SELECT id, owner FROM sessions WHERE status = 'running'").fetchall()
            dead = [(sid, owner) for sid, owner in running
                    if owner != self._owner.token and not owner_alive(self._owner.folder, owner)]
            if not dead:
                return []
            with self._write() as db:  # only if nobody took a session over meanwhile
                still = [sid for sid, owner in dead if db.execute(
                    "SELECT 1 FROM sessions WHERE id = ? AND status = 'running' AND owner IS ?",
                    (sid, owner)).fetchone()]
                rows.interrupt(db, still, INTERRUPTED_DETAIL)
            return still

    # --- recording ----------------------------------------------------------------------------

    def create(self, *, question: str, model: str, backend: str, protocol: str,
               offline: bool = False, title: str | None = None) -> str:
        """A new session (status "running") whose first turn asks ``question``; returns its id."""
        now = self._clock()
        with self._lock:
            self._conn  # noqa: B018 - a closed store must not take an owner lock again
            token = self._owner.acquire()
            for _ in range(8):
                sid = secrets.token_hex(ID_BYTES)
                try:
                    with self._write() as db:
                        db.execute(
                            "INSERT INTO sessions(id, title, question, model, backend, protocol, "
                            "offline, status, turns, owner, owner_pid, created_at, updated_at, "
                            "generated_spans) VALUES (?,?,?,?,?,?,?,'running',1,?,?,?,?,'[]')",
                            (sid, title, question, model, backend, protocol, int(offline), token,
                             os.getpid(), now, now))
                        db.execute("INSERT INTO turns(session_id, number, question, status, "
                                   "started_at) VALUES (?, 1, ?, 'running', ?)",
                                   (sid, question, now))
                        rows.reindex(db, sid)
                except sqlite3.IntegrityError:
                    continue  # an id collision: draw again
                self._traces[sid] = ""
                return sid
        raise StoreError("could not find a free session id")  # pragma: no cover

    def append_event(self, session_id: str, event: Event, *, trace: str | None = None,
                     spans: Sequence[tuple[int, int]] | None = None) -> int:
        """Store ``event`` durably (and ``trace`` / its generated ``spans`` if given, together).

        A ``SessionStarted`` opens the next turn (a follow-up); a ``Finished`` ends the turn and
        sets the status. Returns the event's sequence number in the session.
        """
        data = rows.encode(event)
        now = self._clock()
        with self._lock:
            with self._write() as db:
                seq, turn, status, owner, _ = rows.session_state(db, session_id)
                if isinstance(event, SessionStarted):
                    self._check_not_busy(status, owner, "recorded by another process")
                    turn = rows.start_turn(db, session_id, event.question, turn,
                                           owner=self._owner.acquire(), pid=os.getpid(), now=now)
                db.execute("INSERT INTO events(session_id, seq, turn, type, data, at) "
                           "VALUES (?,?,?,?,?,?)", (session_id, seq, turn, event.type, data, now))
                db.execute("UPDATE sessions SET events = ?, updated_at = ? WHERE id = ?",
                           (seq + 1, now, session_id))
                if isinstance(event, Finished):
                    rows.end_turn(db, session_id, turn, event.reason, event.answer,
                                  event.detail, now)
                if trace is not None:
                    rows.save_trace(db, session_id, trace, self._traces.get(session_id))
                self._save_spans(db, session_id, spans)
            if trace is not None:  # remembered only once committed
                self._traces[session_id] = trace
        return seq

    def _save_spans(self, db: sqlite3.Connection, session_id: str,
                    spans: Sequence[tuple[int, int]] | None) -> None:
        # Spans change only when the model wrote something: skip identical rewrites.
        if spans is None or self._spans.get(session_id) == tuple(spans):
            return
        rows.save_spans(db, session_id, spans)
        self._spans[session_id] = tuple(spans)

    def set_trace(self, session_id: str, trace: str, *,
                  spans: Sequence[tuple[int, int]] | None = None) -> None:
        """Save the raw trace (only the text added since the last save is written) and spans."""
        with self._lock:
            with self._write() as db:
                rows.session_state(db, session_id)
                rows.save_trace(db, session_id, trace, self._traces.get(session_id))
                self._save_spans(db, session_id, spans)
            self._traces[session_id] = trace

    def finish(self, session_id: str, finished: Finished) -> None:
        """End the current turn with ``finished`` (stored as its event unless it already is)."""
        with self._lock:
            last = self._conn.execute(
                "SELECT data FROM events WHERE session_id = ? ORDER BY seq DESC LIMIT 1",
                (session_id,)).fetchone()
            if last is not None and last[0] == rows.encode(finished):
                return
            self.append_event(session_id, finished)

    def end_turn(self, session_id: str, status: str, detail: str = "") -> None:
        """End a running turn that has no ``Finished`` event (the run raised or was abandoned)."""
        if status not in STATUSES or status == "running":
            raise ValueError(f"not an end status: {status!r}")
        with self._lock, self._write() as db:
            _, turn, current, owner, _ = rows.session_state(db, session_id)
            if current != "running" or self._owned_elsewhere(owner):
                return  # not running, or another live process's run: not ours to end
            rows.end_turn(db, session_id, turn, status, None, detail, self._clock())

    # --- reading ------------------------------------------------------------------------------

    def list(self, limit: int = 50, query: str | None = None) -> list[SessionSummary]:
        """Sessions, most recently active first; ``query`` searches titles, questions, answers."""
        words = _WORD.findall(query or "")
        with self._lock:
            if words:
                match = " ".join(f'"{word}"*' for word in words)  # quoted: no FTS syntax leaks
                found = self._conn.execute(
                    f"SELECT {rows.columns('s.')} FROM sessions s JOIN session_search f "
                    "ON f.rowid = s.num WHERE session_search MATCH ? "
                    "ORDER BY s.updated_at DESC, s.num DESC LIMIT ?", (match, limit)).fetchall()
            else:
                found = self._conn.execute(
                    f"SELECT {rows.columns()} FROM sessions "
                    "ORDER BY updated_at DESC, num DESC LIMIT ?", (limit,)).fetchall()
        return [rows.summary_from_row(row) for row in found]

    def summary(self, session_id: str) -> SessionSummary:
        with self._lock:
            row = self._conn.execute(f"SELECT {rows.columns()} FROM sessions WHERE id = ?",
                                     (session_id,)).fetchone()
        if row is None:
            raise rows.not_found(session_id)
        return rows.summary_from_row(row)

    def get(self, session_id: str) -> StoredSession:
        """The whole session: summary, turns, every event in order, and the raw trace."""
        with self._lock:
            self._conn.execute("BEGIN")  # one snapshot, even while another process writes
            try:
                summary = self.summary(session_id)
                turns = self._conn.execute(
                    "SELECT number, question, status, answer, detail, started_at, finished_at "
                    "FROM turns WHERE session_id = ? ORDER BY number", (session_id,)).fetchall()
                stored_events = self._conn.execute(
                    "SELECT seq, turn, at, type, data FROM events WHERE session_id = ? "
                    "ORDER BY seq", (session_id,)).fetchall()
                chunks = self._conn.execute(
                    "SELECT text FROM trace_chunks WHERE session_id = ? ORDER BY seq",
                    (session_id,)).fetchall()
                (spans,) = self._conn.execute(
                    "SELECT generated_spans FROM sessions WHERE id = ?", (session_id,)).fetchone()
            finally:
                self._conn.execute("COMMIT")
        records: list[EventRecord] = []
        unreadable = 0
        for seq, turn, at, kind, data in stored_events:
            cls = EVENT_TYPES.get(kind)
            if cls is None:  # written by a newer version: keep the rest readable
                unreadable += 1
                continue
            records.append(EventRecord(seq=seq, turn=turn, at=at,
                                       event=cls.from_dict(json.loads(data))))
        return StoredSession(
            summary=summary,
            turns=tuple(Turn(number=n, question=q, status=s, answer=a, detail=d, started_at=b,
                             finished_at=f) for n, q, s, a, d, b, f in turns),
            records=tuple(records), trace="".join(text for (text,) in chunks),
            generated_spans=rows.decode_spans(spans), unreadable=unreadable)

    def resolve(self, prefix: str) -> str:
        """The full id of the one session whose id starts with ``prefix``."""
        prefix = prefix.strip().lower()
        with self._lock:
            if self._conn.execute("SELECT 1 FROM sessions WHERE id = ?", (prefix,)).fetchone():
                return prefix
            found = ([row[0] for row in self._conn.execute(
                "SELECT id FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
                (prefix, prefix + "g"))] if _HEX.fullmatch(prefix) else [])
        if not found:
            raise rows.not_found(prefix)
        if len(found) > 1:
            raise StoreError(f"several sessions start with {prefix!r}: {', '.join(found[:5])}",
                             hint="Give more characters of the id.")
        return found[0]

    # --- editing ------------------------------------------------------------------------------

    def rename(self, session_id: str, title: str) -> None:
        """Give the session a title (an empty one goes back to the first question)."""
        with self._lock, self._write() as db:
            rows.session_state(db, session_id)
            db.execute("UPDATE sessions SET title = ? WHERE id = ?",
                       (title.strip() or None, session_id))
            rows.reindex(db, session_id)

    def delete(self, session_id: str) -> None:
        """Remove the session and everything stored with it (refused while it is recording)."""
        with self._lock:
            with self._write() as db:
                _, _, status, owner, num = rows.session_state(db, session_id)
                if status == "running" and owner == self._owner.token:
                    raise SessionBusyError("this session is being recorded right now",
                                           hint="Cancel it first, then delete it.")
                self._check_not_busy(status, owner, "recorded right now")
                db.execute("DELETE FROM session_search WHERE rowid = ?", (num,))
                for table in ("events", "trace_chunks", "turns"):
                    db.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
                db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            self._traces.pop(session_id, None)
            self._spans.pop(session_id, None)

    def insert(self, stored: StoredSession, *, keep_id: bool = True) -> str:
        """Add a whole session (an import); returns its id, a new one if the old one is taken.

        A session that was still running when it was exported is stored as "interrupted".
        """
        s = stored.summary
        with self._lock:
            taken = self._conn.execute("SELECT 1 FROM sessions WHERE id = ?", (s.id,)).fetchone()
            sid = s.id if keep_id and not taken and _HEX.fullmatch(s.id) else None
            while sid is None or self._conn.execute(
                    "SELECT 1 FROM sessions WHERE id = ?", (sid,)).fetchone():
                sid = secrets.token_hex(ID_BYTES)
            with self._write() as db:
                rows.insert_stored(db, sid, stored)
        return sid

    def cited_sources(self, session_id: str) -> list:
        """Every page the session's answers cite, first citation first (see ``sources``)."""
        from .sources import cited_sources

        return cited_sources(self.get(session_id))

    def source_text(self, session_id: str, url: str, *, cache: object = None) -> object:
        """The text of ``url`` without the network (see ``sources.source_text``)."""
        from .sources import source_text

        return source_text(self.get(session_id), url, cache=cache)

    # --- internals ----------------------------------------------------------------------------

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the session store is closed")
        return self._db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (the caller holds ``_lock``)."""
        db = self._conn
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _owned_elsewhere(self, owner: str | None) -> bool:
        """Whether another live store (this process or another) records the session."""
        return owner not in (None, self._owner.token) and owner_alive(self._owner.folder, owner)

    def _check_not_busy(self, status: str, owner: str | None, doing: str) -> None:
        if status == "running" and self._owned_elsewhere(owner):
            raise SessionBusyError(f"this session is being {doing}",
                                   hint="Finish or cancel it there first.")
