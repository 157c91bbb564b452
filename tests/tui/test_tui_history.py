"""Finding past sessions again: the history sidebar, continuing, sources, export, palette."""

from __future__ import annotations

import asyncio

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

from iisearch_local.tui.screens.help import HelpScreen
from iisearch_local.tui.screens.sources import SourcesScreen
from iisearch_local.tui.widgets.history import SessionItem

SIZE = (110, 40)
SECOND = "Who built the Statue of Liberty?"
LIBERTY = "https://local.example/statue-of-liberty"
LIBERTY_REPLIES = [
    "I know the sample has it.\n</think>\n\n"
    f"Its framework was built by Gustave Eiffel's company ([Statue of Liberty]({LIBERTY})).",
]


async def two_sessions(pilot) -> None:
    await ask(pilot, QUESTION)
    await wait_idle(pilot)
    await pilot.press("ctrl+n")
    await ask(pilot, SECOND)
    await wait_idle(pilot)


async def test_history_lists_filters_and_reopens_sessions(make_app, store):
    app = make_app(ScriptedRuntimes(CIR_REPLIES + LIBERTY_REPLIES))
    async with app.run_test(size=SIZE) as pilot:
        await two_sessions(pilot)
        await wait_for(pilot, lambda: len(app.query(SessionItem)) == 2, what="two sessions")
        shown = screen_text(app)
        assert QUESTION in shown and SECOND in shown  # newest first, both listed
        # Filter: only the session about who designed the tower is left.
        app.query_one("#history-filter").focus()
        await type_text(pilot, "designed")
        await wait_for(pilot, lambda: len(app.query(SessionItem)) == 1, what="the filter")
        # Open it: the transcript replays the stored session.
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: QUESTION in transcript_text(app), what="the replay")
        text = transcript_text(app)
        assert f"{ANSWER_TEXT} (Eiffel Tower [[1]]({TOWER}))." in text and SECOND not in text
        assert app.controller.session_id == store.list(query="designed")[0].id


async def test_history_refreshes_asked_for_back_to_back_all_finish(make_app, store):
    """A session's creation and its end each ask for a refresh, often within a millisecond.

    Tried: refreshes requested while the previous one is at every point of its update. Each must finish
    (none cancelled half-way through its mounts, which used to leave the list stuck and the
    app's pilot timing out) and the list must show each session once.
    """
    for question in (QUESTION, SECOND):
        store.create(question=question, model="m", backend="scripted", protocol="cir", offline=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        for turn in range(24):
            app._history_changed()
            for _ in range(turn % 6):  # let the previous refresh get part-way through its mounts
                await asyncio.sleep(0)
        await pilot.press("f1", "escape")  # the app still answers keys
        await wait_for(pilot, lambda: all(worker.is_finished for worker in app.workers),
                       what="the refreshes")
        items = list(app.query(SessionItem))
        assert sorted(item.session_id for item in items) == sorted(s.id for s in store.list())
        assert len(items) == 2


async def test_continue_reopens_the_latest_session_for_a_follow_up(make_app, store):
    runtimes = ScriptedRuntimes(CIR_REPLIES)
    app = make_app(runtimes)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_idle(pilot)
        first = app.controller.session_id
    # A new app (as after a restart), with a new model instance: continue the stored session.
    runtimes = ScriptedRuntimes(FOLLOW_UP_REPLIES)
    app = make_app(runtimes)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.query(SessionItem)) == 1, what="the history")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: QUESTION in transcript_text(app), what="the replay")
        await ask(pilot, "How tall is it?")
        await wait_idle(pilot)
        assert app.controller.session_id == first and len(store.list()) == 1
        assert "It is about 330 metres tall" in transcript_text(app)
        # The model continued the stored trace, not a new one.
        assert runtimes.backend.prompts[0].startswith(store.get(first).trace[:200])
        assert runtimes.backend.prompts[0].count(QUESTION) == 1


async def test_continuing_with_a_model_of_the_other_protocol_is_refused(make_app, store):
    """The stored session is CIR; the model now speaks tool calls: a clear message, no mix-up."""
    app = make_app(ScriptedRuntimes(CIR_REPLIES))
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_idle(pilot)
    runtimes = ScriptedRuntimes(FOLLOW_UP_REPLIES, protocol="tools", model_name="scripted-tools")
    app = make_app(runtimes)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: QUESTION in transcript_text(app), what="the replay")
        await ask(pilot, "How tall is it?")
        await wait_idle(pilot)
        assert "was researched with a 'cir' model" in transcript_text(app)
        assert runtimes.backend.prompts == []  # the model was never run on the wrong trace


async def test_sources_screen_lists_citations_and_opens_them(make_app):
    opened: list[str] = []
    app = make_app(open_url=opened.append)
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_idle(pilot)
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, SourcesScreen)
        shown = screen_text(app)
        assert "[1] Eiffel Tower" in shown and TOWER in shown and "(read)" in shown
        await pilot.press("enter")
        assert opened == [TOWER]
        await pilot.press("escape")
        assert not isinstance(app.screen, SourcesScreen)


async def test_export_writes_the_session_as_markdown(make_app, home):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+s")  # nothing yet: a message, no file
        assert not (home / "data" / "exports").exists()
        await ask(pilot, QUESTION)
        await wait_idle(pilot)
        await pilot.press("ctrl+s")
        files = list((home / "data" / "exports").glob("*.md"))
        assert len(files) == 1 and files[0].name.startswith("who-designed-the-eiffel-tower-")
        assert ANSWER_TEXT in files[0].read_text("utf-8")


async def test_help_lists_the_key_bindings(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        shown = screen_text(app)
        lines = [" ".join(line.strip(" █").split()) for line in shown.splitlines()]
        for row in ("Ctrl+N New session", "Esc Cancel the running research",
                    "Ctrl+T Show or hide the model's reasoning", "Ctrl+S Export the session",
                    "Ctrl+P Command palette", "F3 Models: installed ones, pull one"):
            assert any(line.startswith(row) for line in lines), row
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_runs_our_actions(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ask(pilot, QUESTION)
        await wait_idle(pilot)
        await pilot.press("ctrl+p")
        await type_text(pilot, "copy answer")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.clipboard.startswith(ANSWER_TEXT), what="the copy")
