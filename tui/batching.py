"""A thread-safe hand-over of research events from the worker thread to the UI.

The worker ``put``s every event as it comes; the UI ``drain``s on a timer (every few tens of
milliseconds) and gets one list in which consecutive text deltas of the same kind are merged.
However fast the model writes, the screen then does at most one update per kind per tick.
"""

from __future__ import annotations

import threading

from iisearch_local.research import events as ev


def merge_deltas(events: list[ev.Event]) -> list[ev.Event]:
    """``events`` with runs of reasoning / answer / report deltas joined into single deltas."""
    merged: list[ev.Event] = []
    for event in events:
        last = merged[-1] if merged else None
        if isinstance(event, ev.ReasoningDelta) and isinstance(last, ev.ReasoningDelta):
            merged[-1] = ev.ReasoningDelta(text=last.text + event.text)
        elif isinstance(event, ev.AnswerDelta) and isinstance(last, ev.AnswerDelta):
            merged[-1] = ev.AnswerDelta(text=last.text + event.text)
        elif (isinstance(event, ev.ReportDelta) and isinstance(last, ev.ReportDelta)
              and last.reasoning == event.reasoning):
            merged[-1] = ev.ReportDelta(text=last.text + event.text, reasoning=event.reasoning)
        else:
            merged.append(event)
    return merged


class EventBatcher:
    """Events waiting for the UI; ``put`` from any thread, ``drain`` from the UI's timer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[ev.Event] = []
        self.received = 0  # events ever put (for the benchmark and tests)

    def put(self, event: ev.Event) -> None:
        with self._lock:
            self._pending.append(event)
            self.received += 1

    def drain(self) -> list[ev.Event]:
        """Everything put since the last drain, with consecutive deltas merged."""
        with self._lock:
            pending, self._pending = self._pending, []
        return merge_deltas(pending) if pending else []

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)
