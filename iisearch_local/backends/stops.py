"""Stop-string matching over a stream of text pieces.

Tokens rarely line up with stop strings (``<end_code>`` may arrive as ``<end`` + ``_code>``), so
the matcher holds back any tail that could still become a stop string and releases it once it
cannot. The text it releases never contains a stop string.
"""

from __future__ import annotations

from collections.abc import Sequence


class StopMatcher:
    """Feed text pieces; get back the text that is safe to emit, and which stop string hit."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._longest = max((len(s) for s in self.stops), default=0)
        self._pending = ""
        self.stopped_by: str | None = None

    def feed(self, piece: str) -> str:
        """Add ``piece``; return the text that can be emitted now (before any stop string)."""
        if self.stopped_by is not None:
            return ""
        if not self.stops:
            return piece
        buffer = self._pending + piece
        first_at, first_stop = len(buffer) + 1, None
        for stop in self.stops:
            at = buffer.find(stop)
            if at != -1 and at < first_at:
                first_at, first_stop = at, stop
        if first_stop is not None:
            self.stopped_by = first_stop
            self._pending = ""
            return buffer[:first_at]
        hold = self._held_tail_length(buffer)
        self._pending = buffer[len(buffer) - hold:] if hold else ""
        return buffer[: len(buffer) - hold]

    def flush(self) -> str:
        """Release whatever is still held back (the stream ended without a stop)."""
        rest, self._pending = self._pending, ""
        return "" if self.stopped_by is not None else rest

    def _held_tail_length(self, buffer: str) -> int:
        """Length of the longest suffix of ``buffer`` that is a proper prefix of a stop string."""
        limit = min(len(buffer), self._longest - 1)
        for size in range(limit, 0, -1):
            tail = buffer[-size:]
            if any(stop.startswith(tail) for stop in self.stops):
                return size
        return 0
