"""The sandbox's ``re`` module: every match runs with a timeout and every substitution is sized.

CPython's ``re`` cannot be interrupted, so one pattern with catastrophic backtracking would hang
the worker thread. When the third-party ``regex`` module is installed (it is a dependency of
this package) patterns compile with it, and each call gets ``timeout=`` bounded by
``regex_timeout_seconds`` and by the block's deadline. Without it, stdlib ``re`` is used and that
one protection is missing (the executor still abandons a block that never returns).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from .errors import LimitExceeded
from .limits import LIMIT_REGEX_TIME, LIMIT_WALL_TIME
from .runtime import CountingIterator, RunContext

try:
    import regex as _backend
    HAS_TIMEOUT = True
except ImportError:  # pragma: no cover - regex is a declared dependency
    import re as _backend
    HAS_TIMEOUT = False

PATTERN_TYPE = type(_backend.compile(""))
MATCH_TYPE = type(_backend.match("", ""))
FLAG_NAMES = ("IGNORECASE", "I", "MULTILINE", "M", "DOTALL", "S", "VERBOSE", "X", "ASCII", "A",
              "UNICODE", "U", "NOFLAG")
# Attributes the sandbox may read on compiled patterns and on matches (the ``re`` API).
PATTERN_ATTRIBUTES = frozenset({
    "search", "match", "fullmatch", "findall", "finditer", "split", "sub", "subn", "pattern",
    "flags", "groups", "groupindex",
})
MATCH_ATTRIBUTES = frozenset({
    "group", "groups", "groupdict", "start", "end", "span", "expand", "string", "re", "pos",
    "endpos", "lastindex", "lastgroup", "regs",
})


def build_re(ctx: RunContext, guards: SimpleNamespace) -> tuple[dict[str, Any], dict[str, dict[type, Callable[..., Any]]]]:
    """The ``re`` module members and the checked Pattern/Match methods."""
    limits = ctx.limits

    def timed(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not HAS_TIMEOUT:
            return method(*args, **kwargs)
        remaining = ctx.deadline - time.monotonic()
        kwargs["timeout"] = max(0.001, min(limits.regex_timeout_seconds, remaining))
        try:
            return method(*args, **kwargs)
        except TimeoutError:
            if time.monotonic() >= ctx.deadline:
                ctx.trip(LimitExceeded(LIMIT_WALL_TIME, f"time limit: the block ran longer than "
                                                        f"{limits.wall_time_seconds:g} seconds"))
            ctx.trip(LimitExceeded(
                LIMIT_REGEX_TIME,
                f"regex time limit: one regular expression ran longer than "
                f"{limits.regex_timeout_seconds:g} s (catastrophic backtracking?); simplify it"))
            raise  # pragma: no cover - trip always raises

    def compile_pattern(pattern: Any, flags: int = 0) -> Any:
        if isinstance(pattern, PATTERN_TYPE):
            return pattern
        return _backend.compile(pattern, flags)

    def sized_replacement(pattern: Any, repl: Any, string: Any) -> Any:
        """A replacement that fails once the result would pass the size limit."""
        length = len(string) if isinstance(string, (str, bytes)) else 0
        if isinstance(repl, (str, bytes)) and "\\" not in (repl if isinstance(repl, str) else repl.decode("latin-1")):
            if length + (length + 1) * len(repl) <= guards.max_len:
                return repl
        produced = [length]

        def replace(match: Any) -> Any:
            piece = repl(match) if callable(repl) else match.expand(repl)
            if isinstance(piece, (str, bytes)):
                produced[0] += len(piece)
                if produced[0] > guards.max_len:
                    guards.too_big("re.sub", produced[0], "characters")
            return piece
        return replace

    def p_search(self: Any, string: Any, *args: Any) -> Any:
        return timed(self.search, string, *args)

    def p_match(self: Any, string: Any, *args: Any) -> Any:
        return timed(self.match, string, *args)

    def p_fullmatch(self: Any, string: Any, *args: Any) -> Any:
        return timed(self.fullmatch, string, *args)

    def p_findall(self: Any, string: Any, *args: Any) -> Any:
        return timed(self.findall, string, *args)

    def p_finditer(self: Any, string: Any, *args: Any) -> Any:
        return CountingIterator(timed(self.finditer, string, *args), ctx)

    def p_split(self: Any, string: Any, maxsplit: int = 0) -> Any:
        return timed(self.split, string, maxsplit)

    def p_sub(self: Any, repl: Any, string: Any, count: int = 0) -> Any:
        return timed(self.sub, sized_replacement(self, repl, string), string, count)

    def p_subn(self: Any, repl: Any, string: Any, count: int = 0) -> Any:
        return timed(self.subn, sized_replacement(self, repl, string), string, count)

    def m_expand(self: Any, template: Any) -> Any:
        if isinstance(template, (str, bytes)):
            refs = template.count("\\" if isinstance(template, str) else b"\\")
            guards.check_len(len(template) + refs * len(self.string), "Match.expand", 1)
        return self.expand(template)

    special: dict[str, dict[type, Callable[..., Any]]] = {}
    for name, fn in (("search", p_search), ("match", p_match), ("fullmatch", p_fullmatch),
                     ("findall", p_findall), ("finditer", p_finditer), ("split", p_split),
                     ("sub", p_sub), ("subn", p_subn)):
        fn.__name__ = name
        special.setdefault(name, {})[PATTERN_TYPE] = fn
    m_expand.__name__ = "expand"
    special["expand"] = {MATCH_TYPE: m_expand}

    def module_level(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(pattern: Any, string: Any, flags: int = 0) -> Any:
            return method(compile_pattern(pattern, flags), string)
        call.__name__ = method.__name__
        return call

    def sub(pattern: Any, repl: Any, string: Any, count: int = 0, flags: int = 0) -> Any:
        return p_sub(compile_pattern(pattern, flags), repl, string, count)

    def subn(pattern: Any, repl: Any, string: Any, count: int = 0, flags: int = 0) -> Any:
        return p_subn(compile_pattern(pattern, flags), repl, string, count)

    def split(pattern: Any, string: Any, maxsplit: int = 0, flags: int = 0) -> Any:
        return p_split(compile_pattern(pattern, flags), string, maxsplit)

    members: dict[str, Any] = {
        "compile": compile_pattern, "search": module_level(p_search),
        "match": module_level(p_match), "fullmatch": module_level(p_fullmatch),
        "findall": module_level(p_findall), "finditer": module_level(p_finditer),
        "sub": sub, "subn": subn, "split": split, "escape": _backend.escape,
        "error": _backend.error, "Pattern": PATTERN_TYPE, "Match": MATCH_TYPE,
    }
    for flag in FLAG_NAMES:
        if hasattr(_backend, flag):
            members[flag] = getattr(_backend, flag)
    return members, special
