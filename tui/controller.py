"""The non-UI side of the TUI: loads the model, drives research sessions, records them.

``ResearchController`` owns the loaded runtime (model + search layer), the current session and
its events, and the session store. Its slow methods (``load``, ``ask``) are meant for a worker
thread: ``ask`` pushes every event into ``batcher`` (which the UI drains on a timer) and keeps
``status`` (tokens/s, context used, code blocks) current. Nothing here imports Textual.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from iisearch_local.config import Config
from iisearch_local.errors import UserFacingError
from iisearch_local.research import events as ev
from iisearch_local.research.factory import ResearchRuntime, SessionPlan, plan_session
from iisearch_local.research.session import ResearchSession

from .batching import EventBatcher

RATE_WINDOW_SECONDS = 2.0  # tokens/s is measured over this sliding window while streaming
Phase = Literal["idle", "loading", "researching", "cancelling"]


class RuntimeProvider(Protocol):
    """Where sessions come from: the configured model, or a scripted one in tests."""

    def plan(self, config: Config) -> SessionPlan:
        """Decide what would run (fast); raise ``UserFacingError`` when nothing can."""

    def open(self, plan: SessionPlan, config: Config) -> ResearchRuntime:
        """Load the model and the search layer (slow; called on a worker thread)."""


class ConfiguredRuntimes:
    """The real provider: ``plan_session`` and ``ResearchRuntime.open`` on the user's config."""

    def plan(self, config: Config) -> SessionPlan:
        return plan_session(config)

    def open(self, plan: SessionPlan, config: Config) -> ResearchRuntime:
        return ResearchRuntime.open(plan, config)


@dataclass(frozen=True)
class LiveStatus:
    """What the status bar shows about the running (or last) research."""

    phase: Phase = "idle"
    tokens: int = 0  # text pieces streamed this run (one per generated token on real backends)
    tokens_per_second: float | None = None
    context_used: int | None = None
    context_size: int | None = None
    steps: int = 0  # code blocks (CIR) or tool calls (tools protocol) run so far
    max_steps: int = 0
    step_kind: str = "code block"


class TokenRate:
    """Tokens per second over a sliding window of the most recent deltas."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._times: deque[float] = deque()

    def tick(self) -> float | None:
        now = self._clock()
        self._times.append(now)
        while self._times and self._times[0] < now - RATE_WINDOW_SECONDS:
            self._times.popleft()
        span = now - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else None


class ResearchController:
    """One conversation at a time: new, continued from the store, or a follow-up."""

    def __init__(self, config: Config, *, provider: RuntimeProvider | None = None,
                 store: Any = None, on_created: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.on_created = on_created  # told (on the worker thread) when a session is stored
        self.provider = provider or ConfiguredRuntimes()
        self.store = store
        self.batcher = EventBatcher()
        self.status = LiveStatus()
        self.plan: SessionPlan | None = None
        self.runtime: ResearchRuntime | None = None
        self.session: ResearchSession | None = None
        self.session_id: str | None = None
        self.events: list[ev.Event] = []  # the current conversation's events, replayed ones too
        self._resume: Any = None  # a StoredSession to continue with the next question
        self._load_lock = threading.Lock()
        self._cancel_requested = threading.Event()
        self._running = threading.Event()

    # --- set-up -----------------------------------------------------------------------------

    def check(self) -> SessionPlan:
        """What will run; ``UserFacingError`` (e.g. no model yet) when nothing can."""
        self.plan = self.provider.plan(self.config)
        return self.plan

    def load(self) -> ResearchRuntime:
        """Load the model once (worker thread); later calls return the loaded runtime."""
        with self._load_lock:
            if self.runtime is None:
                plan = self.plan or self.check()
                self.status = replace(self.status, phase="loading")
                try:
                    self.runtime = self.provider.open(plan, self.config)
                finally:
                    self.status = replace(self.status, phase="idle")
                self.status = replace(self.status, context_size=self.runtime.backend.context_size)
            return self.runtime

    def reconfigure(self, config: Config) -> None:
        """Use new settings (another model, engines...): the next question loads them."""
        if self.running:
            raise UserFacingError("a research is running", hint="Cancel it first (Escape).")
        self.config = config
        self.new_session()
        with self._load_lock:
            if self.runtime is not None:
                self.runtime.close()
            self.runtime = None
        self.plan = None

    # --- conversations ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running.is_set()

    def new_session(self) -> None:
        """Forget the current conversation; the next question starts a new stored session."""
        if self.session is not None and not self.running:
            self.session.close()
        self.session = None
        self.session_id = None
        self.events = []
        self._resume = None

    def open_stored(self, session_id: str) -> Any:
        """Make a stored session current (to read it, or to continue it with a follow-up)."""
        if self.store is None:
            raise UserFacingError("the session store is not available")
        stored = self.store.get(session_id)
        self.new_session()
        self.session_id = session_id
        self.events = list(stored.events)
        self._resume = stored
        return stored

    def ask(self, question: str) -> ev.Finished:
        """Research ``question`` (a follow-up when a conversation is current). Worker thread.

        Every event goes to ``batcher`` (and the store) as it happens. Failures to load the
        model end as a ``Finished`` with reason "error", like any other failed run.
        """
        if self._running.is_set():
            raise UserFacingError("a research is already running")
        self._running.set()
        self._cancel_requested.clear()
        try:
            try:
                session = self._session_for_next_question()
            except UserFacingError as exc:
                return self._fail(exc.message + (f" {exc.hint}" if exc.hint else ""))
            if self._cancel_requested.is_set():
                return self._fail("cancelled before the model was loaded", reason="cancelled")
            return self._run(session, question)
        finally:
            self._running.clear()
            self.status = replace(self.status, phase="idle")

    def cancel(self) -> bool:
        """Stop the running research soon (the trace and the events so far are kept)."""
        if not self.running:
            return False
        self._cancel_requested.set()
        self.status = replace(self.status, phase="cancelling")
        if self.session is not None:
            self.session.cancel()
        return True

    def close(self) -> None:
        self.cancel()
        if self.session is not None:
            self.session.close()
        if self.runtime is not None:
            self.runtime.close()
            self.runtime = None

    # --- what the UI asks about -------------------------------------------------------------

    def last_finished(self) -> ev.Finished | None:
        return next((e for e in reversed(self.events) if isinstance(e, ev.Finished)), None)

    def source_text(self, url: str) -> tuple[str, str] | None:
        """(title, text) of a page without the network: as this conversation read it, else as
        the page cache holds it, else the search preview."""
        from .sources import page_text_from_events

        cache = getattr(getattr(self.runtime, "search_tools", None), "cache", None)
        if self.store is not None and self.session_id is not None:
            found = self.store.source_text(self.session_id, url, cache=cache)
            if found is not None:
                return found.title or url, found.text
            return None
        return page_text_from_events(self.events, url)

    # --- internals --------------------------------------------------------------------------

    def _session_for_next_question(self) -> ResearchSession:
        runtime = self.load()
        if self.session is None:
            if self._resume is not None:
                from iisearch_local.sessions.resume import resume_session

                # Same trace, and the pages earlier turns found, so citations keep working.
                self.session = resume_session(runtime, self._resume)
            else:
                self.session = runtime.new_session()
        return self.session

    def _run(self, session: ResearchSession, question: str) -> ev.Finished:
        runtime = self.runtime
        assert runtime is not None
        plan = runtime.plan
        stream = session.run(question)
        if self.store is not None:
            from iisearch_local.sessions.recorder import record

            if self.session_id is None:
                self.session_id = self.store.create(
                    question=question, model=plan.model_name, backend=runtime.backend_name,
                    protocol=plan.protocol, offline=plan.offline)
                if self.on_created is not None:
                    self.on_created(self.session_id)
            stream = record(self.store, self.session_id, stream, session=session)
        is_cir = plan.protocol == "cir"
        self.status = LiveStatus(
            phase="researching", context_size=runtime.backend.context_size,
            max_steps=plan.settings.max_code_blocks if is_cir else plan.settings.max_tool_calls,
            step_kind="code block" if is_cir else "tool call",
            context_used=runtime.backend.count_tokens(session.trace))
        rate = TokenRate()
        counted_at, since_count = self.status.context_used or 0, 0
        finished: ev.Finished | None = None
        for event in stream:
            self.events.append(event)
            self.batcher.put(event)
            status = self.status
            if isinstance(event, ev.ReasoningDelta | ev.AnswerDelta | ev.ReportDelta):
                since_count += 1
                self.status = replace(status, tokens=status.tokens + 1,
                                      tokens_per_second=rate.tick() or status.tokens_per_second,
                                      context_used=counted_at + since_count)
            elif isinstance(event, ev.CodeBlock | ev.ToolCall):
                self.status = replace(status, steps=status.steps + 1)
            elif isinstance(event, ev.CodeResult | ev.ToolResult):
                counted_at, since_count = runtime.backend.count_tokens(session.trace), 0
                self.status = replace(status, context_used=counted_at)
            elif isinstance(event, ev.Finished):
                finished = event
                stats = event.stats
                speed = (stats.completion_tokens / stats.generation_seconds
                         if stats.generation_seconds > 0 else status.tokens_per_second)
                self.status = replace(status, tokens_per_second=speed,
                                      context_used=stats.trace_tokens or status.context_used)
        assert finished is not None  # every run ends with Finished
        return finished

    def _fail(self, detail: str, *, reason: ev.SessionEnd = "error") -> ev.Finished:
        finished = ev.Finished(reason=reason, answer="", detail=detail)
        self.events.append(finished)
        self.batcher.put(finished)
        return finished
