"""The session database's schema, as append-only migrations.

``MIGRATIONS[n - 1]`` brings a database from version ``n - 1`` to ``n``. A released step is never
edited (``tests/sessions/test_migrations.py`` pins each one's hash); a change of schema is a new
step at the end. Each step runs in one transaction together with its row in ``migrations``, so a
crash mid-upgrade leaves the database at the previous version, never half-way.
"""

from __future__ import annotations

import sqlite3
import time

from .models import StoreError

# Version 1: sessions, their turns (questions), every event, and the raw trace in appended chunks.
_V1 = """
CREATE TABLE sessions(
    num INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    title TEXT,
    question TEXT NOT NULL,
    model TEXT NOT NULL,
    backend TEXT NOT NULL,
    protocol TEXT NOT NULL,
    offline INTEGER NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL DEFAULT '',
    turns INTEGER NOT NULL DEFAULT 0,
    events INTEGER NOT NULL DEFAULT 0,
    trace_chunks INTEGER NOT NULL DEFAULT 0,
    trace_chars INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    owner_pid INTEGER,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL);
CREATE INDEX sessions_updated ON sessions(updated_at);
CREATE INDEX sessions_status ON sessions(status);
CREATE TABLE turns(
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    question TEXT NOT NULL,
    status TEXT NOT NULL,
    answer TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    started INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL,
    finished_at REAL,
    PRIMARY KEY (session_id, number)) WITHOUT ROWID;
CREATE TABLE events(
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    turn INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (session_id, seq)) WITHOUT ROWID;
CREATE TABLE trace_chunks(
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)) WITHOUT ROWID;
"""

# Version 2: full-text search over titles, questions and answers (one row per session, rowid =
# sessions.num), filled for the sessions a version-1 database already holds.
_V2 = """
CREATE VIRTUAL TABLE session_search USING fts5(
    title, questions, answers, tokenize = 'unicode61 remove_diacritics 2');
INSERT INTO session_search(rowid, title, questions, answers)
    SELECT s.num, COALESCE(s.title, ''),
           COALESCE((SELECT group_concat(t.question, char(10)) FROM turns t
                     WHERE t.session_id = s.id), ''),
           COALESCE((SELECT group_concat(t.answer, char(10)) FROM turns t
                     WHERE t.session_id = s.id), '')
    FROM sessions s;
"""

# Version 3: the character ranges of the trace the model generated (JSON ``[[start, end], ...]``),
# what fine-tuning trains on. NULL for sessions recorded before: their model text is unknown.
_V3 = """
ALTER TABLE sessions ADD COLUMN generated_spans TEXT;
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


def statements(script: str) -> list[str]:
    """Split a script into complete SQL statements (``;`` inside a statement stays put)."""
    out: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n\t;"):
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip(" \n\t;"):
        raise ValueError(f"incomplete SQL statement: {buffer.strip()[:80]!r}")
    return out


def current_version(db: sqlite3.Connection) -> int:
    """The schema version of ``db`` (0 for a new file)."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations("
               "version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    row = db.execute("SELECT MAX(version) FROM migrations").fetchone()
    return int(row[0] or 0)


def migrate(db: sqlite3.Connection, *, upto: int | None = None) -> int:
    """Apply the missing steps up to ``upto`` (default: all); returns the version reached.

    Safe when several processes open the same file at once: each step re-reads the version
    inside its write transaction. ``db`` must be in autocommit mode (``isolation_level=None``).
    """
    target = SCHEMA_VERSION if upto is None else upto
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            version = current_version(db)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the session database is at version {version}, newer than this program "
                    f"knows ({SCHEMA_VERSION})",
                    hint="Update iisearch-local, or move the file away to start a new history.")
            if version >= target:
                db.execute("COMMIT")
                return version
            for statement in statements(MIGRATIONS[version]):
                db.execute(statement)
            db.execute("INSERT INTO migrations(version, applied_at) VALUES (?, ?)",
                        (version + 1, time.time()))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
