"""Researching in the TUI: the transcript as it happens, cancel, follow-ups, errors.

The model is scripted and the search is the in-memory sample pages; the session store is real.
"""

from __future__ import annotations

import time

from tuitest_helpers import (
    ANSWER_TEXT,
    CIR_REPLIES,
    FOLLOW_UP_REPLIES,
    QUESTION,
    TOWER,
    ScriptedRuntimes,
    ask,
    screen_text,
    transcript_text,
    type_text,
    wait_for,
    wait_idle,
)

from iisearch_local.errors import UserFacingError
from iisearch_local.research import events as ev
from iisearch_local.tui.widgets.transcript import CodeView, ReasoningView

SIZE = (110, 40)
LONG_THINKING = "I am still thinking about this. " * 150  # ~2,100 scripted tokens


async def test_a_question_is_researched_and_answered_with_numbered_sources(make_app, store):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.question.focus()
        await type_text(pilot, QUESTION)  # typed key by key, like a person
        assert app.question.value == QUESTION
        await pilot.press("enter")
        await wait_idle(pilot)
        text = transcript_text(app)
        assert QUESTION in text
        assert "code block 1 of 32" in text and "code block 2 of 32" in text
        assert 'print(web_search(query="Eiffel Tower design engineers", num_result=3))' in text
        assert "search “Eiffel Tower design engineers” · 3 results" in text
        assert f"visit {TOWER} · Eiffel Tower" in text
        assert f"{ANSWER_TEXT} (Eiffel Tower [[1]]({TOWER}))." in text  # numbered citation
        assert f"1. [Eiffel Tower]({TOWER})" in text  # the sources list
        assert "■ answered" in text and "1 searches · 1 visits · 2 code blocks" in text
        # Reasoning was streamed, then collapsed once the answer started.
        views = list(app.transcript.query(ReasoningView))
        assert len(views) == 3 and all(v.collapsed for v in views)
        assert views[0].text.startswith("The question asks who designed the tower.")
        code = app.transcript.query(CodeView).first()
        assert "Index: 1" in str(code.output.render())  # the output under its code block
        # The screen shows the end of the research and the status bar.
        shown = screen_text(app)
        assert "■ answered" in shown and "Eiffel Tower [1]" in shown
        assert "scripted-cir" in shown and "code block 2 of 32" in shown
        # ...and the store has the whole session.
        summaries = store.list()
        assert len(summaries) == 1 and app.controller.session_id == summaries[0].id
        stored = store.get(summaries[0].id)
        assert isinstance(stored.events[-1], ev.Finished)
        assert stored.events[-1].answer.startswith(ANSWER_TEXT)
        assert stored.trace.endswith("<|im_end|>\n")


async def test_reasoning_streams_open_and_the_ui_stays_responsive(make_app):
    """While a slow model writes, the reasoning grows on screen and typing still works."""
    runtimes = ScriptedRuntimes([LONG_THINKING + "\n</think>\n\nDone."], delay=0.01)
    app = make_app(runtimes)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_for(pilot, lambda: len(app.transcript.query(ReasoningView)) == 1
                       and len(app.transcript.query(ReasoningView).first().text) > 200,
                       what="reasoning on screen")
        view = app.transcript.query(ReasoningView).first()
        assert not view.collapsed and view.title == "Thinking…"
        assert "I am still thinking about this." in screen_text(app)
        seen = len(view.text)
        await type_text(pilot, "next")  # keys are echoed while tokens stream
        assert app.question.value == "next" and app.controller.running
        await wait_for(pilot, lambda: len(view.text) > seen + 100, what="more reasoning")
        assert LONG_THINKING.startswith(view.text.lstrip())  # every token so far, in order
        await pilot.press("escape")
        await wait_idle(pilot)


async def test_cancel_stops_within_a_second_and_keeps_the_trace(make_app, store):
    runtimes = ScriptedRuntimes([LONG_THINKING], delay=0.003)
    app = make_app(runtimes)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_for(pilot, lambda: app.controller.status.tokens > 50, what="tokens")
        pressed = time.monotonic()
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.controller.running, timeout=5, what="the stop")
        assert time.monotonic() - pressed < 1.0
        await wait_idle(pilot)
        assert "■ cancelled: the trace so far is kept" in transcript_text(app)
        stored = store.get(app.controller.session_id)
        assert stored.events[-1].reason == "cancelled"
        assert "I am still thinking about this." in stored.trace  # the partial reasoning kept


async def test_a_follow_up_continues_the_same_session(make_app, store):
    runtimes = ScriptedRuntimes(CIR_REPLIES + FOLLOW_UP_REPLIES)
    app = make_app(runtimes)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_idle(pilot)
        first_id = app.controller.session_id
        await ask(pilot, "How tall is it?")
        await wait_idle(pilot)
        assert app.controller.session_id == first_id and len(store.list()) == 1
        assert "follow-up How tall is it?" in transcript_text(app)
        assert "It is about 330 metres tall" in transcript_text(app)
        # The model saw the whole first conversation before the follow-up.
        assert runtimes.backend.prompts[-1].count(QUESTION) == 1
        assert "How tall is it?" in runtimes.backend.prompts[-1]
        started = [e for e in store.get(first_id).events if isinstance(e, ev.SessionStarted)]
        assert [s.follow_up for s in started] == [False, True]


async def test_new_session_clears_the_transcript_and_stores_separately(make_app, store):
    runtimes = ScriptedRuntimes(CIR_REPLIES + CIR_REPLIES)
    app = make_app(runtimes)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_idle(pilot)
        await pilot.press("ctrl+n")
        assert transcript_text(app).strip() == "" and app.controller.session_id is None
        await ask(pilot, "Who designed it, again?")
        await wait_idle(pilot)
        assert len(store.list()) == 2
        assert runtimes.backend.prompts[-1].count(QUESTION) == 0  # a fresh trace


async def test_toggle_reasoning_and_copy_answer(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_idle(pilot)
        views = list(app.transcript.query(ReasoningView))
        await pilot.press("ctrl+t")
        assert not any(v.collapsed for v in views)
        await pilot.press("ctrl+t")
        assert all(v.collapsed for v in views)
        await pilot.press("ctrl+y")
        assert app.clipboard == f"{ANSWER_TEXT} ([Eiffel Tower]({TOWER}))."


async def test_a_citation_opens_the_browser_online(make_app):
    opened: list[str] = []
    app = make_app(open_url=opened.append)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_idle(pilot)
        answer = app.transcript.query(".answer").first()
        answer.post_message(answer.LinkClicked(answer, TOWER))
        await pilot.pause(0.1)
        assert opened == [TOWER]


async def test_offline_a_citation_shows_the_cached_text(make_app):
    opened: list[str] = []
    app = make_app(ScriptedRuntimes(CIR_REPLIES, offline=True), open_url=opened.append)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_idle(pilot)
        assert "OFFLINE" in screen_text(app)
        answer = app.transcript.query(".answer").first()
        answer.post_message(answer.LinkClicked(answer, TOWER))
        await pilot.pause(0.2)
        assert opened == []  # no browser
        shown = screen_text(app)  # the page as the model read it, in a panel
        assert "The design came from" in shown and "Maurice Koechlin and Emile Nouguier, two" in shown
        await pilot.press("escape")
        assert "■ answered" in screen_text(app)


async def test_a_failing_model_ends_the_turn_with_its_message(make_app, store):
    """The backend raises mid-generation: the turn ends with the error, the app goes on."""

    class Broken(ScriptedRuntimes):
        def open(self, plan, config):
            runtime = super().open(plan, config)

            def fail(*args, **kwargs):
                raise RuntimeError("the GPU caught fire")

            runtime.backend.generate = fail
            return runtime

    app = make_app(Broken())
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_idle(pilot)
        text = transcript_text(app)
        assert "■ stopped by an error: RuntimeError: the GPU caught fire" in text
        assert store.get(app.controller.session_id).events[-1].reason == "error"


async def test_a_model_that_cannot_load_is_explained_not_a_traceback(make_app):
    class Unloadable(ScriptedRuntimes):
        def open(self, plan, config):
            raise UserFacingError("the model file is damaged", hint="Pull it again.")

    app = make_app(Unloadable())
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_idle(pilot)
        assert ("■ stopped by an error: the model file is damaged Pull it again."
                in transcript_text(app))
        assert not app.controller.running
