"""Shared output helpers for ``scripts/bench``: one JSON line per figure on stdout."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any


def emit(bench: str, figure: str, *, ours: float, reference: float | None, ratio: float | None,
         target: str, passed: bool, **extra: Any) -> None:
    """Print one figure as a JSON object on its own line (the contract of ``scripts/bench``)."""
    record = {"bench": bench, "figure": figure, "ours": ours, "reference": reference,
              "ratio": ratio, "target": target, "pass": bool(passed), **extra}
    print(json.dumps(record), flush=True)


def say(*parts: object) -> None:
    """Human-readable progress: stderr only, so stdout stays pure JSON lines."""
    print(*parts, file=sys.stderr, flush=True)


def best_of(repeats: int, func: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``func`` several times; return the fastest wall time and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result
