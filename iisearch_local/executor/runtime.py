"""Runtime objects of the interpreter: the per-executor context and the sandbox's own callables.

Nothing here is a real Python function or frame of the sandboxed code: ``SandboxFunction``
holds a compiled closure tree and a plain list as its frame, so there is no ``__code__``,
``__globals__`` or frame object for the code to reach.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import MethodType as _MethodType
from typing import Any

from .errors import RULE_DEFUNCT, LimitExceeded, PolicyViolation, SandboxAbort
from .limits import (
    LIMIT_CANCELLED, LIMIT_MEMORY, LIMIT_OPERATIONS, LIMIT_OUTPUT, LIMIT_RECURSION,
    LIMIT_WALL_TIME, ExecutorLimits,
)

# Operations between two looks at the clock, the cancel flag and (every few looks) memory.
CHECK_INTERVAL = 1024
MEMORY_CHECK_EVERY = 32
# Objects at least this big trigger a memory look right away.
BIG_ALLOCATION_BYTES = 1 << 20


class _Unbound:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<unbound>"


UNBOUND: Any = _Unbound()
# Control-flow signals returned by compiled statements (a ``return`` returns a 1-tuple).
BREAK: Any = object()
CONTINUE: Any = object()


def _make_rss_reader() -> Callable[[], int]:
    """Resident memory of this process in bytes (0 when the platform does not tell)."""
    if os.path.exists("/proc/self/statm"):
        page = os.sysconf("SC_PAGE_SIZE")

        def read_statm() -> int:
            try:
                with open("/proc/self/statm", "rb") as handle:
                    return int(handle.read().split()[1]) * page
            except (OSError, ValueError, IndexError):
                return 0
        return read_statm
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return lambda: 0
    scale = 1 if sys.platform == "darwin" else 1024
    # Peak, not current, resident size: growth of the peak still bounds what a block allocates.
    return lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


read_rss = _make_rss_reader()


class RunContext:
    """Mutable state shared by all compiled code of one executor (one research session)."""

    __slots__ = (
        "limits", "ops", "next_check", "deadline", "cancel_requested", "tripped", "depth",
        "max_depth", "output", "output_len", "tool_calls_block", "tool_calls_session", "active",
        "in_tool", "sandbox_types", "fast_attr_types", "handling", "err_exc", "err_line",
        "wakeup", "rss_baseline", "mem_countdown", "repr_memo", "started", "sleep_budget",
        "tool_lock",
    )

    def __init__(self, limits: ExecutorLimits) -> None:
        self.limits = limits
        self.ops = 0
        self.next_check = 0
        self.deadline = float("inf")
        self.cancel_requested = False
        self.tripped: SandboxAbort | None = None
        self.depth = 0
        self.max_depth = limits.max_recursion_depth
        self.output: list[str] = []
        self.output_len = 0
        self.tool_calls_block = 0
        self.tool_calls_session = 0
        self.active = False
        self.in_tool = False
        # Classes the sandboxed code created (and namedtuple classes made for it).
        self.sandbox_types: set[type] = set()
        # Types whose public attributes can be read without the slow policy path.
        self.fast_attr_types: set[type] = set()
        self.handling: list[BaseException] = []
        self.err_exc: BaseException | None = None
        self.err_line: int | None = None
        self.wakeup = threading.Event()
        # Held while entering a tool call, so an interrupt never lands inside host tool code.
        self.tool_lock = threading.Lock()
        self.rss_baseline = 0
        self.mem_countdown = MEMORY_CHECK_EVERY
        self.repr_memo: dict[tuple[int, str], str] | None = None
        self.started = 0.0
        self.sleep_budget = 0.0

    def begin(self, max_depth: int) -> None:
        """Reset the per-block state before a block runs."""
        limits = self.limits
        self.ops = 0
        self.next_check = 0
        self.started = time.monotonic()
        self.deadline = self.started + limits.wall_time_seconds
        self.tripped = None
        self.depth = 0
        self.max_depth = max_depth
        self.output = []
        self.output_len = 0
        self.tool_calls_block = 0
        self.in_tool = False
        self.handling = []
        self.err_exc = None
        self.err_line = None
        self.rss_baseline = read_rss()
        self.mem_countdown = MEMORY_CHECK_EVERY
        self.repr_memo = None
        self.active = True

    # -- limits -----------------------------------------------------------------------------
    def trip(self, error: SandboxAbort) -> None:
        """Record a fatal error and raise it; every later check raises it again."""
        if self.tripped is None:
            self.tripped = error
        self.next_check = -1
        raise self.tripped

    def checkpoint(self) -> None:
        """Called every ``CHECK_INTERVAL`` operations (and on every one once tripped)."""
        if self.tripped is not None:
            raise self.tripped
        limits = self.limits
        if self.ops > limits.max_operations:
            self.trip(LimitExceeded(
                LIMIT_OPERATIONS,
                f"operation limit: the block ran more than {limits.max_operations:,} loop "
                f"iterations/calls; process less data or break out of the loop earlier"))
        if self.cancel_requested:
            self.trip(LimitExceeded(LIMIT_CANCELLED, "the block was cancelled"))
        if time.monotonic() > self.deadline:
            self.trip(LimitExceeded(
                LIMIT_WALL_TIME,
                f"time limit: the block ran longer than {limits.wall_time_seconds:g} seconds"))
        self.mem_countdown -= 1
        if self.mem_countdown <= 0:
            self.mem_countdown = MEMORY_CHECK_EVERY
            self.check_memory(0)
        self.next_check = min(self.ops + CHECK_INTERVAL, limits.max_operations + 1)

    def check_memory(self, about_to_allocate: int) -> None:
        """Fail when the process grew (or would grow) more than ``max_memory_bytes``."""
        rss = read_rss()
        if rss and rss + about_to_allocate - self.rss_baseline > self.limits.max_memory_bytes:
            self.trip(LimitExceeded(
                LIMIT_MEMORY,
                f"memory limit: the block used more than {self.limits.max_memory_bytes // 2**20} "
                f"MiB; keep less data in memory"))

    def note_allocation(self, nbytes: int) -> None:
        """Called before a checked operation creates a big object."""
        if nbytes >= BIG_ALLOCATION_BYTES:
            self.check_memory(nbytes)

    def line_of(self, error: BaseException, line: int) -> None:
        """Remember the innermost line where ``error`` surfaced first."""
        if self.err_exc is not error:
            self.err_exc = error
            self.err_line = line

    # -- output -----------------------------------------------------------------------------
    def write(self, text: str) -> None:
        room = self.limits.max_output_chars - self.output_len
        if len(text) > room:
            if room > 0:
                self.output.append(text[:room])
            self.output_len = self.limits.max_output_chars
            self.trip(LimitExceeded(
                LIMIT_OUTPUT,
                f"output limit: more than {self.limits.max_output_chars:,} characters printed; "
                f"print less (slice long texts, e.g. text[:2000])"))
        self.output.append(text)
        self.output_len += len(text)

    def recursion_error(self) -> None:
        self.trip(LimitExceeded(
            LIMIT_RECURSION,
            f"recursion limit: calls nested deeper than {self.max_depth}; use a loop instead"))


def _inactive() -> PolicyViolation:
    return PolicyViolation(RULE_DEFUNCT, "sandboxed code can only run inside RestrictedExecutor.run")


class FunctionSpec:
    """Static description of a compiled function (shared by every closure made from it)."""

    __slots__ = (
        "name", "qualname", "body", "nslots", "argnames", "nposonly", "npos", "vararg_slot",
        "varkw_slot", "kwonly", "kw_index", "simple_argc", "pad", "class_slot",
    )

    def __init__(self, *, name: str, qualname: str, body: Callable[[list], Any], nslots: int,
                 argnames: list[str], nposonly: int, vararg_slot: int | None,
                 varkw_slot: int | None, kwonly: list[tuple[str, int]],
                 class_slot: int | None) -> None:
        self.name = name
        self.qualname = qualname
        self.body = body
        self.nslots = nslots
        self.argnames = argnames
        self.nposonly = nposonly
        self.npos = len(argnames)
        self.vararg_slot = vararg_slot
        self.varkw_slot = varkw_slot
        self.kwonly = kwonly
        index = {name: i + 1 for i, name in enumerate(argnames) if i >= nposonly}
        index.update(dict(kwonly))
        self.kw_index = index
        simple = vararg_slot is None and varkw_slot is None and not kwonly
        self.simple_argc = self.npos if simple else -1
        self.pad = (UNBOUND,) * (nslots - 1 - self.npos)
        self.class_slot = class_slot


class SandboxFunction:
    """A function or lambda defined by the sandboxed code."""

    __slots__ = ("_spec", "_defaults", "_kwdefaults", "_link", "_ctx", "_owner")

    def __init__(self, spec: FunctionSpec, defaults: tuple, kwdefaults: dict[str, Any],
                 link: list | None, ctx: RunContext, owner: list | None = None) -> None:
        self._spec = spec
        self._defaults = defaults
        self._kwdefaults = kwdefaults
        self._link = link
        self._ctx = ctx
        self._owner = owner

    @property
    def __name__(self) -> str:  # noqa: PLW3201 - read by the policy and by functools
        return self._spec.name

    def __repr__(self) -> str:
        return f"<function {self._spec.qualname}>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        return _MethodType(self, obj)

    def __copy__(self) -> SandboxFunction:
        return self

    def __deepcopy__(self, memo: Any) -> SandboxFunction:
        return self

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("sandboxed functions cannot be pickled")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        ctx = self._ctx
        if not ctx.active:
            raise _inactive()
        ctx.ops += 1
        if ctx.ops > ctx.next_check:
            ctx.checkpoint()
        spec = self._spec
        if kwargs or len(args) != spec.simple_argc:
            frame = self._bind(args, kwargs)
        else:
            frame = [self._link, *args, *spec.pad]
        if spec.class_slot is not None:
            frame[spec.class_slot] = self._owner[0] if self._owner else UNBOUND
        depth = ctx.depth + 1
        if depth > ctx.max_depth:
            ctx.recursion_error()
        ctx.depth = depth
        try:
            result = spec.body(frame)
        finally:
            ctx.depth = depth - 1
        return None if result is None else result[0]

    def _bind(self, args: tuple, kwargs: dict[str, Any]) -> list:
        """Python's argument binding rules, with CPython's error messages."""
        spec = self._spec
        name = spec.name
        frame = [self._link, *((UNBOUND,) * (spec.nslots - 1))]
        npos = spec.npos
        nargs = len(args)
        if nargs > npos:
            if spec.vararg_slot is None:
                raise TypeError(f"{name}() takes {npos} positional argument{'s' * (npos != 1)} "
                                f"but {nargs} {'was' if nargs == 1 else 'were'} given")
            frame[1:npos + 1] = args[:npos]
            frame[spec.vararg_slot] = tuple(args[npos:])
        else:
            frame[1:nargs + 1] = args
            if spec.vararg_slot is not None:
                frame[spec.vararg_slot] = ()
        extra: dict[str, Any] = {}
        for key, value in kwargs.items():
            slot = spec.kw_index.get(key)
            if slot is None:
                if spec.varkw_slot is None:
                    raise TypeError(f"{name}() got an unexpected keyword argument '{key}'")
                extra[key] = value
            elif frame[slot] is not UNBOUND:
                raise TypeError(f"{name}() got multiple values for argument '{key}'")
            else:
                frame[slot] = value
        defaults = self._defaults
        first_default = npos - len(defaults)
        missing = []
        for i in range(npos):
            if frame[i + 1] is UNBOUND:
                if i >= first_default:
                    frame[i + 1] = defaults[i - first_default]
                else:
                    missing.append(spec.argnames[i])
        if missing:
            listed = ", ".join(repr(m) for m in missing)
            raise TypeError(f"{name}() missing {len(missing)} required positional "
                            f"argument{'s' * (len(missing) != 1)}: {listed}")
        for kwname, slot in spec.kwonly:
            if frame[slot] is UNBOUND:
                if kwname in self._kwdefaults:
                    frame[slot] = self._kwdefaults[kwname]
                else:
                    raise TypeError(f"{name}() missing 1 required keyword-only argument: '{kwname}'")
        if spec.varkw_slot is not None:
            frame[spec.varkw_slot] = extra
        return frame


class ReprHook:
    """Wraps a sandbox class's ``__repr__``/``__str__`` so one ``str()`` call runs it once per object.

    The size check of ``str(container)`` calls each object's hook first and remembers the
    result; CPython's own repr then reuses it, so the check and the output agree.
    """

    __slots__ = ("_fn", "_kind", "_ctx")

    def __init__(self, fn: Any, kind: str, ctx: RunContext) -> None:
        self._fn = fn
        self._kind = kind
        self._ctx = ctx

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else _MethodType(self, obj)

    def __call__(self, obj: Any) -> str:
        ctx = self._ctx
        memo = ctx.repr_memo
        key = (id(obj), self._kind)
        if memo is not None and key in memo:
            return memo[key]
        text = self._fn(obj)
        if type(text) is not str:
            raise TypeError(f"{self._kind} returned non-string (type {type(text).__name__})")
        if len(text) > ctx.limits.max_sequence_length:
            ctx.trip(LimitExceeded(LIMIT_MEMORY, f"memory limit: {self._kind} returned "
                                                 f"{len(text):,} characters"))
        if memo is not None:
            memo[key] = text
        return text


class CountingIterator:
    """Charges one operation per item, so C-level consumers of huge iterators stay bounded."""

    __slots__ = ("_it", "_ctx")

    def __init__(self, iterable: Any, ctx: RunContext) -> None:
        self._it = iter(iterable)
        self._ctx = ctx

    def __iter__(self) -> CountingIterator:
        return self

    def __next__(self) -> Any:
        ctx = self._ctx
        ctx.ops += 1
        if ctx.ops > ctx.next_check:
            ctx.checkpoint()
        return next(self._it)

    def __repr__(self) -> str:
        return f"<iterator over {type(self._it).__name__}>"


class BigRange:
    """A ``range`` too long to hand to C-level consumers: its iteration is metered."""

    __slots__ = ("_range", "_ctx")

    def __init__(self, value: range, ctx: RunContext) -> None:
        self._range = value
        self._ctx = ctx

    start = property(lambda self: self._range.start)
    stop = property(lambda self: self._range.stop)
    step = property(lambda self: self._range.step)

    def __iter__(self) -> CountingIterator:
        return CountingIterator(self._range, self._ctx)

    def __reversed__(self) -> CountingIterator:
        return CountingIterator(reversed(self._range), self._ctx)

    def __len__(self) -> int:
        return len(self._range)

    def __bool__(self) -> bool:
        return bool(self._range)

    def __contains__(self, item: Any) -> bool:
        return item in self._range

    def __getitem__(self, index: Any) -> Any:
        value = self._range[index]
        return BigRange(value, self._ctx) if isinstance(value, range) else value

    def __eq__(self, other: Any) -> bool:
        other_range = other._range if isinstance(other, BigRange) else other
        return self._range == other_range

    def __hash__(self) -> int:
        return hash(self._range)

    def __repr__(self) -> str:
        return repr(self._range)

    def count(self, value: Any) -> int:
        return self._range.count(value)

    def index(self, value: Any) -> int:
        return self._range.index(value)


def iterate_counted(iterable: Any, ctx: RunContext) -> Iterator[Any]:
    """Unwrap metered iterables for the interpreter's own loops (they count every item already)."""
    kind = type(iterable)
    if kind is BigRange:
        return iter(iterable._range)
    if kind is CountingIterator:
        return iterable._it
    return iter(iterable)
