"""Cancelling a running session from another thread: it stops soon and the trace stays usable.

The bound is generous (the machine is shared) but well below anything a stuck loop would take.
"""

from __future__ import annotations

import threading
import time

import pytest
from researchtest_helpers import SlowBackend, finished, of_type

from iisearch_local.backends.scripted import ScriptedBackend
from iisearch_local.research import ResearchSession
from iisearch_local.research import events as ev

STOP_BOUND_SECONDS = 1.5


def run_and_cancel(session, question, *, when):
    """Run ``question``; call ``session.cancel()`` from a timer thread once ``when(event)``."""
    events, cancelled_at = [], []
    timer = None

    def cancel():
        cancelled_at.append(time.monotonic())
        session.cancel()

    for event in session.run(question):
        events.append(event)
        if timer is None and when(event):
            timer = threading.Timer(0.1, cancel)
            timer.start()
    assert cancelled_at, "the run ended before it could be cancelled"
    return events, time.monotonic() - cancelled_at[0]


def test_cancel_while_the_model_is_writing(source):
    backend = SlowBackend(ScriptedBackend(["thinking " * 100_000, "Later.\n</think>\n\nLater."]))
    session = ResearchSession(backend, tools=source.functions())
    events, took = run_and_cancel(session, "Q?", when=lambda e: isinstance(e, ev.ReasoningDelta))
    done = finished(events)
    assert done.reason == "cancelled" and took < STOP_BOUND_SECONDS
    # What the model wrote before the cancel is in the trace, and the turn is closed.
    assert "thinking thinking" in session.trace and session.trace.endswith("<|im_end|>\n")
    # The session can go on with a follow-up afterwards.
    again = finished(list(session.run("And now?")))
    assert again.reason == "answered" and again.answer == "Later."


def test_cancel_while_a_tool_blocks(source):
    """A tool that never returns (a hung fetch): the loop stops waiting and ends cleanly."""
    release = threading.Event()

    def hung_search(query, num_result=5):
        release.wait(30)
        return "late"

    call = ('<think>\nGo.\n</think>\n\n<tool_call>\n'
            '{"name": "web_search", "arguments": {"query": "x"}}\n</tool_call>')
    session = ResearchSession(ScriptedBackend([call]), protocol="tools",
                              tools={"web_search": hung_search, "web_visit": source.web_visit})
    try:
        events, took = run_and_cancel(session, "Q?", when=lambda e: isinstance(e, ev.ToolCall))
    finally:
        release.set()
    done = finished(events)
    assert done.reason == "cancelled" and took < STOP_BOUND_SECONDS
    assert "<tool_response>\nCancelled.\n</tool_response>" in session.trace
    assert not of_type(events, ev.SearchDone)  # the late result is not reported


def test_cancel_while_code_runs_forever(source):
    """The model's code loops forever: the executor is cancelled and the block ends."""
    block = "<start_code>\n```python\nwhile True:\n    pass\n```\n<end_code>"
    session = ResearchSession(ScriptedBackend([block]), tools=source.functions())
    try:
        events, took = run_and_cancel(session, "Q?", when=lambda e: isinstance(e, ev.CodeBlock))
    finally:
        session.close()
    done = finished(events)
    assert done.reason == "cancelled" and took < STOP_BOUND_SECONDS
    assert session.trace.endswith("<end_code>\n```output\nCancelled.\n```\n<|im_end|>\n")


def test_cancel_before_a_step_ends_at_the_next_check(source):
    """A cancel that lands between two steps is honoured before the next generation."""
    session = ResearchSession(ScriptedBackend(["<start_code>\n```python\nprint(1)\n```\n<end_code>",
                                               "never"]), tools=source.functions())
    events = []
    for event in session.run("Q?"):
        events.append(event)
        if isinstance(event, ev.CodeResult):
            session.cancel()
    assert finished(events).reason == "cancelled"
    assert session.backend.prompts.__len__() == 1


def test_a_second_run_while_running_is_refused(source):
    session = ResearchSession(ScriptedBackend(["a\n</think>\n\nb"]), tools=source.functions())
    run = session.run("Q?")
    next(run)
    from iisearch_local.research import ResearchError

    with pytest.raises(ResearchError, match="already running"):
        next(session.run("Again?"))
    assert finished(list(run)).answer == "b"
