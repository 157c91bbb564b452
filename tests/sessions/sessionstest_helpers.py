"""Helpers shared by the session-store tests (imported by name; pytest puts this folder on sys.path).

Scripted model replies of our own for both protocols, a slow backend for the crash test, and
a scripted ``ResearchRuntime`` so ``iisearch ask`` and ``resume_session`` run without a model.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from iisearch_local.backends.base import Generation
from iisearch_local.backends.scripted import ScriptedBackend
from iisearch_local.research.factory import ResearchRuntime, SessionPlan
from iisearch_local.research.local_source import InMemorySource
from iisearch_local.research.session import ResearchSession
from iisearch_local.research.settings import ResearchSettings

FIXED_NOW = datetime(2025, 6, 2, 14, 3, 0, tzinfo=timezone.utc)
TOWER = "https://local.example/eiffel-tower"
CURIE = "https://local.example/marie-curie"
QUESTION = "Who designed the Eiffel Tower?"
FOLLOW_UP = "And how tall is it?"

CIR_REPLIES = [
    "I should look this up.\n<start_code>\n```python\n"
    "print(web_search(query=\"Eiffel Tower design\", num_result=3))\n```\n<end_code>",
    f"Reading the tower page.\n<start_code>\n```python\nprint(web_visit(url=\"{TOWER}\"))\n"
    "```\n<end_code>",
    "Koechlin and Nouguier made the design.\n</think>\n\n"
    f"Maurice Koechlin and Emile Nouguier designed it ([Eiffel Tower]({TOWER})).",
]
# The follow-up cites the page read in the first turn without visiting it again.
CIR_FOLLOW_UP = [
    "The page I read said about 330 metres.\n</think>\n\n"
    f"It is about 330 metres tall ([Eiffel Tower]({TOWER})).",
]
TOOLS_REPLIES = [
    "<think>\nSearch first.\n</think>\n\n<tool_call>\n{\"name\": \"web_search\", \"arguments\": "
    "{\"query\": \"Marie Curie Nobel\", \"num_result\": 2}}\n</tool_call>",
    "<think>\nThe first hit answers it.\n</think>\n\n"
    f"Physics in 1903 and chemistry in 1911 ([Marie Curie]({CURIE})).",
]


def fixed_clock() -> datetime:
    return FIXED_NOW


class Ticker:
    """A store clock that moves one second per call, from a fixed start (stable times)."""

    def __init__(self, start: float = FIXED_NOW.timestamp()) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def scripted_session(replies, protocol: str = "cir", *, trace: str = "",
                     source: InMemorySource | None = None) -> ResearchSession:
    source = source or InMemorySource()
    return ResearchSession(ScriptedBackend(replies), tools=source.functions(), protocol=protocol,
                           settings=ResearchSettings(), clock=fixed_clock, trace=trace,
                           model_name=f"scripted-{protocol}")


def scripted_plan(protocol: str = "cir") -> SessionPlan:
    return SessionPlan(model_name=f"scripted-{protocol}", model_path=Path("scripted"),
                       backend="scripted", protocol=protocol, engines=("sample",), offline=True,
                       settings=ResearchSettings())


def scripted_runtime(replies, protocol: str = "cir", *, backend=None) -> ResearchRuntime:
    return ResearchRuntime(scripted_plan(protocol), backend=backend or ScriptedBackend(replies),
                           functions=InMemorySource().functions(), clock=fixed_clock)


class SlowScriptedBackend(ScriptedBackend):
    """A scripted model that takes ``delay`` seconds per streamed piece (a model writing)."""

    def __init__(self, replies, *, delay: float) -> None:
        super().__init__(replies)
        self.delay = delay

    def generate(self, prompt, options, *, cancel=None) -> Generation:
        inner = super().generate(prompt, options, cancel=cancel)
        delay = self.delay

        def run():
            for piece in inner:
                time.sleep(delay)
                yield piece
            return inner.result

        return Generation(run())
