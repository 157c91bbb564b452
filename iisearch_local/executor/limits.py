"""Resource limits of the restricted executor: named constants and the ``ExecutorLimits`` record.

Every limit has a name (``LIMIT_*``) that appears in ``ExecutionResult.limit`` and in the error
message when it is hit, and a default (``DEFAULT_*``) that ``[executor]`` in
``default_config.toml`` documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

# Names of the limits, as reported in results and error messages.
LIMIT_WALL_TIME = "wall_time"
LIMIT_OPERATIONS = "operations"
LIMIT_MEMORY = "memory"
LIMIT_RECURSION = "recursion_depth"
LIMIT_OUTPUT = "output_size"
LIMIT_TOOL_CALLS_BLOCK = "tool_calls_per_block"
LIMIT_TOOL_CALLS_SESSION = "tool_calls_per_session"
LIMIT_CODE_SIZE = "code_size"
LIMIT_REGEX_TIME = "regex_time"
# Not a resource limit, but it stops a block the same uncatchable way.
LIMIT_CANCELLED = "cancelled"

ALL_LIMITS = (
    LIMIT_WALL_TIME, LIMIT_OPERATIONS, LIMIT_MEMORY, LIMIT_RECURSION, LIMIT_OUTPUT,
    LIMIT_TOOL_CALLS_BLOCK, LIMIT_TOOL_CALLS_SESSION, LIMIT_CODE_SIZE, LIMIT_REGEX_TIME,
    LIMIT_CANCELLED,
)

# Defaults. Tool calls run inside a block, so the wall time leaves room for a few page visits.
DEFAULT_WALL_TIME_SECONDS = 120.0
# Loop iterations, comprehension items, function calls and items pulled by C-level consumers.
DEFAULT_MAX_OPERATIONS = 5_000_000
# Growth of the process's resident memory during one block (a backstop for many small objects).
DEFAULT_MAX_MEMORY_BYTES = 512 * 2**20
# Largest str/bytes (characters) or list/tuple/... (items) one checked operation may create.
DEFAULT_MAX_SEQUENCE_LENGTH = 10_000_000
# Largest integer (in bits) that ``**``, ``<<``, ``*`` and math functions may create.
DEFAULT_MAX_INT_BITS = 1_000_000
DEFAULT_MAX_RECURSION_DEPTH = 100
DEFAULT_MAX_OUTPUT_CHARS = 50_000
DEFAULT_MAX_TOOL_CALLS_PER_BLOCK = 20
DEFAULT_MAX_TOOL_CALLS_PER_SESSION = 200
DEFAULT_MAX_CODE_CHARS = 200_000
# One ``time.sleep`` call sleeps at most this long (and wakes at once on cancel).
DEFAULT_MAX_SLEEP_SECONDS = 10.0
# One regular-expression call may run this long (catastrophic backtracking stops here).
DEFAULT_REGEX_TIMEOUT_SECONDS = 5.0
# After a deadline or cancel, how long the block gets to stop by itself before it is interrupted,
# and then abandoned (a C call that never returns), so ``run`` always comes back.
DEFAULT_STOP_GRACE_SECONDS = 0.4


@dataclass(frozen=True, kw_only=True)
class ExecutorLimits:
    """All limits of one ``RestrictedExecutor``; every field has a ``DEFAULT_*`` constant."""

    wall_time_seconds: float = DEFAULT_WALL_TIME_SECONDS
    max_operations: int = DEFAULT_MAX_OPERATIONS
    max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES
    max_sequence_length: int = DEFAULT_MAX_SEQUENCE_LENGTH
    max_int_bits: int = DEFAULT_MAX_INT_BITS
    max_recursion_depth: int = DEFAULT_MAX_RECURSION_DEPTH
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    max_tool_calls_per_block: int = DEFAULT_MAX_TOOL_CALLS_PER_BLOCK
    max_tool_calls_per_session: int = DEFAULT_MAX_TOOL_CALLS_PER_SESSION
    max_code_chars: int = DEFAULT_MAX_CODE_CHARS
    max_sleep_seconds: float = DEFAULT_MAX_SLEEP_SECONDS
    regex_timeout_seconds: float = DEFAULT_REGEX_TIMEOUT_SECONDS
    stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"ExecutorLimits.{spec.name} must be a positive number, got {value!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ExecutorLimits:
        """Build limits from a config section (``config.section("executor")``); unknown keys fail."""
        known = {spec.name for spec in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown executor limit(s): {', '.join(unknown)}")
        return cls(**dict(values))
