"""Small shared types of the research loop: per-run state and what a step decides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .events import SessionEnd
from .stream import TurnSplitter


@dataclass(frozen=True)
class TraceCursor:
    """Text to append to the trace; the assistant turn's own content starts at ``turn_offset``."""

    text: str
    turn_offset: int


@dataclass(frozen=True)
class Continue:
    """Generate again on the grown trace."""


@dataclass(frozen=True)
class Force:
    """Stop using tools: close the reasoning and ask the model for its answer."""

    reason: str


@dataclass(frozen=True)
class End:
    """The run is over."""

    reason: SessionEnd
    detail: str = ""

    @staticmethod
    def answer(state: RunState) -> End:
        if state.splitter.answer_text.strip():
            return End("answered", state.force_reason)
        return End("no_answer", state.explain("the model wrote no answer after </think>"))


Outcome = Continue | Force | End


@dataclass
class ActionOutcome:
    """The result of a blocking action (code run, tool call) run off the loop's thread."""

    value: Any = None
    exception: BaseException | None = None
    seconds: float = 0.0
    cancelled: bool = False


@dataclass
class RunState:
    """Everything one ``run(question)`` tracks while it goes."""

    turn_start: int  # trace index where the current assistant turn's content starts
    segment_start: int  # trace index after the last thing we appended (what the model wrote since)
    splitter: TurnSplitter = field(default_factory=TurnSplitter)
    code_blocks: int = 0
    tool_calls: int = 0
    format_errors: int = 0
    format_errors_in_row: int = 0
    generations: int = 0
    generated_tokens: int = 0
    answer_tokens: int = 0  # generated after </think> (bounded by answer_max_tokens)
    prompt_tokens_evaluated: int = 0
    generation_seconds: float = 0.0
    forced: bool = False
    force_reason: str = ""
    error: str = ""
    pending: list[str] | None = None  # deltas of a generation still streaming

    def explain(self, what: str) -> str:
        """``what``, plus why the answer was asked for when the loop forced it."""
        return f"{what} (the answer was asked for: {self.force_reason})" if self.forced else what
