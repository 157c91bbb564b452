"""Helpers of the TUI tests: a scripted model behind the app, the sample pages, screen text.

``ScriptedRuntimes`` is a ``RuntimeProvider``: the app asks it for sessions exactly as it asks
the real one, but the model is ``ScriptedBackend`` (replies queued by the test) and the search
functions are the in-memory sample pages, so every flow runs without a model or the network.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from iisearch_local.backends.base import Generation
from iisearch_local.backends.scripted import ScriptedBackend
from iisearch_local.research.factory import ResearchRuntime, SessionPlan
from iisearch_local.research.local_source import InMemorySource
from iisearch_local.research.settings import ResearchSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: fake_hub

FIXED_NOW = datetime(2025, 6, 2, 14, 3, 0, tzinfo=timezone.utc)
TOWER = "https://local.example/eiffel-tower"
QUESTION = "Who designed the Eiffel Tower?"
ANSWER_TEXT = ("The Eiffel Tower was designed by Maurice Koechlin and Emile Nouguier, engineers "
               "of Gustave Eiffel's company")
CIR_REPLIES = [
    "The question asks who designed the tower. I will search first.\n<start_code>\n```python\n"
    "print(web_search(query=\"Eiffel Tower design engineers\", num_result=3))\n```\n<end_code>",
    "The first result looks right. Let me read it.\n<start_code>\n```python\n"
    f"print(web_visit(url=\"{TOWER}\"))\n```\n<end_code>",
    "The page says the design came from Maurice Koechlin and Emile Nouguier.\n</think>\n\n"
    f"{ANSWER_TEXT} ([Eiffel Tower]({TOWER})).",
]
FOLLOW_UP_REPLIES = [
    "The same page gives the height.\n</think>\n\n"
    f"It is about 330 metres tall ([Eiffel Tower]({TOWER})).",
]


class SlowScripted(ScriptedBackend):
    """A scripted model that takes ``delay`` seconds per piece (a model that is writing)."""

    def __init__(self, replies: Iterable[str] = (), *, delay: float = 0.0,
                 context_size: int = 32768) -> None:
        super().__init__(replies, context_size=context_size)
        self.delay = delay

    def generate(self, prompt, options, *, cancel=None) -> Generation:
        inner = super().generate(prompt, options, cancel=cancel)
        if not self.delay:
            return inner

        def run():
            for piece in inner:
                time.sleep(self.delay)
                yield piece
            return inner.result

        return Generation(run())


class ScriptedRuntimes:
    """Sessions on a scripted model and the sample pages; ``replies`` can be added any time."""

    def __init__(self, replies: Iterable[str] = (), *, delay: float = 0.0,
                 protocol: str = "cir", offline: bool = False,
                 model_name: str = "scripted-cir") -> None:
        self.backend = SlowScripted(replies, delay=delay)
        self.source = InMemorySource()
        self.protocol = protocol
        self.offline = offline
        self.model_name = model_name
        self.opened = 0

    def plan(self, config) -> SessionPlan:
        return SessionPlan(model_name=self.model_name, model_path=Path("scripted"),
                           backend="scripted", protocol=self.protocol, engines=("sample",),
                           offline=self.offline or bool(config and config.get("search.offline")),
                           settings=ResearchSettings())

    def open(self, plan: SessionPlan, config) -> ResearchRuntime:
        self.opened += 1
        return ResearchRuntime(plan, backend=self.backend, functions=self.source.functions(),
                               clock=lambda: FIXED_NOW)


async def wait_for(pilot, condition, *, timeout: float = 10.0, what: str = "condition") -> None:
    """Let the app run until ``condition()`` holds (worker threads need real time)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def screen_text(app) -> str:
    """What the terminal shows right now (the current screen, rendered), as plain lines."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def transcript_text(app) -> str:
    """The text of every widget in the transcript, scrolled out of view or not."""
    from textual.widgets import Markdown, Static

    parts = []
    for widget in app.transcript.query("*"):
        if isinstance(widget, Markdown):
            parts.append(widget.source)
        elif isinstance(widget, Static):
            parts.append(str(widget.render()))
        for border in (widget.border_title, widget.border_subtitle):
            if border:
                parts.append(str(border))
    return "\n".join(parts)


async def type_text(pilot, text: str) -> None:
    """Type ``text`` key by key into the focused widget."""
    for char in text:
        await pilot.press({" ": "space", "?": "question_mark", ".": "full_stop",
                           "/": "slash", "-": "minus", "_": "underscore",
                           ",": "comma", "'": "apostrophe"}.get(char, char))


async def ask(pilot, question: str) -> None:
    """Type a question in the question box and press Enter."""
    pilot.app.question.focus()
    await type_text(pilot, question)
    await pilot.press("enter")


async def wait_idle(pilot, *, timeout: float = 15.0) -> None:
    """Wait until the research ended and the transcript drew every event."""
    app = pilot.app
    await wait_for(pilot, lambda: not app.controller.running and not len(app.controller.batcher),
                   timeout=timeout, what="the research to end")
    await pilot.pause(0.1)
