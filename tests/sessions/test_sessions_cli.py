"""``iisearch sessions``: exact output and the database rows behind it."""

from __future__ import annotations

import json
import sqlite3

import pytest
from sessionstest_helpers import TOWER, Ticker

from iisearch_local.cli import main
from iisearch_local.research import events as ev
from iisearch_local.sessions import SessionStore, default_path
from iisearch_local.sessions.export import to_json

START = 1748872920.0  # 2025-06-02 14:02:00 UTC; the Ticker adds a second per call
LONG_QUESTION = ("What were the three most important engineering problems solved while "
                 "building the tower?")


@pytest.fixture
def sessions(home, monkeypatch):
    """Two stored sessions with fixed ids and times, in the default store of ``home``."""
    ids = iter(["a1b2c3d4e5f6", "0f0e0d0c0b0a"])
    with monkeypatch.context() as patch:
        patch.setattr("iisearch_local.sessions.store.secrets.token_hex", lambda n: next(ids))
        store = SessionStore(clock=Ticker(START))
        first = store.create(question="Who designed the Eiffel Tower?", model="II-Search-CIR-4B",
                             backend="llama", protocol="cir")
        store.append_event(first, ev.Finished(
            reason="answered", answer=f"Koechlin and Nouguier ([Eiffel Tower]({TOWER})).",
            sources=(ev.Source(number=1, url=TOWER, title="Eiffel Tower", supporting_text="",
                               visited=True, searched=True),)))
        second = store.create(question=LONG_QUESTION, model="II-Search-4B", backend="mlx",
                              protocol="tools", offline=True)
        store.end_turn(second, "cancelled", "cancelled")
        store.close()
    return first, second


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def db_rows(sql, *params):
    with sqlite3.connect(default_path()) as raw:
        return raw.execute(sql, params).fetchall()


def test_list_prints_a_table_newest_first(sessions, capsys):
    assert run(capsys, "sessions", "list") == (0, (
        "ID            UPDATED           STATUS     TURNS  TITLE\n"
        "0f0e0d0c0b0a  2025-06-02 14:02  cancelled      1  What were the three most important "
        "engineering problems...\n"
        "a1b2c3d4e5f6  2025-06-02 14:02  answered       1  Who designed the Eiffel Tower?\n"),
        "")


def test_list_searches_and_says_when_nothing_matches(sessions, capsys):
    code, out, _ = run(capsys, "sessions", "list", "--query", "nouguier")
    assert code == 0 and out.splitlines()[1:] == [
        "a1b2c3d4e5f6  2025-06-02 14:02  answered      1  Who designed the Eiffel Tower?"]
    assert run(capsys, "sessions", "list", "-q", "zeppelin") == (0, "No matching sessions.\n", "")


def test_list_on_an_empty_history_and_as_json(home, capsys):
    assert run(capsys, "sessions", "list") == (0, "No stored sessions yet.\n", "")
    assert run(capsys, "sessions", "list", "--json") == (0, "[]\n", "")


def test_list_json_has_every_summary_field(sessions, capsys):
    code, out, _ = run(capsys, "sessions", "list", "--json", "-n", "1")
    assert code == 0
    assert json.loads(out) == [{
        "id": "0f0e0d0c0b0a", "title": LONG_QUESTION, "question": LONG_QUESTION,
        "model": "II-Search-4B", "backend": "mlx", "protocol": "tools", "offline": True,
        "status": "cancelled", "detail": "cancelled", "answer": "", "turns": 1, "events": 0,
        "created_at": START + 3, "updated_at": START + 4, "renamed": False}]


def test_show_prints_the_markdown(sessions, capsys):
    code, out, err = run(capsys, "sessions", "show", "a1b2")
    assert (code, err) == (0, "")
    assert out == (
        "# Who designed the Eiffel Tower?\n\n"
        "- Session: `a1b2c3d4e5f6`\n"
        "- Model: II-Search-CIR-4B (cir protocol, llama backend)\n"
        "- Created: 2025-06-02 14:02 UTC\n"
        "- Status: answered\n\n"
        "## Question\n\nWho designed the Eiffel Tower?\n\n"
        "## Answer\n\nKoechlin and Nouguier ([Eiffel Tower](https://local.example/eiffel-tower)).\n\n"
        "### References\n\n"
        "1. Eiffel Tower: <https://local.example/eiffel-tower>\n")


def test_export_json_to_a_file_and_import_it_back(sessions, capsys, tmp_path):
    target = tmp_path / "out" / "tower.json"
    target.parent.mkdir()
    assert run(capsys, "sessions", "export", "a1b2c3", "--format", "json", "-o", str(target)) == (
        0, "", f"Exported session a1b2c3d4e5f6 to {target}\n")
    exported = target.read_text("utf-8")
    assert json.loads(exported)["session"]["id"] == "a1b2c3d4e5f6"
    code, out, _ = run(capsys, "sessions", "import", str(target))  # the id is taken: a new one
    new_id = out.split()[1].rstrip(":")
    assert (code, out) == (0, f"Imported {new_id}: Who designed the Eiffel Tower?\n")
    assert new_id != "a1b2c3d4e5f6"
    assert db_rows("SELECT question, status, events FROM sessions WHERE id = ?", new_id) == [
        ("Who designed the Eiffel Tower?", "answered", 1)]
    store = SessionStore()
    copy = json.loads(to_json(store.get(new_id)))
    store.close()
    copy["session"]["id"] = "a1b2c3d4e5f6"
    assert copy == json.loads(exported)


def test_export_markdown_to_stdout(sessions, capsys):
    code, out, _ = run(capsys, "sessions", "export", "0f0e", "--trace")
    assert code == 0
    assert out.endswith("## Answer\n\n_No answer (cancelled: cancelled)_\n\n### Research\n")


def test_rename_changes_the_title_row(sessions, capsys):
    assert run(capsys, "sessions", "rename", "0f0e", "Tower engineering") == (
        0, "Renamed 0f0e0d0c0b0a: Tower engineering\n", "")
    assert db_rows("SELECT title FROM sessions WHERE id = '0f0e0d0c0b0a'") == [
        ("Tower engineering",)]
    code, out, _ = run(capsys, "sessions", "list", "-q", "engineering")
    assert "Tower engineering" in out


def test_delete_asks_first(sessions, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("n\n"))
    code, out, err = run(capsys, "sessions", "delete", "a1b2")
    assert code == 130 and err == "Aborted.\n"
    assert out == "Delete session a1b2c3d4e5f6 (Who designed the Eiffel Tower?)? [y/N]: "
    assert db_rows("SELECT COUNT(*) FROM sessions") == [(2,)]
    assert run(capsys, "sessions", "delete", "a1b2", "--yes") == (0, "Deleted a1b2c3d4e5f6.\n", "")
    assert db_rows("SELECT id FROM sessions") == [("0f0e0d0c0b0a",)]
    assert db_rows("SELECT COUNT(*) FROM events") == [(0,)]


def test_unknown_and_ambiguous_ids_are_clear_errors(sessions, capsys):
    assert run(capsys, "sessions", "show", "ffff") == (
        1, "", "Error: no stored session 'ffff'\nList them with: iisearch sessions list\n")
    assert run(capsys, "sessions", "delete", "", "--yes")[0] == 1  # an empty id names nothing
    assert db_rows("SELECT COUNT(*) FROM sessions") == [(2,)]


def test_importing_a_file_that_is_not_an_export_changes_nothing(sessions, capsys, tmp_path):
    """A config file passed by mistake: a clear error, no rows."""
    wrong = tmp_path / "config.toml"
    wrong.write_text("[model]\nname = 'x'\n")
    code, out, err = run(capsys, "sessions", "import", str(wrong))
    assert (code, out) == (1, "")
    assert err.startswith("Error: the file is not valid JSON")
    assert db_rows("SELECT COUNT(*) FROM sessions") == [(2,)]
