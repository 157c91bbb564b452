"""Jsonl traces (the format is documented in ``traces``) rendered exactly as the model sees them.

The opening (system prompt, question, and for CIR ``<think>`` plus the hint) comes from the
research engine's own drivers, observations are wrapped by the engine's own functions
(``cir.output_fence``, ``toolcalls.responses_turn``) and turns are closed the way
``ResearchSession`` closes them, so a rendered trace is byte for byte the trace a live session
would hold had the model written the same things. Prompts and tool descriptions follow the
``ResearchSettings`` given (the user's prompt files and search defaults).
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..backends.scripted import ScriptedBackend
from ..research.cir import CirDriver, output_fence
from ..research.prompting import (
    END_CODE,
    IM_END,
    START_CODE,
    THINK_CLOSE,
    THINK_OPEN,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    assistant_start,
)
from ..research.session import ResearchSession
from ..research.settings import PROTOCOLS, ResearchSettings
from ..research.toolcalls import ToolCallDriver, responses_turn
from .examples import DatasetError, Segment, TraceExample

ROLES = ("user", "assistant", "tool")
FOLLOW_UPS = "follow_ups"  # example metadata: the questions after the first (decontamination)
TRACE_KEYS = frozenset({"protocol", "messages", "date", "answer", "correct", "tool_calls", "id",
                        "meta"})
MESSAGE_KEYS = {"user": frozenset({"role", "content"}),
                "tool": frozenset({"role", "content"}),
                "assistant": frozenset({"role", "reasoning", "content", "code", "tool_calls"})}
# A CIR code block counts one tool call per call of a search/visit function written in it.
_FUNCTION_CALL = re.compile(r"\b(?:web_search|web_visit|visit_webpage)\s*\(")


@dataclass(frozen=True, kw_only=True)
class Message:
    """One checked message of a jsonl trace."""

    role: str
    content: str | None = None
    reasoning: str | None = None
    code: str | None = None
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass(frozen=True, kw_only=True)
class JsonlTrace:
    """One checked line of a jsonl trace file."""

    protocol: str
    messages: tuple[Message, ...]
    date: str | None = None
    gold: str | None = None
    correct: bool | None = None
    tool_calls: int | None = None  # given explicitly; else counted from the messages
    id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _placeholder(name: str) -> Callable[..., str]:
    def never(*args: Any, **kwargs: Any) -> str:  # rendering only describes the tools
        raise RuntimeError(f"{name} is not callable while rendering a trace")

    never.__name__ = name
    return never


# The names the app's search layer offers (``SearchTools.functions``); only descriptions are used.
PLACEHOLDER_TOOLS: Mapping[str, Callable[..., str]] = {
    name: _placeholder(name) for name in ("web_search", "web_visit", "visit_webpage")}


class TraceRenderer:
    """Turns checked ``JsonlTrace`` lines into ``TraceExample`` segments, one protocol driver each.

    ``default_date`` stands in for traces without a ``date`` (an HTTP date, as the system
    prompt shows it).
    """

    def __init__(self, *, default_date: str, settings: ResearchSettings | None = None) -> None:
        self.default_date = default_date
        self.settings = settings or ResearchSettings()
        self._drivers: dict[str, CirDriver | ToolCallDriver] = {}

    def driver(self, protocol: str) -> CirDriver | ToolCallDriver:
        """The research engine's own driver for ``protocol``, on a session that never runs."""
        if protocol not in self._drivers:
            session = ResearchSession(ScriptedBackend(), tools=PLACEHOLDER_TOOLS,
                                      protocol=protocol, settings=self.settings)
            self._drivers[protocol] = (CirDriver(session) if protocol == "cir"
                                       else ToolCallDriver(session))
        return self._drivers[protocol]

    def render(self, trace: JsonlTrace, *, source: str) -> TraceExample:
        """The example of one checked trace: its exact inference text, trained and masked."""
        driver = self.driver(trace.protocol)
        out = _Segments()
        messages = list(trace.messages)
        question = messages[0].content or ""
        out.add(driver.opening(question, trace.date or self.default_date).text, trained=False)
        answer = ""
        calls = 0
        follow_ups: list[str] = []
        index = 1
        while index < len(messages):
            message = messages[index]
            index += 1
            if message.role == "user":  # a follow-up after an answer
                out.add("\n" + driver.follow_up(message.content or "").text, trained=False)
                follow_ups.append((message.content or "").strip())
                continue
            observations = []
            while index < len(messages) and messages[index].role == "tool":
                observations.append(messages[index].content or "")
                index += 1
            if trace.protocol == "cir":
                calls += _render_cir(out, message, observations)
            else:
                calls += _render_tools(out, message, observations)
            if message.content is not None:
                answer = message.content.strip()
        out.add("\n", trained=False)  # the end of the last turn (after its trained <|im_end|>)
        return TraceExample(
            protocol=trace.protocol, segments=out.segments, question=question.strip(),
            answer=answer, tool_calls=calls if trace.tool_calls is None else trace.tool_calls,
            source=source, gold=trace.gold, correct=trace.correct,
            meta={**trace.meta, **({"id": trace.id} if trace.id is not None else {}),
                  **({FOLLOW_UPS: follow_ups} if follow_ups else {})})


class _Segments:
    """Segments built in order; adjacent text of the same kind is merged."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []

    def add(self, text: str, *, trained: bool) -> None:
        if not text:
            return
        if self.segments and self.segments[-1].trained == trained:
            self.segments[-1] = Segment(self.segments[-1].text + text, trained)
        else:
            self.segments.append(Segment(text, trained))


def _join(before: str | None, after: str) -> str:
    """``before`` then ``after``, on a new line unless ``before`` already ends one."""
    if not before:
        return after
    return before + ("" if before.endswith("\n") else "\n") + after


def code_block(code: str) -> str:
    """A CIR code block as the model writes it, ending with the stop string the engine restores."""
    return f"{START_CODE}\n```python\n{code.strip(chr(10))}\n```\n{END_CODE}"


def _render_cir(out: _Segments, message: Message, observations: list[str]) -> int:
    if message.code is not None:
        out.add(_join(message.reasoning, code_block(message.code)), trained=True)
        out.add(output_fence(observations[0]), trained=False)
        return len(_FUNCTION_CALL.findall(message.code))
    # The final answer: the model closes its reasoning, answers and ends its turn.
    out.add(_join(message.reasoning, THINK_CLOSE) + "\n\n" + (message.content or "") + IM_END,
            trained=True)
    return 0


def _think(reasoning: str | None) -> str:
    return "" if reasoning is None else f"{THINK_OPEN}\n" + _join(reasoning, THINK_CLOSE) + "\n\n"


def tool_call_block(calls: tuple[tuple[str, dict[str, Any]], ...]) -> str:
    """One ``<tool_call>`` block, one JSON object per call (generation stops at its end)."""
    lines = "\n".join(json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
                      for name, arguments in calls)
    return f"{TOOL_CALL_OPEN}\n{lines}\n{TOOL_CALL_CLOSE}"


def _render_tools(out: _Segments, message: Message, observations: list[str]) -> int:
    if message.tool_calls:
        # The model ends its turn after its calls; the responses come back in a user turn.
        out.add(_think(message.reasoning) + tool_call_block(message.tool_calls) + IM_END,
                trained=True)
        out.add("\n" + responses_turn(observations) + assistant_start(), trained=False)
        return len(message.tool_calls)
    out.add(_think(message.reasoning) + (message.content or "") + IM_END, trained=True)
    return 0


# --- checking a parsed line -------------------------------------------------------------------


def check_trace(data: Any, *, where: str, default_protocol: str | None = None) -> JsonlTrace:
    """Validate one parsed jsonl line; a problem is a ``DatasetError`` starting with ``where``."""

    def fail(what: str, hint: str | None = None) -> DatasetError:
        return DatasetError(f"{where}: {what}", hint=hint or "See docs/finetune-traces.md for the "
                            "trace format.")

    if not isinstance(data, dict):
        raise fail("expected a JSON object with \"messages\"")
    unknown = sorted(set(data) - TRACE_KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(map(repr, unknown))} (put extra data under "
                   "\"meta\")")
    protocol = data.get("protocol", default_protocol)
    if protocol is None:
        raise fail("no \"protocol\"", hint="Add \"protocol\": \"cir\" or \"tools\" to the line, "
                   "or pass --protocol.")
    if protocol not in PROTOCOLS:
        raise fail(f"unknown protocol {protocol!r} (expected one of: {', '.join(PROTOCOLS)})")
    date = data.get("date")
    if date is not None and (not isinstance(date, str) or not is_http_date(date)):
        raise fail(f"\"date\" must be an HTTP date like 'Mon, 02 Jun 2025 14:03:00 GMT', "
                   f"not {date!r}")
    gold, correct, calls, ident = (data.get(k) for k in ("answer", "correct", "tool_calls", "id"))
    if gold is not None and not isinstance(gold, str):
        raise fail("\"answer\" (the reference answer) must be a string")
    if correct is not None and not isinstance(correct, bool):
        raise fail("\"correct\" must be true or false")
    if calls is not None and (not isinstance(calls, int) or isinstance(calls, bool) or calls < 0):
        raise fail("\"tool_calls\" must be a whole number >= 0")
    if ident is not None and not isinstance(ident, str | int):
        raise fail("\"id\" must be a string or a number")
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        raise fail("\"meta\" must be an object")
    raw = data.get("messages")
    if not isinstance(raw, list) or not raw:
        raise fail("\"messages\" must be a non-empty list")
    messages = _check_messages(raw, protocol, fail)
    return JsonlTrace(protocol=protocol, messages=messages, date=date,
                      gold=None if gold is None else gold.strip(), correct=correct,
                      tool_calls=calls, id=None if ident is None else str(ident), meta=meta)


def is_http_date(text: str) -> bool:
    try:
        return email.utils.parsedate_to_datetime(text) is not None
    except (TypeError, ValueError, IndexError):
        return False


def _check_messages(raw: list[Any], protocol: str,
                    fail: Callable[..., DatasetError]) -> tuple[Message, ...]:
    """Messages in an order a session can produce: question, steps with their results, answer."""
    messages: list[Message] = []
    awaiting = 0  # tool messages still due after the last assistant message
    answered = False  # the last assistant message gave the final answer
    for number, item in enumerate(raw, start=1):
        at = f"message {number}"
        if not isinstance(item, dict):
            raise fail(f"{at} is not a JSON object")
        role = item.get("role")
        if role not in ROLES:
            raise fail(f"{at} has unknown role {role!r} (expected user, assistant or tool)")
        unknown = sorted(set(item) - MESSAGE_KEYS[role])
        if unknown:
            raise fail(f"{at} ({role}) has unknown key(s) {', '.join(map(repr, unknown))}")
        for key in ("content", "reasoning", "code"):
            if key in item and item[key] is not None and not isinstance(item[key], str):
                raise fail(f"{at} ({role}): \"{key}\" must be a string")
        if role != "tool" and awaiting:
            raise fail(f"{at}: {awaiting} tool message(s) missing before it (one per call)")
        if role == "user":
            if messages and not answered:
                raise fail(f"{at}: a follow-up question may only come after an answer")
            if not (item.get("content") or "").strip():
                raise fail(f"{at}: the user message holds no question" if messages else
                           "the question is missing (the first message is the user's, with "
                           "\"content\")")
            messages.append(Message(role="user", content=item["content"]))
            answered = False
            continue
        if not messages:
            raise fail("the first message must be the user's question")
        if role == "tool":
            if not awaiting:
                raise fail(f"{at}: a tool message must follow an assistant message with "
                           + ("code" if protocol == "cir" else "tool calls") + " (one per call)")
            messages.append(Message(role="tool", content=item.get("content") or ""))
            awaiting -= 1
            continue
        if answered:
            raise fail(f"{at}: the assistant already answered; a new question (user) must come "
                       "first")
        message = _check_assistant(item, protocol, at, fail)
        messages.append(message)
        answered = message.content is not None
        awaiting = len(message.tool_calls) if protocol == "tools" else int(message.code is not None)
    if awaiting:
        raise fail("the trace ends before the result of its last "
                   + ("code block" if protocol == "cir" else "tool call(s)"))
    if not answered:
        raise fail("the trace does not end with an answer (an assistant message with \"content\")")
    return tuple(messages)


def _check_assistant(item: dict[str, Any], protocol: str, at: str,
                     fail: Callable[..., DatasetError]) -> Message:
    reasoning, content, code = item.get("reasoning"), item.get("content"), item.get("code")
    calls = item.get("tool_calls")
    if not any(v not in (None, "", []) for v in (reasoning, content, code, calls)):
        raise fail(f"{at} (assistant) has nothing in it (no reasoning, code, tool calls or "
                   "content)")
    if protocol == "cir" and calls is not None:
        raise fail(f"{at}: \"tool_calls\" belong to the tools protocol; CIR steps carry \"code\"")
    if protocol == "tools" and code is not None:
        raise fail(f"{at}: \"code\" belongs to the cir protocol; tool-call steps carry "
                   "\"tool_calls\"")
    if code is not None and not code.strip():
        raise fail(f"{at}: \"code\" is empty")
    parsed: list[tuple[str, dict[str, Any]]] = []
    if calls is not None:
        if not isinstance(calls, list) or not calls:
            raise fail(f"{at}: \"tool_calls\" must be a non-empty list")
        for n, call in enumerate(calls, start=1):
            if (not isinstance(call, dict) or not isinstance(call.get("name"), str)
                    or not call["name"].strip() or not isinstance(call.get("arguments", {}), dict)
                    or set(call) - {"name", "arguments"}):
                raise fail(f"{at}: tool call {n} must be {{\"name\": \"...\", \"arguments\": "
                           "{...}}")
            parsed.append((call["name"], call.get("arguments", {})))
    acts = code is not None or bool(parsed)
    if acts and content is not None:
        raise fail(f"{at}: an assistant message either acts (code / tool calls) or answers "
                   "(content), not both")
    if not acts and content is None:
        raise fail(f"{at}: an assistant message needs "
                   + ("\"code\"" if protocol == "cir" else "\"tool_calls\"")
                   + " (followed by its result) or \"content\" (the final answer)")
    return Message(role="assistant", content=content, reasoning=reasoning, code=code,
                   tool_calls=tuple(parsed))
