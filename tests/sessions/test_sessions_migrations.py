"""Schema migrations: released steps never change, old databases upgrade, failures roll back."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

from iisearch_local.research import events as ev
from iisearch_local.sessions import SessionStore, schema

# sha256 of each released step. Never edit a released step: add a new one at the end instead
# (and pin its hash here when it ships).
RELEASED = {
    1: "e2fb6674a4ccdd42889f64c62e282f718b7efab7f697e6ae19aa51b855a0d80d",
    2: "1e14cf4c22b13d1416de54e93bc7464ee6b4baafc2194ca2647f880e1a735db6",
    3: "c08685f83b9236877d1e973ba9f903377592135812bdd0a28c10dd0cd0a9bbc9",
}


def test_released_steps_are_unchanged():
    assert len(schema.MIGRATIONS) >= len(RELEASED)
    for version, digest in RELEASED.items():
        step = schema.MIGRATIONS[version - 1]
        assert hashlib.sha256(step.encode()).hexdigest() == digest, (
            f"migration {version} was edited; add a new step instead")


def open_raw(path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_a_version_1_database_upgrades_and_keeps_its_sessions(tmp_path):
    """A history written before full-text search existed: opening it adds search over it."""
    path = tmp_path / "old.db"
    raw = open_raw(path)
    assert schema.migrate(raw, upto=1) == 1
    event = ev.Notice(code="x", message="from the old days")
    raw.executescript(f"""
        INSERT INTO sessions(id, question, model, backend, protocol, offline, status, turns,
                             events, trace_chunks, trace_chars, created_at, updated_at)
            VALUES ('0123456789ab', 'Who built the old bridge?', 'm', 'llama', 'cir', 0,
                    'answered', 1, 1, 1, 5, 100.0, 200.0);
        INSERT INTO turns(session_id, number, question, status, answer, started, started_at)
            VALUES ('0123456789ab', 1, 'Who built the old bridge?', 'answered',
                    'Engineers from Lyon built it.', 1, 100.0);
        INSERT INTO events VALUES ('0123456789ab', 0, 1, 'notice', '{_sql(event)}', 150.0);
        INSERT INTO trace_chunks VALUES ('0123456789ab', 0, 'trace');
    """)
    raw.close()

    store = SessionStore(path)
    try:
        versions = store._db.execute("SELECT version FROM migrations ORDER BY version").fetchall()
        assert versions == [(v,) for v in range(1, schema.SCHEMA_VERSION + 1)]
        assert [s.id for s in store.list(query="lyon")] == ["0123456789ab"]
        assert [s.id for s in store.list(query="bridge")] == ["0123456789ab"]
        stored = store.get("0123456789ab")
        assert stored.events == [event] and stored.trace == "trace"
        assert stored.generated_spans is None  # recorded before spans existed: unknown
        sid = store.create(question="A new one", model="m", backend="b", protocol="cir")
        assert [s.id for s in store.list(query="new")] == [sid]
        assert store.get(sid).generated_spans == ()
    finally:
        store.close()


def _sql(event: ev.Event) -> str:
    import json

    return json.dumps(event.to_dict()).replace("'", "''")


def test_a_failing_step_leaves_the_previous_version(tmp_path, monkeypatch):
    """A step that breaks half-way (here: its second statement) is rolled back as a whole."""
    path = tmp_path / "s.db"
    SessionStore(path).close()
    broken = "CREATE TABLE extra(x INTEGER);\nINSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        schema.migrate(open_raw(path))
    raw = open_raw(path)
    assert schema.current_version(raw) == len(schema.MIGRATIONS) - 1
    assert raw.execute("SELECT name FROM sqlite_master WHERE name = 'extra'").fetchall() == []


def test_opening_an_up_to_date_database_changes_nothing(tmp_path):
    path = tmp_path / "s.db"
    SessionStore(path).close()
    SessionStore(path).close()
    raw = open_raw(path)
    assert raw.execute("SELECT COUNT(*) FROM migrations").fetchone() == (schema.SCHEMA_VERSION,)


def test_statements_split_on_semicolons_outside_strings_and_triggers():
    script = ("CREATE TABLE a(x TEXT DEFAULT ';');\n"
              "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2; END;\n"
              "  ;\n")
    assert schema.statements(script) == [
        "CREATE TABLE a(x TEXT DEFAULT ';');",
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2; END;"]
    with pytest.raises(ValueError, match="incomplete"):
        schema.statements("INSERT INTO a VALUES ('unterminated; string")
