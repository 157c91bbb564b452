"""The typed events a research session yields, in the order things happen.

The CLI, the TUI and the session store all consume the same stream. Every event is a frozen
dataclass that turns into a JSON-ready dict (``to_dict``) and back (``event_from_dict``), so a
stored session replays exactly. Deltas are small; the ``Finished`` event carries the whole result.

Streaming rule: the ``AnswerDelta`` texts of a run, concatenated, equal ``Finished.answer``, except
that an ``AnswerReset`` says "drop what was streamed so far" (text the model wrote before deciding
to call a tool after all). ``Finished.answer`` is always authoritative.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

SessionEnd = Literal["answered", "length", "no_answer", "cancelled", "error"]


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every event; ``type`` names it in the serialised form."""

    type: ClassVar[str] = "event"
    # Fields holding nested records: name -> record class (a tuple field holds several).
    _nested: ClassVar[dict[str, type]] = {}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict: ``{"type": ..., **fields}``."""
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            out[f.name] = _plain(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        values = {k: v for k, v in data.items() if k != "type"}
        for name, record in cls._nested.items():
            if name not in values or values[name] is None:
                continue
            raw = values[name]
            values[name] = (tuple(record(**_untuple(record, item)) for item in raw)
                            if isinstance(raw, list | tuple) else record(**_untuple(record, raw)))
        for f in dataclasses.fields(cls):  # JSON turns tuples into lists; give them back
            if f.name in values and isinstance(values[f.name], list):
                values[f.name] = tuple(values[f.name])
        return cls(**values)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _untuple(record: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(record)}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names}


# --- records carried by events ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One search result as the model saw it."""

    index: int
    url: str
    title: str
    preview: str


@dataclass(frozen=True, kw_only=True)
class Source:
    """A page the answer cites: where, what, and the text that supports the claim."""

    number: int
    url: str
    title: str
    supporting_text: str
    visited: bool  # the model read the page in this session
    searched: bool  # a search returned the URL in this session


@dataclass(frozen=True, kw_only=True)
class Stats:
    """What a run cost and did."""

    searches: int = 0
    visits: int = 0
    tool_calls: int = 0  # every function call (searches, visits, others, failed ones too)
    code_blocks: int = 0
    format_errors: int = 0  # outputs we could not act on and answered with a correction
    generations: int = 0  # calls to the backend
    prompt_tokens_evaluated: int = 0
    completion_tokens: int = 0
    trace_tokens: int = 0
    wall_seconds: float = 0.0
    generation_seconds: float = 0.0
    tool_seconds: float = 0.0


# --- the events -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SessionStarted(Event):
    type: ClassVar[str] = "session_started"
    question: str
    protocol: str
    model: str
    date: str
    follow_up: bool = False


@dataclass(frozen=True, kw_only=True)
class ReasoningDelta(Event):
    type: ClassVar[str] = "reasoning"
    text: str


@dataclass(frozen=True, kw_only=True)
class AnswerDelta(Event):
    type: ClassVar[str] = "answer"
    text: str


@dataclass(frozen=True, kw_only=True)
class AnswerReset(Event):
    """Discard the streamed answer text: the model went on to call a tool."""

    type: ClassVar[str] = "answer_reset"
    reason: str


@dataclass(frozen=True, kw_only=True)
class CodeBlock(Event):
    """A code block the model wrote (CIR), about to run."""

    type: ClassVar[str] = "code"
    index: int
    code: str


@dataclass(frozen=True, kw_only=True)
class CodeResult(Event):
    """What running a code block printed; ``observation`` is what went back to the model."""

    type: ClassVar[str] = "code_result"
    index: int
    output: str
    error: str | None
    seconds: float
    observation: str


@dataclass(frozen=True, kw_only=True)
class ToolCall(Event):
    """A tool call the model made (tool-call protocol), about to run."""

    type: ClassVar[str] = "tool_call"
    index: int
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class ToolResult(Event):
    type: ClassVar[str] = "tool_result"
    index: int
    name: str
    output: str
    error: str | None
    seconds: float


@dataclass(frozen=True, kw_only=True)
class SearchDone(Event):
    """One search, from either protocol."""

    type: ClassVar[str] = "search"
    _nested: ClassVar[dict[str, type]] = {"hits": Hit}
    query: str
    max_results: int
    hits: tuple[Hit, ...]
    output: str
    error: str | None
    seconds: float


@dataclass(frozen=True, kw_only=True)
class VisitDone(Event):
    """One page visit, from either protocol."""

    type: ClassVar[str] = "visit"
    url: str
    title: str
    output: str
    error: str | None
    seconds: float


@dataclass(frozen=True, kw_only=True)
class FunctionDone(Event):
    """A call of any other function the session offered."""

    type: ClassVar[str] = "function"
    name: str
    arguments: dict[str, Any]
    output: str
    error: str | None
    seconds: float


@dataclass(frozen=True, kw_only=True)
class Notice(Event):
    """Something the loop did on its own: a correction sent to the model, a forced answer."""

    type: ClassVar[str] = "notice"
    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class ReportDelta(Event):
    """Text of the optional report pass; ``reasoning`` marks its thinking part."""

    type: ClassVar[str] = "report"
    text: str
    reasoning: bool = False


@dataclass(frozen=True, kw_only=True)
class Finished(Event):
    """The end of a run: the answer, its sources, why it ended, and what it cost."""

    type: ClassVar[str] = "finished"
    _nested: ClassVar[dict[str, type]] = {"sources": Source, "stats": Stats}
    reason: SessionEnd
    answer: str
    sources: tuple[Source, ...] = ()
    stats: Stats = field(default_factory=Stats)
    detail: str = ""  # why, in words: "code block limit reached", the backend's error, ...
    forced: bool = False  # the loop asked for the answer (limits, context full, no </think>)
    report: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls for cls in (
        SessionStarted, ReasoningDelta, AnswerDelta, AnswerReset, CodeBlock, CodeResult, ToolCall,
        ToolResult, SearchDone, VisitDone, FunctionDone, Notice, ReportDelta, Finished)
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from ``Event.to_dict()`` output (or its JSON round trip)."""
    try:
        cls = EVENT_TYPES[data["type"]]
    except KeyError:
        raise ValueError(f"not a research event: {data.get('type')!r}") from None
    return cls.from_dict(data)
