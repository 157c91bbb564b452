"""The typed result of running one block of sandboxed code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExecutionResult:
    """What one ``RestrictedExecutor.run`` produced.

    ``output`` is the captured ``print`` output (capped by ``max_output_chars``); ``error`` is
    ``None`` on success, otherwise a short message such as
    ``NameError: name 'x' is not defined (line 3)``. ``error_kind`` is one of the
    ``ERROR_KIND_*`` constants of ``errors``; ``limit`` names the limit (``LIMIT_*``) for limit
    errors; ``line`` is the 1-based line of the block where the error happened, when known.
    ``session_reset`` is true when an earlier block never stopped and the executor had to start
    over with empty state before running this one.
    """

    output: str
    error: str | None = None
    error_kind: str | None = None
    limit: str | None = None
    line: int | None = None
    duration_seconds: float = 0.0
    tool_calls: int = 0
    session_reset: bool = False

    @property
    def ok(self) -> bool:
        """True when the block ran to the end without an error."""
        return self.error is None
