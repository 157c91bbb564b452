"""Split the text a model streams into reasoning and answer deltas, hiding code and tool calls.

Markers arrive in pieces (``</thi`` + ``nk>``), so the splitter holds back any tail that could
still grow into a marker, like the backends' stop matcher does. Code and tool calls are hidden
from the deltas because the loop reports them as their own events.
"""

from __future__ import annotations

from typing import Literal

from .events import AnswerDelta, Event, ReasoningDelta
from .prompting import START_CODE, THINK_CLOSE, THINK_OPEN, TOOL_CALL_OPEN

Phase = Literal["reasoning", "answer", "action"]

# marker -> phase it leads to (None: drop the marker, stay in the phase)
_MARKERS: dict[str, dict[str, Phase | None]] = {
    "reasoning": {THINK_OPEN: None, THINK_CLOSE: "answer", START_CODE: "action",
                  TOOL_CALL_OPEN: "action"},
    # A model may reopen <think> after a forced </think>: that part is reasoning again.
    "answer": {THINK_OPEN: "reasoning", THINK_CLOSE: None, START_CODE: "action",
               TOOL_CALL_OPEN: "action"},
    "action": {},
}


class TurnSplitter:
    """Feed the deltas of one assistant turn; get back reasoning and answer events."""

    def __init__(self) -> None:
        self.phase: Phase = "reasoning"
        self.answer_started = False  # a </think> was seen (or the answer was forced)
        self.answer_text = ""  # the answer as streamed so far
        self.reasoning_text = ""
        self._pending = ""
        self._before_action: Phase = "reasoning"

    def feed(self, text: str) -> list[Event]:
        events: list[Event] = []
        buffer = self._pending + text
        self._pending = ""
        while buffer:
            markers = _MARKERS[self.phase]
            if not markers:  # inside an action: the loop reports it, the stream does not
                return events
            hit_at, hit = len(buffer), None
            for marker in markers:
                at = buffer.find(marker)
                if at != -1 and at < hit_at:
                    hit_at, hit = at, marker
            if hit is None:
                hold = _held_tail(buffer, markers)
                self._emit(buffer[: len(buffer) - hold], events)
                self._pending = buffer[len(buffer) - hold:]
                return events
            self._emit(buffer[:hit_at], events)
            buffer = buffer[hit_at + len(hit):]
            target = markers[hit]
            if target == "action":
                self._before_action = self.phase
            if target == "answer":
                self.answer_started = True
            if target is not None:
                self.phase = target
        return events

    def flush(self) -> list[Event]:
        """The stream ended: release the held-back tail."""
        rest, self._pending = self._pending, ""
        events: list[Event] = []
        if self.phase != "action":
            self._emit(rest, events)
        return events

    def resume(self) -> None:
        """The action's result is in: continue in the phase the action interrupted."""
        self._pending = ""
        self.phase = self._before_action

    def start_answer(self) -> None:
        """The loop closed the reasoning itself (a forced answer)."""
        self._pending = ""
        self.phase = "answer"
        self.answer_started = True

    def _emit(self, text: str, events: list[Event]) -> None:
        if not text:
            return
        if self.phase == "reasoning":
            self.reasoning_text += text
            events.append(ReasoningDelta(text=text))
        elif self.phase == "answer":
            if not self.answer_text:
                text = text.lstrip()  # the blank lines after </think> are not the answer
                if not text:
                    return
            self.answer_text += text
            events.append(AnswerDelta(text=text))


def _held_tail(buffer: str, markers: dict[str, Phase | None]) -> int:
    """Length of the longest suffix of ``buffer`` that could still become a marker."""
    longest = max(len(m) for m in markers)
    for size in range(min(len(buffer), longest - 1), 0, -1):
        tail = buffer[-size:]
        if any(m.startswith(tail) for m in markers):
            return size
    return 0
