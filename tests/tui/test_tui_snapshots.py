"""SVG snapshots of the main screens at 110x36 (pytest-textual-snapshot).

Everything on screen is fixed: the stored session is recorded once with a scripted model, its
timings are zeroed, the store's clock is frozen and the time zone is UTC. Update after an
intended change with ``pytest tests/tui/test_tui_snapshots.py --snapshot-update`` and review
the SVGs (the failure report shows both pictures).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from tuitest_helpers import CIR_REPLIES, FIXED_NOW, QUESTION, ScriptedRuntimes

from iisearch_local.config import load_config
from iisearch_local.research import events as ev
from iisearch_local.sessions import SessionStore
from iisearch_local.tui.app import IISearchApp

SIZE = (110, 36)
FAKE_CONFIG_PATH = Path("/home/me/.config/iisearch-local/config.toml")
_TIMINGS = ("seconds", "wall_seconds", "generation_seconds", "tool_seconds")


def without_timings(event: ev.Event) -> ev.Event:
    changes = {name: 0.0 for name in _TIMINGS if hasattr(event, name)}
    if isinstance(event, ev.Finished):
        changes["stats"] = dataclasses.replace(event.stats, **{n: 0.0 for n in _TIMINGS
                                                               if hasattr(event.stats, n)})
    return dataclasses.replace(event, **changes) if changes else event


@pytest.fixture
def frozen(home, monkeypatch):
    """A store with a frozen clock holding one researched session; UTC as the local zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    store = SessionStore(home / "data" / "sessions.db", clock=FIXED_NOW.timestamp)
    runtimes = ScriptedRuntimes(CIR_REPLIES)
    session = runtimes.open(runtimes.plan(None), None).new_session()
    sid = store.create(question=QUESTION, model="scripted-cir", backend="scripted",
                       protocol="cir", offline=False)
    for event in session.run(QUESTION):
        store.append_event(sid, without_timings(event))
    store.set_trace(sid, session.trace)
    yield store, sid
    store.close()
    monkeypatch.delenv("TZ")
    time.tzset()


async def settle(pilot) -> None:
    """Let workers (model load, history) finish and the layout come to rest; no blinking."""
    from textual.widgets import Input

    for screen in pilot.app.screen_stack:
        for box in screen.query(Input):
            box.cursor_blink = False  # a blinking cursor is on or off depending on timing
    await pilot.app.workers.wait_for_complete()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.3)


def make(store=False, **kwargs) -> IISearchApp:
    return IISearchApp(config=load_config(environ={}), store=store,
                       config_path=FAKE_CONFIG_PATH, **kwargs)


def test_research_screen_with_an_answered_session(snap_compare, frozen):
    store, sid = frozen

    async def open_it(pilot):
        await settle(pilot)
        await pilot.app.show_stored(sid)
        await settle(pilot)
        pilot.app.transcript.scroll_end(animate=False)
        await settle(pilot)

    assert snap_compare(make(store, provider=ScriptedRuntimes()), terminal_size=SIZE,
                        run_before=open_it)


def test_research_screen_reasoning_shown(snap_compare, frozen):
    store, sid = frozen

    async def open_and_expand(pilot):
        await settle(pilot)
        await pilot.app.show_stored(sid)
        await settle(pilot)
        await pilot.press("ctrl+t")
        pilot.app.transcript.scroll_home(animate=False)
        await settle(pilot)

    assert snap_compare(make(store, provider=ScriptedRuntimes()), terminal_size=SIZE,
                        run_before=open_and_expand)


def test_sources_screen(snap_compare, frozen):
    store, sid = frozen

    async def open_sources(pilot):
        await settle(pilot)
        await pilot.app.show_stored(sid)
        await pilot.press("ctrl+o")
        await settle(pilot)

    assert snap_compare(make(store, provider=ScriptedRuntimes()), terminal_size=SIZE,
                        run_before=open_sources)


def pressing(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


def test_welcome_screen_without_a_model(snap_compare, home):
    assert snap_compare(make(), terminal_size=SIZE, run_before=pressing())


def test_settings_screen(snap_compare, home):
    assert snap_compare(make(provider=ScriptedRuntimes()), terminal_size=SIZE,
                        run_before=pressing("f2"))


def test_model_manager_screen(snap_compare, home):
    assert snap_compare(make(provider=ScriptedRuntimes()), terminal_size=SIZE,
                        run_before=pressing("f3"))


def test_help_screen(snap_compare, home):
    assert snap_compare(make(provider=ScriptedRuntimes()), terminal_size=SIZE,
                        run_before=pressing("f1"))
