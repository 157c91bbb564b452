"""II-Search-CIR-4B: code-integrated reasoning over one growing raw-text trace.

The model writes ``<start_code>`` + a ```` ```python ```` fence + ``<end_code>`` inside its
reasoning; generation stops at ``<end_code>`` (engines strip it, we put it back), the code runs in
the restricted executor, and its output follows as a ```` ```output ```` fence. The answer is the
text after ``</think>``. Every malformed output has a defined outcome, listed in ``handle``.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..backends.base import GenerationResult
from .events import CodeBlock, CodeResult, Event, Notice
from .prompting import END_CODE, START_CODE, assistant_start, turn
from .session_core import Continue, End, Force, Outcome, RunState, TraceCursor

if TYPE_CHECKING:
    from .session import ResearchSession

# A fence opens with ```python (or ```py / bare ```) and closes with ``` or the end of the block.
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(?P<code>.*?)(?:```|\Z)", re.DOTALL)

NO_OUTPUT = "(The code printed nothing. Use print() to see results.)"
NO_CODE = ("No code was run: nothing between <start_code> and <end_code> looked like code. "
           "Write each block exactly like this:\n<start_code>\n```python\n"
           "print(web_search(query=\"...\"))\n```\n<end_code>")
LIMIT_REACHED = "No code was run: the limit of {limit} code blocks is reached. Write the answer now."
NOT_RUN = "This code block was not run: the session is out of budget."
CANCELLED = "Cancelled."


@dataclass(frozen=True)
class ExtractedCode:
    """The code to run from one block, or why there is none."""

    code: str | None
    fences: int = 0


def extract_code(segment: str) -> ExtractedCode:
    """Find the code the model meant to run in the text it wrote since the last output.

    Lenient on purpose: a missing ``<start_code>``, a missing closing fence or raw code without
    a fence still run; several fences in one block run together, in order.
    """
    at = segment.find(START_CODE)
    body = segment[at + len(START_CODE):] if at != -1 else segment
    body = body.replace(START_CODE, "")
    blocks = [m["code"] for m in _FENCE.finditer(body)]
    if blocks:
        code = "\n\n".join(b.strip("\n") for b in blocks)
        return ExtractedCode(code if code.strip() else None, len(blocks))
    if at != -1 and body.strip():  # raw code right after <start_code>
        return ExtractedCode(body.strip("\n"), 0)
    return ExtractedCode(None, 0)


def output_fence(observation: str) -> str:
    """How an observation is appended right after ``<end_code>``."""
    return f"\n```output\n{observation}\n```\n"


def observation_text(output: str, error: str | None) -> str:
    """What the model reads: the printed output, then the real error (short, with its line)."""
    text = output.rstrip("\n")
    if error:
        text = f"{text}\n{error}" if text else error
    return text or NO_OUTPUT


class CirDriver:
    """The protocol-specific half of the loop for code-integrated reasoning."""

    name = "cir"
    stops = (END_CODE,)
    answer_stops = (END_CODE,)  # code in a forced answer ends it

    def __init__(self, session: ResearchSession) -> None:
        self.session = session

    def opening(self, question: str, date: str) -> TraceCursor:
        s = self.session
        system = s.prompts.render("cir_system", functions=_describe(s), date=date).rstrip("\n")
        head = turn("system", system) + turn("user", question) + assistant_start()
        return TraceCursor(text=head + "<think>\n" + s.prompts.raw("cir_hint"), turn_offset=len(head))

    def follow_up(self, question: str) -> TraceCursor:
        head = turn("user", question) + assistant_start()
        return TraceCursor(text=head + "<think>\n" + self.session.prompts.raw("cir_hint"),
                           turn_offset=len(head))

    def abandon_action(self, state: RunState) -> str:
        """Close a code block the budget interrupted, so the trace stays well formed."""
        return self._closing(self.session.trace[state.segment_start:]) + output_fence(NOT_RUN)

    @staticmethod
    def _closing(segment: str) -> str:
        """What closes an open code block: the missing fence (if any), then ``<end_code>``."""
        body = segment[max(segment.find(START_CODE), 0):]
        separator = "" if segment.endswith("\n") else "\n"
        fence_closed = body.count("```") >= 2
        return separator + ("" if fence_closed else "```\n") + END_CODE

    def handle(self, state: RunState, result: GenerationResult) -> Generator[Event, None, Outcome]:
        """Decide what follows a generation that stopped at ``<end_code>`` or ended."""
        s = self.session
        segment = s.trace[state.segment_start:]
        if result.finish_reason == "stop":
            s.append(END_CODE, generated=True)  # the stop string the model wrote
            if state.splitter.answer_started:
                # Rule: all code before </think>. Code inside the answer is never run; the
                # answer is what came before it.
                yield Notice(code="code_after_answer",
                             message="The model wrote code after </think>; it was not run.")
                return End.answer(state)
            return (yield from self._run_block(state, segment))
        if state.splitter.answer_started:
            return End.answer(state)
        if state.splitter.phase == "action":
            # The model ended inside a code block without <end_code>: close it and run it.
            s.append(self._closing(segment))
            yield Notice(code="unterminated_code",
                         message="The model ended inside a code block; it was closed and run.")
            return (yield from self._run_block(state, segment))
        return Force("the model stopped without closing its reasoning (no </think>)")

    def _run_block(self, state: RunState, segment: str) -> Generator[Event, None, Outcome]:
        s = self.session
        if state.code_blocks >= s.settings.max_code_blocks:
            s.append(output_fence(LIMIT_REACHED.format(limit=s.settings.max_code_blocks)))
            yield Notice(code="code_limit", message=f"Code block limit "
                         f"({s.settings.max_code_blocks}) reached; asking for the answer.")
            return Force(f"code block limit ({s.settings.max_code_blocks}) reached")
        extracted = extract_code(segment)
        if extracted.code is None:
            return (yield from s.format_error(state, output_fence(NO_CODE),
                                              "a code block without code"))
        state.format_errors_in_row = 0
        state.code_blocks += 1
        index = state.code_blocks
        if extracted.fences > 1:
            yield Notice(code="several_fences", message=f"Code block {index} held "
                         f"{extracted.fences} fences; they ran together, in order.")
        try:
            executor = s.executor
        except Exception as exc:  # no executor, no CIR: end clearly instead of looping
            s.append(output_fence("Not run: the code executor is not available."))
            return End("error", f"the code executor could not start: {exc}")
        yield CodeBlock(index=index, code=extracted.code)
        outcome = yield from s.run_action(lambda: executor.run(extracted.code),
                                          on_cancel=s.cancel_executor)
        if outcome.cancelled:
            s.append(output_fence(CANCELLED))
            return End("cancelled", "cancelled while code was running")
        if outcome.exception is not None:
            output, error = "", f"Error: the code could not run: {outcome.exception}"
        else:
            output, error = outcome.value.output or "", outcome.value.error
        observation = s.fit_observation(observation_text(output, error))
        s.append(output_fence(observation))
        yield CodeResult(index=index, output=output, error=error, seconds=outcome.seconds,
                         observation=observation)
        s.resume_after_action(state)
        return Continue()


def _describe(session: ResearchSession) -> str:
    lines = []
    for spec in session.toolbox.specs():
        lines.append(f"- {spec.signature}\n  {spec.description}")
    return "\n".join(lines)
