"""The optional report pass: a second generation that turns a research trace into a cited report.

Its system prompt asks for a structured markdown report (one table, numbered citations, a
references list with exact URLs); its user turn holds the research notes (the trace without our
system prompt, its middle left out if it does not fit) and the original question. The report
is the text after ``</think>``. Chat markers are taken out of the notes so they cannot open
turns inside the user turn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator
from typing import TYPE_CHECKING

from .events import AnswerDelta, Event, Notice, ReasoningDelta, ReportDelta
from .prompting import IM_END, IM_START, assistant_start, http_date, turn
from .session_core import RunState
from .stream import TurnSplitter
from .tokens import keep_head_and_tail

if TYPE_CHECKING:
    from .session import ResearchSession

PROMPT_OVERHEAD_TOKENS = 256  # the report's system prompt and framing, roughly


def research_notes(trace: str) -> str:
    """The trace without the system turn and without chat markers (they would open nested turns).

    Questions, reasoning, code, tool output and answers stay, each turn headed by its role.
    """
    if trace.startswith(f"{IM_START}system\n"):
        end = trace.find(f"{IM_END}\n")
        if end != -1:
            trace = trace[end + len(IM_END) + 1:]
    for role in ("user", "assistant"):
        trace = trace.replace(f"{IM_START}{role}\n", f"[{role}]\n")
    return trace.replace(f"{IM_END}\n", "\n\n").replace(IM_END, "").replace(IM_START, "").strip()


def render_report_prompt(session: ResearchSession, question: str, notes: str, date: str) -> str:
    system = session.prompts.render("report_system", date=date).rstrip("\n")
    user = f"Research notes:\n\n{notes}\n\nQuestion: {question}"
    return turn("system", system) + turn("user", user) + assistant_start()


def run_report(session: ResearchSession, question: str,
               state: RunState) -> Generator[Event, None, str | None]:
    """Generate the report, streaming ``ReportDelta`` events; None when it could not be written."""
    backend = session.backend
    date = http_date(session.now())
    budget = session.settings.report_max_tokens
    room_for_notes = backend.context_size - budget - PROMPT_OVERHEAD_TOKENS - backend.count_tokens(
        render_report_prompt(session, question, "", date))
    if room_for_notes < PROMPT_OVERHEAD_TOKENS:
        yield Notice(code="report_skipped", message="No room in the context for a report.")
        return None
    notes = keep_head_and_tail(backend, research_notes(session.trace), room_for_notes)
    prompt = render_report_prompt(session, question, notes, date)
    room = backend.context_size - backend.count_tokens(prompt) - PROMPT_OVERHEAD_TOKENS // 16
    options = dataclasses.replace(session.settings.sampling, max_tokens=max(1, min(budget, room)),
                                  stop=(IM_END,))
    splitter = TurnSplitter()
    yield Notice(code="report", message="Writing the report.")
    try:
        generation = backend.generate(prompt, options, cancel=session.cancel_event)
        for delta in generation:
            for event in splitter.feed(delta):
                yield _as_report(event)
        result = generation.result
    except Exception as exc:  # the research answer stands even if the report fails
        yield Notice(code="report_failed", message=f"The report could not be written: {exc}")
        return None
    for event in splitter.flush():
        yield _as_report(event)
    state.generations += 1
    state.generated_tokens += result.completion_tokens
    state.prompt_tokens_evaluated += result.prompt_tokens_evaluated
    report = splitter.answer_text.strip()
    if result.finish_reason == "cancelled" or not report:
        yield Notice(code="report_failed", message="The report pass ended without a report.")
        return None
    return report


def _as_report(event: Event) -> ReportDelta:
    text = event.text if isinstance(event, ReasoningDelta | AnswerDelta) else ""
    return ReportDelta(text=text, reasoning=isinstance(event, ReasoningDelta))
