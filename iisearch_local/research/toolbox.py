"""The functions the model may call, wrapped so every call is checked, timed and recorded.

The research loop works with any source: it takes plain ``name -> callable`` functions returning
strings (the search layer's ``SearchTools``, the in-memory ``local_source``, a test's own) and
offers them to the model under every name the II-Search models know (``web_search``,
``web_visit``, ``visit_webpage``), reading the arguments with the search layer's lenient rules
(``num_result`` / ``max_result`` / ``k``..., a list of queries or URLs). Each query and each URL
is recorded as its own call.
A failing function never breaks the run: its error becomes a short line the model can read.
"""

from __future__ import annotations

import inspect
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..search.arguments import search_arguments, visit_arguments
from ..search.base import SearchError
from .events import Event, FunctionDone, Hit, SearchDone, VisitDone

ToolKind = Literal["search", "visit", "other"]
SEARCH, VISIT = "web_search", "web_visit"
ALIASES = {"visit_webpage": VISIT}  # model-facing alias -> canonical name
# Spellings of the result count a source's search function may take (we call it with one).
COUNT_KEYWORDS = ("num_result", "max_result", "num_results", "max_results")
MAX_RESULTS = 20  # more results than this only fill the context
ERROR_CHARS = 300

_HIT_BLOCK = re.compile(
    r"^Index: (?P<index>\d+)\nURL: (?P<url>[^\n]*)\nTitle: (?P<title>[^\n]*)\nPreview: (?P<preview>[^\n]*)",
    re.MULTILINE)
# How the search layer words a failure it returns instead of raising (search/format.py).
_REPORTED_FAILURE = re.compile(r"(?:Search|Visit) failed for |web_(?:search|visit) error: ")
_TITLE_LINE = re.compile(r"^Title: (?P<title>[^\n]*)", re.MULTILINE)


class ToolCancelled(Exception):
    """The session was cancelled; raised inside a function call so running code stops."""


class ToolArgumentError(TypeError):
    """The model called a function with arguments it does not take; the message says how to."""


@dataclass(frozen=True, kw_only=True)
class ToolSpec:
    """How one function is described to the model."""

    name: str
    signature: str  # e.g. "web_search(query: str, num_result: int = 5) -> str"
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments (tool-call protocol)
    kind: ToolKind


def parse_hits(output: str) -> tuple[Hit, ...]:
    """The ``Index``/``URL``/``Title``/``Preview`` blocks of a formatted search result."""
    return tuple(Hit(index=int(m["index"]), url=m["url"].strip(), title=m["title"].strip(),
                     preview=m["preview"].strip()) for m in _HIT_BLOCK.finditer(output))


def page_title(output: str) -> str:
    match = _TITLE_LINE.search(output)
    return match["title"].strip() if match else ""


def short_error(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 4] + " ..."


class ToolBox:
    """Wraps the source's functions; reports each finished call through ``on_event``."""

    def __init__(self, functions: Mapping[str, Callable[..., str]], *, default_results: int = 5,
                 on_event: Callable[[Event], None] | None = None,
                 cancel: threading.Event | None = None) -> None:
        self._functions: dict[str, Callable[..., str]] = {}
        for name, fn in functions.items():  # the first of a name and its alias wins
            self._functions.setdefault(ALIASES.get(name, name), fn)
        self.default_results = default_results
        self.on_event = on_event
        self.cancel = cancel or threading.Event()
        self._lock = threading.Lock()
        self.searches = self.visits = self.calls = 0
        self.seconds = 0.0

    # --- what the model is told ---------------------------------------------------------------

    def specs(self) -> list[ToolSpec]:
        specs = []
        if SEARCH in self._functions:
            specs.append(ToolSpec(
                name=SEARCH, kind="search",
                signature=f"web_search(query: str, num_result: int = {self.default_results}) -> str",
                description="Search the web. Returns one block per result with Index, URL, "
                            "Title and Preview lines. `max_result` is accepted instead of "
                            "`num_result`.",
                parameters={"type": "object", "properties": {
                    "query": {"type": "string", "description": "What to search for."},
                    "num_result": {"type": "integer", "description":
                                   f"How many results to return (default {self.default_results})."}},
                    "required": ["query"]}))
        if VISIT in self._functions:
            specs.append(ToolSpec(
                name=VISIT, kind="visit", signature="web_visit(url: str) -> str",
                description="Read the page at `url`: its text without links, cut to about 5000 "
                            "words. `visit_webpage(url)` is the same function.",
                parameters={"type": "object", "properties": {
                    "url": {"type": "string", "description": "A URL a search returned."}},
                    "required": ["url"]}))
        for name, fn in self._functions.items():
            if name not in (SEARCH, VISIT):
                specs.append(_spec_from_function(name, fn))
        return specs

    def names(self) -> list[str]:
        """Every name the model may call, aliases included."""
        names = list(self._functions)
        names += [alias for alias, target in ALIASES.items() if target in self._functions]
        return names

    def model_functions(self) -> dict[str, Callable[..., str]]:
        """Callables for the code executor, one per name the model may use."""
        out: dict[str, Callable[..., str]] = {}
        for name in self.names():
            canonical = ALIASES.get(name, name)
            out[name] = _bound(self, canonical)
        return out

    # --- calling --------------------------------------------------------------------------------

    def call(self, name: str, /, *args: Any, **kwargs: Any) -> str:
        """Run one function as the model asked; bad arguments raise ``ToolArgumentError``."""
        canonical = ALIASES.get(name, name)
        if canonical not in self._functions:
            raise ToolArgumentError(f"unknown function {name!r}; available: {', '.join(self.names())}")
        if self.cancel.is_set():
            raise ToolCancelled("the session was cancelled")
        if canonical == SEARCH:
            queries, count = _read_arguments(search_arguments, args, kwargs)
            count = max(1, min(MAX_RESULTS, count or self.default_results))
            # One recorded call per query, joined like the search layer joins them.
            return "\n\n".join(
                self._timed(SEARCH, {"query": query, "num_result": count},
                            lambda q=query: self._call_search(q, count))
                for query in queries)
        if canonical == VISIT:
            urls = _read_arguments(visit_arguments, args, kwargs)
            visit = self._functions[VISIT]
            return "\n\n".join(self._timed(VISIT, {"url": url}, lambda u=url: visit(u))
                                 for url in urls)
        fn = self._functions[canonical]
        try:
            inspect.signature(fn).bind(*args, **kwargs)
        except TypeError as exc:
            raise ToolArgumentError(f"{canonical}(): {exc}") from None
        except ValueError:  # builtins without a signature: let the call decide
            pass
        arguments = {f"arg{i}": a for i, a in enumerate(args)} | dict(kwargs)
        return self._timed(canonical, arguments, lambda: fn(*args, **kwargs))

    def _call_search(self, query: str, count: int) -> str:
        fn = self._functions[SEARCH]
        keyword = _count_keyword(fn)
        return fn(query, **{keyword: count}) if keyword else fn(query)

    def _timed(self, name: str, arguments: dict[str, Any], run: Callable[[], Any]) -> str:
        started = time.perf_counter()
        error: str | None = None
        try:
            output = run()
            output = output if isinstance(output, str) else str(output)
            if _REPORTED_FAILURE.match(output):  # the search layer reports failures as text
                error = output.strip()
        except ToolCancelled:
            raise
        except Exception as exc:  # a failing source must not end the research
            error = short_error(exc)
            output = f"Error: {name} failed: {error}"
        seconds = time.perf_counter() - started
        with self._lock:
            self.calls += 1
            self.seconds += seconds
            if name == SEARCH:
                self.searches += 1
            elif name == VISIT:
                self.visits += 1
        if self.cancel.is_set():  # do not report half-finished work after a cancel
            raise ToolCancelled("the session was cancelled")
        if self.on_event is not None:
            self.on_event(self._event(name, arguments, output, error, seconds))
        return output

    def _event(self, name: str, arguments: dict[str, Any], output: str, error: str | None,
               seconds: float) -> Event:
        if name == SEARCH:
            return SearchDone(query=arguments["query"], max_results=arguments["num_result"],
                              hits=parse_hits(output), output=output, error=error, seconds=seconds)
        if name == VISIT:
            return VisitDone(url=arguments["url"], title=page_title(output), output=output,
                             error=error, seconds=seconds)
        return FunctionDone(name=name, arguments={k: _jsonable(v) for k, v in arguments.items()},
                            output=output, error=error, seconds=seconds)


def _bound(box: ToolBox, name: str) -> Callable[..., str]:
    def call(*args: Any, **kwargs: Any) -> str:
        return box.call(name, *args, **kwargs)

    call.__name__ = name
    return call


def _read_arguments(reader: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Read the model's arguments with the search layer's lenient rules; errors say how to call."""
    try:
        return reader(args, kwargs)
    except SearchError as exc:
        raise ToolArgumentError(exc.message) from None


def _count_keyword(fn: Callable[..., Any]) -> str | None:
    """Which spelling of the result count the source's search function accepts."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    for keyword in COUNT_KEYWORDS:
        if keyword in params:
            return keyword
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return COUNT_KEYWORDS[0]
    return None


def _spec_from_function(name: str, fn: Callable[..., Any]) -> ToolSpec:
    doc = inspect.getdoc(fn) or f"The {name} function."
    try:
        signature = f"{name}{inspect.signature(fn)}"
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        signature, params = f"{name}(...)", {}
    properties = {p: {"type": "string"} for p in params if p not in ("self", "args", "kwargs")}
    required = [p for p, v in params.items()
                if v.default is inspect.Parameter.empty and p in properties]
    return ToolSpec(name=name, signature=signature, description=doc.splitlines()[0], kind="other",
                    parameters={"type": "object", "properties": properties, "required": required})


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)
