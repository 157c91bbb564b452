"""II-Search-4B: Qwen3 / Hermes-style tool calls, rendered turn by turn in Python.

The system turn lists the tools' JSON schemas inside ``<tools>``; the model writes
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (usually after ``</think>``);
generation stops at ``</tool_call>`` (put back) or ``<|im_end|>``; the results come back in a user
turn as ``<tool_response>`` blocks. Earlier turns' reasoning stays in the history, as the model
was trained. Malformed calls get an error response the model can act on (see ``handle``).
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..backends.base import GenerationResult
from .events import AnswerDelta, AnswerReset, Event, Notice, ToolCall, ToolResult
from .prompting import (
    IM_END,
    THINK_OPEN,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    TOOL_RESPONSE_CLOSE,
    TOOL_RESPONSE_OPEN,
    assistant_start,
    turn,
)
from .session_core import Continue, End, Force, Outcome, RunState, TraceCursor
from .toolbox import ToolArgumentError, short_error

if TYPE_CHECKING:
    from .session import ResearchSession

CALL_SHAPE = '{"name": "web_search", "arguments": {"query": "..."}}'
LIMIT_REACHED = "Not run: the limit of {limit} tool calls is reached. Write the final answer now."
CANCELLED = "Cancelled."


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class CallProblem:
    """A tool call we could not read; ``message`` goes back to the model as the response."""

    message: str


def parse_tool_calls(body: str) -> list[ParsedCall | CallProblem]:
    """Read the JSON object(s) of one ``<tool_call>`` block, in order; problems stay in place."""
    text = body.replace(TOOL_CALL_OPEN, " ").replace(TOOL_CALL_CLOSE, " ")
    decoder = json.JSONDecoder()
    items: list[ParsedCall | CallProblem] = []
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            break
        try:
            value, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            items.append(CallProblem(f"Error: the tool call is not valid JSON ({exc.msg}). "
                                     f"Write it as <tool_call>\n{CALL_SHAPE}\n</tool_call>"))
            break
        items.append(_to_call(value))
    if not items:
        items.append(CallProblem(f"Error: the tool call was empty. Write it as "
                                 f"<tool_call>\n{CALL_SHAPE}\n</tool_call>"))
    return items


def _to_call(value: Any) -> ParsedCall | CallProblem:
    shape = f'Error: a tool call is one JSON object like {CALL_SHAPE}'
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return CallProblem(shape + ' (the "name" is missing).')
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):  # some models send the arguments JSON-encoded
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return CallProblem(shape + ' ("arguments" is not a JSON object).')
    if not isinstance(arguments, dict):
        return CallProblem(shape + ' ("arguments" must be an object).')
    return ParsedCall(value["name"].strip(), arguments)


def tool_schemas(session: ResearchSession) -> str:
    """One JSON signature per line, as the ``<tools>`` block of the system prompt holds them."""
    return "\n".join(
        json.dumps({"type": "function", "function": {
            "name": spec.name, "description": spec.description, "parameters": spec.parameters}},
            ensure_ascii=False)
        for spec in session.toolbox.specs())


def responses_turn(responses: list[str]) -> str:
    body = "\n".join(f"{TOOL_RESPONSE_OPEN}\n{r}\n{TOOL_RESPONSE_CLOSE}" for r in responses)
    return turn("user", body)


class ToolCallDriver:
    """The protocol-specific half of the loop for Qwen3 tool calls."""

    name = "tools"
    stops = (TOOL_CALL_CLOSE, IM_END)

    def __init__(self, session: ResearchSession) -> None:
        self.session = session

    def opening(self, question: str, date: str) -> TraceCursor:
        s = self.session
        system = s.prompts.render("tools_system", tools=tool_schemas(s), date=date).rstrip("\n")
        head = turn("system", system) + turn("user", question) + assistant_start()
        return TraceCursor(text=head, turn_offset=len(head))

    def follow_up(self, question: str) -> TraceCursor:
        head = turn("user", question) + assistant_start()
        return TraceCursor(text=head, turn_offset=len(head))

    def abandon_action(self, state: RunState) -> str:
        return f"\n{TOOL_CALL_CLOSE}"

    def handle(self, state: RunState, result: GenerationResult) -> Generator[Event, None, Outcome]:
        """Decide what follows a generation that stopped at ``</tool_call>`` or ended its turn."""
        s = self.session
        segment = s.trace[state.segment_start:]
        closed_call = result.finish_reason == "stop" and result.stop_string == TOOL_CALL_CLOSE
        if closed_call:
            s.append(TOOL_CALL_CLOSE, generated=True)  # the stop string the model wrote
        if state.forced and (closed_call or state.splitter.phase == "action"):
            # Tools are over once the answer was asked for: the answer is what came before.
            yield Notice(code="tool_after_forced_answer",
                         message="The model called a tool while asked for its answer; not run.")
            return End.answer(state)
        if closed_call:
            return (yield from self._tool_turn(state, segment))
        if state.splitter.phase == "action":
            # The turn ended inside <tool_call> without closing it: close it and try it.
            s.append(("" if segment.endswith("\n") else "\n") + TOOL_CALL_CLOSE)
            yield Notice(code="unterminated_tool_call",
                         message="The model ended inside a tool call; it was closed and read.")
            return (yield from self._tool_turn(state, segment))
        if state.splitter.answer_started:
            return End.answer(state)
        turn_text = s.trace[state.turn_start:]
        if THINK_OPEN not in turn_text:
            # No reasoning block at all: the whole turn is the answer.
            answer = turn_text.strip()
            if answer:
                state.splitter.start_answer()
                state.splitter.answer_text = answer
                yield AnswerDelta(text=answer)
            return End.answer(state)
        return Force("the model ended its turn without closing its reasoning (no </think>)")

    def _tool_turn(self, state: RunState, segment: str) -> Generator[Event, None, Outcome]:
        s = self.session
        at = segment.rfind(TOOL_CALL_OPEN)
        calls = parse_tool_calls(segment[at + len(TOOL_CALL_OPEN):] if at != -1 else segment)
        if state.splitter.answer_text.strip():
            yield AnswerReset(reason="the model went on to call a tool")
        responses: list[str] = []
        limit_hit = bad = False
        for call in calls:
            if isinstance(call, CallProblem):
                bad = True
                state.format_errors += 1
                yield Notice(code="format_error", message=f"Corrected the model: {call.message}")
                responses.append(call.message)
                continue
            if state.tool_calls >= s.settings.max_tool_calls:
                limit_hit = True
                responses.append(LIMIT_REACHED.format(limit=s.settings.max_tool_calls))
                continue
            state.tool_calls += 1
            index = state.tool_calls
            yield ToolCall(index=index, name=call.name, arguments=call.arguments)
            outcome = yield from s.run_action(lambda c=call: s.toolbox.call(c.name, **c.arguments))
            if outcome.cancelled:
                s.append(IM_END + "\n" + responses_turn(responses + [CANCELLED]) + assistant_start())
                s.new_turn(state)
                return End("cancelled", "cancelled while a tool was running")
            error: str | None = None
            if outcome.exception is not None:
                if isinstance(outcome.exception, ToolArgumentError):  # unknown tool, bad arguments
                    bad = True
                    state.format_errors += 1
                error = short_error(outcome.exception)
                output = f"Error: {error}"
            else:
                output = outcome.value
            yield ToolResult(index=index, name=call.name, output=output, error=error,
                             seconds=outcome.seconds)
            responses.append(s.fit_observation(output))
        state.format_errors_in_row = state.format_errors_in_row + 1 if bad else 0
        if limit_hit:
            yield Notice(code="tool_limit", message=f"Tool call limit "
                         f"({s.settings.max_tool_calls}) reached; asking for the answer.")
        # The model ends its turn after its calls (generation stopped at </tool_call> to save
        # time): that <|im_end|> is trained, the responses turn is ours.
        s.append(IM_END, generated=True)
        s.append("\n" + responses_turn(responses) + assistant_start())
        s.new_turn(state)
        if limit_hit:
            return Force(f"tool call limit ({s.settings.max_tool_calls}) reached")
        if state.format_errors_in_row >= s.settings.max_format_errors:
            return Force(f"{state.format_errors_in_row} malformed tool calls in a row")
        return Continue()
