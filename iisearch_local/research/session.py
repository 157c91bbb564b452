"""``ResearchSession``: one research conversation with a model, streamed as typed events.

The loop is the same for both protocols; a driver (``cir.CirDriver`` or
``toolcalls.ToolCallDriver``) says how to open the trace and what follows each generation.
Budgets are checked before every backend call: when the context or the generation budget runs
low, the loop closes the model's reasoning itself and asks for the answer. Whatever happens
(bad output, failing tools, backend errors, a cancel from another thread) the run ends with a
``Finished`` event and the trace stays a well-formed prefix that a follow-up can continue.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ..backends.base import Backend, GenerationResult
from ..errors import UserFacingError
from .cir import CirDriver
from .citations import SourceBook
from .events import Event, Finished, Notice, SessionStarted, Stats
from .prompting import IM_END, THINK_CLOSE, PromptSet, http_date
from .session_core import ActionOutcome, Continue, End, Force, Outcome, RunState
from .settings import PROTOCOLS, ResearchSettings
from .toolbox import ToolBox
from .toolcalls import ToolCallDriver

SAFETY_TOKENS = 16  # slack for tokenizer differences between our count and the engine's
MIN_OBSERVATION_TOKENS = 32  # below this an observation is replaced by a "context full" note
CONTEXT_FULL = "Not shown: the context is nearly full. Write the final answer now."
CANCEL_GRACE_SECONDS = 0.5  # how long a cancelled action may take to wind down before we leave it
POLL_SECONDS = 0.05

ExecutorFactory = Callable[[Mapping[str, Callable[..., str]]], Any]


class ResearchError(UserFacingError):
    """The session could not be set up (unknown protocol, missing executor)."""


def default_executor_factory(functions: Mapping[str, Callable[..., str]]) -> Any:
    """The restricted Python executor the CIR protocol runs the model's code in."""
    try:
        from ..executor import RestrictedExecutor
    except ImportError as exc:
        raise ResearchError(f"the code executor is not available ({exc})",
                            hint="Use --protocol tools, or reinstall iisearch-local.") from None
    return RestrictedExecutor(functions=dict(functions))


class ResearchSession:
    """Research with ``backend``; ``tools`` maps function names to callables returning text.

    ``run(question)`` yields events until a ``Finished``; call it again with a follow-up to
    continue on the same trace. ``cancel()`` may be called from any thread.
    """

    def __init__(self, backend: Backend, *, tools: Mapping[str, Callable[..., str]],
                 protocol: str = "cir", settings: ResearchSettings | None = None,
                 prompts: PromptSet | None = None, executor_factory: ExecutorFactory | None = None,
                 clock: Callable[[], datetime] | None = None, model_name: str | None = None,
                 trace: str = "", generated_spans: Sequence[tuple[int, int]] | None = None,
                 ) -> None:
        if protocol not in PROTOCOLS:
            raise ResearchError(f"unknown protocol {protocol!r}",
                                hint=f"Choose one of: {', '.join(PROTOCOLS)}.")
        self.backend = backend
        self.protocol = protocol
        self.settings = settings or ResearchSettings()
        self.prompts = prompts or PromptSet(self.settings.prompt_files)
        self.model_name = model_name or getattr(backend, "name", "model")
        self._cancel = threading.Event()
        self._tool_events: queue.Queue[Event] = queue.Queue()
        self.toolbox = ToolBox(tools, default_results=self.settings.search_results,
                               on_event=self._tool_events.put, cancel=self._cancel)
        self.sources = SourceBook()
        self._executor_factory = executor_factory or default_executor_factory
        self._executor: Any = None
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._trace = trace
        # Character ranges of the trace the model wrote (what fine-tuning trains on). Unknown
        # (None) when continuing a trace recorded without them.
        self._spans: list[tuple[int, int]] | None = (
            [(int(a), int(b)) for a, b in generated_spans] if generated_spans is not None
            else (None if trace else []))
        self._model_ended_turn = False  # the last text is the model's and it ended its turn
        self._driver = CirDriver(self) if protocol == "cir" else ToolCallDriver(self)
        self._running = threading.Lock()

    # --- public API -----------------------------------------------------------------------------

    @property
    def trace(self) -> str:
        """The whole raw text the model has seen and written, reasoning and tool output included."""
        return self._trace

    @property
    def generated_spans(self) -> tuple[tuple[int, int], ...] | None:
        """The ``[start, end)`` character ranges of ``trace`` the model generated, in order.

        Includes the stop strings the engines strip and we put back (``<end_code>``,
        ``</tool_call>``) and the ``<|im_end|>`` of a turn the model ended itself; everything
        else (prompts, questions, observations, corrections) was written by us. ``None`` when
        the session continues a trace recorded without them.
        """
        return None if self._spans is None else tuple(self._spans)

    @property
    def executor(self) -> Any:
        if self._executor is None:
            self._executor = self._executor_factory(self.toolbox.model_functions())
        return self._executor

    @property
    def cancel_event(self) -> threading.Event:
        """Set while a cancel is pending; pass it to anything long-running the session starts."""
        return self._cancel

    def now(self) -> datetime:
        return self._clock()

    def cancel(self) -> None:
        """Stop the running ``run`` soon (within about a second); safe from any thread."""
        self._cancel.set()
        self.cancel_executor()

    def cancel_executor(self) -> None:
        if self._executor is not None:
            self._executor.cancel()

    def close(self) -> None:
        """Release the executor (the backend belongs to the caller)."""
        if self._executor is not None:
            self._executor.close()
            self._executor = None

    def run(self, question: str) -> Iterator[Event]:
        """Research ``question`` (a follow-up if the trace is not empty); ends with ``Finished``."""
        if not self._running.acquire(blocking=False):
            raise ResearchError("this session is already running a question")
        self._cancel.clear()
        state: RunState | None = None
        try:
            started = time.perf_counter()
            counters = (self.toolbox.searches, self.toolbox.visits, self.toolbox.calls,
                        self.toolbox.seconds)
            follow_up = bool(self._trace)
            date = http_date(self.now())
            if follow_up:
                self._close_turn()
                cursor = self._driver.follow_up(question)
            else:
                cursor = self._driver.opening(question, date)
            base = len(self._trace)
            self.append(cursor.text)
            state = RunState(turn_start=base + cursor.turn_offset, segment_start=len(self._trace))
            yield SessionStarted(question=question, protocol=self.protocol, model=self.model_name,
                                 date=date, follow_up=follow_up)
            try:
                end = yield from self._loop(state)
            except Exception as exc:  # a bug of ours must not lose the trace or the answer
                end = End("error", f"internal error: {type(exc).__name__}: {exc}")
            self._close_turn()
            answer = state.splitter.answer_text.strip()
            report = None
            if self.settings.report and end.reason in ("answered", "length"):
                from .report import run_report

                report = yield from run_report(self, question, state)
            yield Finished(reason=end.reason, answer=answer, sources=self.sources.cite(answer),
                           stats=self._stats(state, counters, started), detail=end.detail,
                           forced=state.forced, report=report)
        finally:
            if state is not None and state.pending:  # the consumer stopped mid-generation
                self.append("".join(state.pending), generated=True)
                state.pending = None
            self._running.release()

    # --- the loop -------------------------------------------------------------------------------

    def _loop(self, state: RunState) -> Generator[Event, None, End]:
        limits = self.settings
        while True:
            if self._cancel.is_set():
                return End("cancelled", "cancelled")
            used = self.backend.count_tokens(self._trace)
            room = self.backend.context_size - used - SAFETY_TOKENS
            if state.generations == 0 and room <= limits.answer_reserve_tokens // 2:
                return End("error", f"the prompt ({used} tokens) leaves no room in the "
                                    f"{self.backend.context_size}-token context")
            if state.splitter.answer_started:
                answer_left = limits.answer_max_tokens - state.answer_tokens
                max_tokens = min(limits.max_tokens_per_turn, answer_left, room)
                if max_tokens <= 0:
                    return End("length", state.explain(
                        "the answer reached its token limit" if answer_left <= 0
                        else "the context is full"))
            else:
                budget = limits.max_generated_tokens - state.generated_tokens
                if room < limits.answer_reserve_tokens or budget <= 0:
                    if state.forced:  # forcing twice would loop
                        return End("no_answer", state.explain("no room left for the answer"))
                    why = ("the context is nearly full" if budget > 0
                           else f"the generation budget ({limits.max_generated_tokens} tokens) is spent")
                    yield from self._force(state, why)
                    continue
                max_tokens = min(limits.max_tokens_per_turn, budget,
                                 room - limits.answer_reserve_tokens)
            result = yield from self._generate(state, max(1, max_tokens))
            if result is None:
                return End("error", state.error)
            if result.finish_reason == "cancelled":
                return End("cancelled", "cancelled while the model was writing")
            if result.finish_reason == "length":
                continue  # the budget check above decides whether the turn may go on
            outcome: Outcome = yield from self._driver.handle(state, result)
            if isinstance(outcome, Continue):
                continue
            if isinstance(outcome, Force):
                if state.forced:
                    return End.answer(state)
                yield from self._force(state, outcome.reason)
                continue
            return outcome

    def _generate(self, state: RunState,
                  max_tokens: int) -> Generator[Event, None, GenerationResult | None]:
        options = dataclasses.replace(self.settings.sampling, max_tokens=max_tokens,
                                      stop=self._driver.stops)
        state.pending = []
        answering = state.splitter.answer_started
        try:
            generation = self.backend.generate(self._trace, options, cancel=self._cancel)
            for delta in generation:
                state.pending.append(delta)
                yield from state.splitter.feed(delta)
            result = generation.result
        except Exception as exc:  # a failing engine ends the run, never the program
            self.append("".join(state.pending), generated=True)
            state.pending = None
            state.error = exc.message if isinstance(exc, UserFacingError) else (
                f"{type(exc).__name__}: {exc}")
            return None
        state.pending = None
        if state.splitter.answer_started and not answering:
            # </think> came in this call: only what followed it counts against the answer.
            answering_tokens = self.backend.count_tokens(state.splitter.answer_text)
        else:
            answering_tokens = result.completion_tokens if answering else 0
        state.answer_tokens += answering_tokens
        self.append(result.text, generated=True)
        self._model_ended_turn = result.finish_reason == "eos" or (
            result.finish_reason == "stop" and result.stop_string == IM_END)
        state.generations += 1
        state.generated_tokens += result.completion_tokens
        state.prompt_tokens_evaluated += result.prompt_tokens_evaluated
        state.generation_seconds += result.prompt_seconds + result.generation_seconds
        if result.finish_reason in ("stop", "eos"):
            yield from state.splitter.flush()
        return result

    def _force(self, state: RunState, reason: str) -> Generator[Event, None, None]:
        """Close the reasoning with a short first-person note so the model writes its answer."""
        state.forced, state.force_reason = True, reason
        yield Notice(code="force_answer", message=f"Asking the model for its answer: {reason}.")
        if state.splitter.phase == "action":
            self.append(self._driver.abandon_action(state))
        note = self.prompts.raw("force_answer").strip()
        if self._trace[state.turn_start:].strip():
            self.append(f"\n\n{note}\n{THINK_CLOSE}\n\n")
        else:
            self.append(f"<think>\n{note}\n{THINK_CLOSE}\n\n")
        state.splitter.start_answer()
        state.segment_start = len(self._trace)

    # --- services for the drivers ---------------------------------------------------------------

    def append(self, text: str, *, generated: bool = False) -> None:
        """Add ``text`` to the trace; ``generated`` when the model wrote it (it is trained on)."""
        if not text:
            return
        start = len(self._trace)
        self._trace += text
        self._model_ended_turn = False
        if generated and self._spans is not None:
            if self._spans and self._spans[-1][1] == start:
                self._spans[-1] = (self._spans[-1][0], len(self._trace))
            else:
                self._spans.append((start, len(self._trace)))

    def resume_after_action(self, state: RunState) -> None:
        state.splitter.resume()
        state.segment_start = len(self._trace)

    def new_turn(self, state: RunState) -> None:
        state.splitter = type(state.splitter)()
        state.turn_start = state.segment_start = len(self._trace)

    def format_error(self, state: RunState, correction: str,
                     what: str) -> Generator[Event, None, Outcome]:
        """Append a correction the model can act on; too many in a row force the answer."""
        state.format_errors += 1
        state.format_errors_in_row += 1
        self.append(correction)
        yield Notice(code="format_error", message=f"Corrected the model: {what}.")
        if state.format_errors_in_row >= self.settings.max_format_errors:
            return Force(f"{state.format_errors_in_row} malformed outputs in a row")
        self.resume_after_action(state)
        return Continue()

    def fit_observation(self, text: str) -> str:
        """Cut an observation to the per-observation cap and to what the context can still hold."""
        from .tokens import cut_with_note

        room = (self.backend.context_size - self.backend.count_tokens(self._trace)
                - self.settings.answer_reserve_tokens - SAFETY_TOKENS)
        limit = min(self.settings.observation_max_tokens, room)
        if limit < MIN_OBSERVATION_TOKENS:
            return CONTEXT_FULL
        return cut_with_note(self.backend, text, limit)

    def run_action(self, action: Callable[[], Any], *,
                   on_cancel: Callable[[], None] | None = None,
                   ) -> Generator[Event, None, ActionOutcome]:
        """Run a blocking action on a worker thread, streaming the tool events it causes.

        The loop's thread keeps watching the cancel flag, so a cancel stops waiting within
        ``CANCEL_GRACE_SECONDS`` even if the action itself does not notice.
        """
        outcome = ActionOutcome()
        finished = object()  # this action's own end marker in the shared event queue

        def work() -> None:
            started = time.perf_counter()
            try:
                outcome.value = action()
            except BaseException as exc:  # reported to the model, never raised in the loop
                outcome.exception = exc
            finally:
                outcome.seconds = time.perf_counter() - started
                self._tool_events.put(finished)  # type: ignore[arg-type]

        threading.Thread(target=work, name="iisearch-action", daemon=True).start()
        cancelled_at: float | None = None
        while True:
            try:
                event = self._tool_events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if self._cancel.is_set():
                    if cancelled_at is None:
                        cancelled_at = time.monotonic()
                        if on_cancel is not None:
                            on_cancel()
                    elif time.monotonic() - cancelled_at > CANCEL_GRACE_SECONDS:
                        break
                continue
            if event is finished:
                break
            if not isinstance(event, Event):  # the end marker of an action we gave up on
                continue
            self.sources.record(event)
            yield event
        outcome.cancelled = self._cancel.is_set()
        return outcome

    # --- helpers --------------------------------------------------------------------------------

    def _close_turn(self) -> None:
        if self._trace and not self._trace.endswith(f"{IM_END}\n"):
            # The model's own end of turn (EOS) is trained; a turn we cut short is not.
            self.append(IM_END, generated=self._model_ended_turn)
            self.append("\n")

    def _stats(self, state: RunState, counters: tuple[int, int, int, float],
               started: float) -> Stats:
        searches, visits, calls, seconds = counters
        box = self.toolbox
        return Stats(
            searches=box.searches - searches, visits=box.visits - visits,
            tool_calls=box.calls - calls, code_blocks=state.code_blocks,
            format_errors=state.format_errors, generations=state.generations,
            prompt_tokens_evaluated=state.prompt_tokens_evaluated,
            completion_tokens=state.generated_tokens,
            trace_tokens=self.backend.count_tokens(self._trace),
            wall_seconds=round(time.perf_counter() - started, 3),
            generation_seconds=round(state.generation_seconds, 3),
            tool_seconds=round(box.seconds - seconds, 3))
