"""Markdown and JSON exports, and importing the JSON back exactly."""

from __future__ import annotations

import json

import pytest
from sessionstest_helpers import (
    CIR_FOLLOW_UP,
    CIR_REPLIES,
    FOLLOW_UP,
    QUESTION,
    TOOLS_REPLIES,
    TOWER,
    Ticker,
    scripted_session,
)

from iisearch_local.research import events as ev
from iisearch_local.sessions import SessionStore
from iisearch_local.sessions.export import (
    ImportFormatError,
    import_session,
    to_json,
    to_json_dict,
    to_markdown,
)
from iisearch_local.sessions.recorder import record


def fixed_session(store, monkeypatch) -> str:
    """A hand-written turn with every kind of step, so the Markdown is fully predictable."""
    monkeypatch.setattr("iisearch_local.sessions.store.secrets.token_hex", lambda n: "a1b2c3d4e5f6")
    sid = store.create(question=QUESTION, model="II-Search-CIR-4B", backend="llama",
                       protocol="cir", offline=True)
    hit = ev.Hit(index=1, url=TOWER, title="Eiffel [Tower]", preview="A tower.")
    steps = [
        ev.SessionStarted(question=QUESTION, protocol="cir", model="II-Search-CIR-4B",
                          date="Mon, 02 Jun 2025 14:03:00 GMT"),
        ev.ReasoningDelta(text="Search first.\n\nThen "), ev.ReasoningDelta(text="read."),
        ev.CodeBlock(index=1, code="print(web_search(query='tower'))"),
        ev.SearchDone(query="tower", max_results=5, hits=(hit,), output="Index: 1", error=None,
                      seconds=0.1),
        ev.CodeResult(index=1, output="Index: 1", error=None, seconds=0.2,
                      observation="Index: 1\nURL: https://local.example/eiffel-tower"),
        ev.VisitDone(url=TOWER, title="Eiffel Tower", output="The tower page.", error=None,
                     seconds=0.1),
        ev.Notice(code="format_error", message="Corrected the model: no code."),
        ev.AnswerDelta(text="Not yet"), ev.AnswerReset(reason="the model called a tool"),
        ev.ToolCall(index=1, name="web_visit", arguments={"url": TOWER}),
        ev.ToolResult(index=1, name="web_visit", output="```\nfenced\n```", error=None,
                      seconds=0.1),
        ev.Finished(reason="answered", answer=f"Koechlin and Nouguier ([Eiffel Tower]({TOWER})).",
                    sources=(ev.Source(number=1, url=TOWER, title="Eiffel Tower",
                                       supporting_text="The design came from Koechlin.",
                                       visited=True, searched=True),),
                    stats=ev.Stats(searches=1, visits=1, tool_calls=2, completion_tokens=42,
                                   wall_seconds=3.25)),
    ]
    for step in steps:
        store.append_event(sid, step)
    return sid


EXPECTED_MARKDOWN = """\
# Who designed the Eiffel Tower?

- Session: `a1b2c3d4e5f6`
- Model: II-Search-CIR-4B (cir protocol, llama backend, offline)
- Created: 2025-06-02 14:03 UTC
- Status: answered

## Question

Who designed the Eiffel Tower?

## Answer

Koechlin and Nouguier ([Eiffel Tower](https://local.example/eiffel-tower)).

### References

1. Eiffel Tower: <https://local.example/eiffel-tower>
   > The design came from Koechlin.
"""

EXPECTED_TRACE = """\
### Research

> Search first.
>
> Then read.

**Code 1**

```python
print(web_search(query='tower'))
```

- Search `tower`: 1 results
  1. [Eiffel \\[Tower\\]](<https://local.example/eiffel-tower>)

```output
Index: 1
URL: https://local.example/eiffel-tower
```

- Visit <https://local.example/eiffel-tower>: Eiffel Tower

_Note: Corrected the model: no code._

_The text before this was not the answer (the model called a tool)._

**Tool call 1: web_visit**

```json
{
 "url": "https://local.example/eiffel-tower"
}
```

````output
```
fenced
```
````

_Finished: answered - 1 searches, 1 visits, 2 tool calls, 42 tokens generated, 3.2 s_
"""


def test_markdown_has_the_question_answer_and_numbered_references(tmp_path, monkeypatch):
    store = SessionStore(tmp_path / "s.db", clock=Ticker(1748872979.0))
    sid = fixed_session(store, monkeypatch)
    assert to_markdown(store.get(sid)) == EXPECTED_MARKDOWN
    # With the trace: every step, fences longer than any fence inside the text.
    assert to_markdown(store.get(sid), trace=True) == EXPECTED_MARKDOWN + "\n" + EXPECTED_TRACE
    store.close()


def test_markdown_numbers_turns_and_says_how_an_unanswered_one_ended(store):
    session = scripted_session(CIR_REPLIES)
    sid = store.create(question=QUESTION, model="m", backend="b", protocol="cir")
    list(record(store, sid, session.run(QUESTION), session=session))
    store.append_event(sid, ev.SessionStarted(question=FOLLOW_UP, protocol="cir", model="m",
                                              date="d", follow_up=True))
    store.end_turn(sid, "error", "the engine fell over")
    text = to_markdown(store.get(sid))
    assert "## Question 1\n\nWho designed" in text and "## Answer 1\n\nMaurice Koechlin" in text
    assert "## Question 2 (follow-up)\n\nAnd how tall is it?" in text
    assert text.endswith("## Answer 2\n\n_No answer (error: the engine fell over)_\n")


def record_two_sessions(store):
    cir = store.create(question=QUESTION, model="scripted-cir", backend="scripted",
                       protocol="cir")
    session = scripted_session(CIR_REPLIES)
    list(record(store, cir, session.run(QUESTION), session=session))
    session.backend.queue(*CIR_FOLLOW_UP)
    list(record(store, cir, session.run(FOLLOW_UP), session=session))
    store.rename(cir, "Tower — “quotes” and ünïcode")
    tools = store.create(question="Marie Curie's prizes?", model="scripted-tools",
                         backend="scripted", protocol="tools", offline=True)
    session = scripted_session(TOOLS_REPLIES, "tools")
    list(record(store, tools, session.run("Marie Curie's prizes?"), session=session))
    return cir, tools


def test_json_export_imports_back_exactly(store, tmp_path):
    ids = record_two_sessions(store)
    other = SessionStore(tmp_path / "other.db")
    for sid in ids:
        exported = to_json(store.get(sid))
        assert import_session(other, exported) == sid  # a free id is kept
        assert to_json(other.get(sid)) == exported  # byte for byte
        assert other.get(sid).events == store.get(sid).events
        assert other.get(sid).generated_spans == store.get(sid).generated_spans
        assert store.get(sid).generated_spans  # the model's text travels with the export
    assert [s.id for s in other.list(query="ünïcode")] == [ids[0]]  # searchable after import
    other.close()


def test_importing_into_the_same_store_gives_a_new_id(store, tmp_path):
    cir, _ = record_two_sessions(store)
    path = tmp_path / "export.json"
    path.write_text(to_json(store.get(cir)), "utf-8")
    copy = import_session(store, path)
    assert copy != cir
    original, imported = to_json_dict(store.get(cir)), to_json_dict(store.get(copy))
    imported["session"]["id"] = cir
    assert imported == original


def test_a_running_session_imports_as_interrupted(store, tmp_path):
    sid = store.create(question=QUESTION, model="m", backend="b", protocol="cir")
    store.append_event(sid, ev.ReasoningDelta(text="half"))
    other = SessionStore(tmp_path / "other.db")
    copy = import_session(other, to_json(store.get(sid)))
    assert other.get(copy).status == "interrupted"
    assert [t.status for t in other.get(copy).turns] == ["interrupted"]
    other.close()


@pytest.mark.parametrize("text, message", [
    ("not json at all", "not valid JSON"),
    ("[1, 2]", "not an iisearch session export"),
    ('{"format": "something-else"}', "not an iisearch session export"),
    ('{"format": "iisearch-session", "version": 99}', "unsupported export version 99"),
    ('{"format": "iisearch-session", "version": 1}', "damaged (KeyError"),
])
def test_bad_import_files_are_clear_errors(store, text, message):
    """Files that are not exports, from a future version, or cut short are refused whole."""
    with pytest.raises(ImportFormatError, match=message.replace("(", r"\(")):
        import_session(store, text)
    assert store.list() == []


def test_a_damaged_event_in_an_import_stores_nothing(store, tmp_path):
    """One event of an unknown type or with a missing field: the whole import is refused."""
    cir, _ = record_two_sessions(store)
    data = to_json_dict(store.get(cir))
    store.delete(cir)
    before = [s.id for s in store.list()]
    broken = json.loads(json.dumps(data))
    broken["events"][3]["event"]["type"] = "hologram"
    with pytest.raises(ImportFormatError, match="not a research event"):
        import_session(store, broken)
    broken = json.loads(json.dumps(data))
    del broken["events"][2]["event"]["text"]
    with pytest.raises(ImportFormatError, match="damaged"):
        import_session(store, broken)
    assert [s.id for s in store.list()] == before


def test_generated_spans_outside_the_trace_refuse_the_import(store, tmp_path):
    """A hand-edited export whose model spans point past the trace is refused, nothing stored."""
    cir, _ = record_two_sessions(store)
    data = to_json_dict(store.get(cir))
    data["generated_spans"] = [[0, len(data["trace"]) + 5]]
    other = SessionStore(tmp_path / "other.db")
    with pytest.raises(ImportFormatError, match="generated span"):
        import_session(other, data)
    assert other.list() == []
    data.pop("generated_spans")  # an export from before spans existed still imports
    assert other.get(import_session(other, data)).generated_spans is None
    other.close()
