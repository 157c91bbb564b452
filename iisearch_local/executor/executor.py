"""``RestrictedExecutor``: runs blocks on a worker thread, supervised by the calling thread.

The worker thread runs the compiled closures and enforces limits cooperatively (operation
count, deadline, cancel flag, memory). The caller's thread waits and supervises: if a block
ignores its deadline or a cancel for ``stop_grace_seconds`` (stuck in pure-Python library
code), it injects ``HardInterrupt`` into the worker; if the worker is stuck in a C call that
never returns, the block is abandoned and the next ``run`` starts a fresh worker and a fresh
session. Either way ``run`` returns and the host stays usable.
"""

from __future__ import annotations

import builtins
import collections
import ctypes
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

from .builtins import PLAIN_BUILTINS, build_builtins
from .errors import (
    ERROR_KIND_EXCEPTION, ERROR_KIND_INTERNAL, ERROR_KIND_SYNTAX, HardInterrupt,
    LimitExceeded, PolicyViolation, SandboxAbort, ToolCallError,
)
from .guards import build_guards
from .interpreter import Compiler
from .limits import LIMIT_CANCELLED, LIMIT_WALL_TIME, ExecutorLimits
from .modules import RESULT_TYPES, build_modules, module_classes
from .policy import AttributePolicy, builtin_exception_classes
from .regexes import MATCH_ATTRIBUTES, MATCH_TYPE, PATTERN_ATTRIBUTES, PATTERN_TYPE
from .result import ExecutionResult
from .proxies import ToolProxy
from .runtime import BigRange, RunContext
from .textmethods import build_special_methods

# Host frames one sandbox call level costs at most (measured: plain calls, methods, callbacks).
FRAMES_PER_LEVEL = 9
RECURSION_MARGIN = 60
WORKER_STACK_BYTES = 64 * 2**20
POLL_SECONDS = 0.05
# How long ``run`` waits for a block abandoned earlier before giving up on its session.
ABANDONED_WAIT_SECONDS = 2.0
MAX_ERROR_CHARS = 600

BASE_SAFE_TYPES: set[type] = {
    str, bytes, bytearray, int, float, complex, bool, list, tuple, dict, set, frozenset, range,
    slice, type(None), type({}.keys()), type({}.values()), type({}.items()), property,
    BigRange, ToolCallError,
}


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    """Raise ``exc`` in another thread at its next bytecode (None clears a pending one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None)


class _Job:
    def __init__(self, code: str) -> None:
        self.code = code
        self.done = threading.Event()
        self.outcome: dict[str, Any] | None = None


class _Worker:
    """One thread that runs the blocks of one session, in order."""

    def __init__(self, session: SimpleNamespace) -> None:
        self.session = session
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.interruptible = False
        self.current: _Job | None = None
        self.thread = threading.Thread(target=self._loop, name="iisearch-sandbox", daemon=True)
        previous = threading.stack_size()
        try:
            threading.stack_size(WORKER_STACK_BYTES)
        except (ValueError, RuntimeError):  # pragma: no cover - platform without the setting
            pass
        try:
            self.thread.start()
        finally:
            threading.stack_size(previous)

    @property
    def busy(self) -> bool:
        return self.current is not None

    def submit(self, job: _Job) -> None:
        self.current = job
        self.jobs.put(job)

    def stop(self) -> None:
        self.jobs.put(None)

    def interrupt(self) -> None:
        """Inject HardInterrupt, unless the block is inside a host tool call."""
        ctx = self.session.ctx
        with self.lock, ctx.tool_lock:
            if self.interruptible and not ctx.in_tool and self.thread.ident:
                _set_async_exc(self.thread.ident, HardInterrupt)

    def _stop_interrupts(self) -> None:
        with self.lock:
            self.interruptible = False
            _set_async_exc(threading.get_ident(), None)

    def _loop(self) -> None:
        while True:
            job = None
            try:
                job = self.jobs.get()
                if job is None:
                    return
                with self.lock:
                    self.interruptible = True
                job.outcome = _execute(self.session, job.code)
            except HardInterrupt:
                pass
            while True:  # once this completes, no interrupt can arrive any more
                try:
                    self._stop_interrupts()
                    break
                except HardInterrupt:
                    continue
            if job is not None:
                if job.outcome is None:
                    job.outcome = _interrupted_outcome(self.session.ctx)
                self.session.ctx.active = False
                self.current = None
                job.done.set()


def _interrupted_outcome(ctx: RunContext) -> dict[str, Any]:
    if ctx.cancel_requested:
        error = LimitExceeded(LIMIT_CANCELLED, "the block was cancelled")
    else:
        error = LimitExceeded(LIMIT_WALL_TIME, f"time limit: the block ran longer than "
                                               f"{ctx.limits.wall_time_seconds:g} seconds")
    return _abort_outcome(ctx, error)


def _abort_outcome(ctx: RunContext, error: SandboxAbort) -> dict[str, Any]:
    line = error.line if error.line is not None else (ctx.err_line if ctx.err_exc is error else None)
    if isinstance(error, LimitExceeded):
        label, limit = f"LimitExceeded [{error.limit}]", error.limit
    elif isinstance(error, PolicyViolation):
        label, limit = f"SecurityError [{error.rule}]", None
    else:
        label, limit = "SyntaxError", None
    return {"error": _with_line(f"{label}: {error.message}", line), "kind": error.kind,
            "limit": limit, "line": line}


def _with_line(message: str, line: int | None) -> str:
    message = message if len(message) <= MAX_ERROR_CHARS else message[:MAX_ERROR_CHARS] + "..."
    return f"{message} (line {line})" if line is not None else message


def _exception_text(ctx: RunContext, error: BaseException) -> str:
    """``Type: message`` without running sandbox code (``__str__`` of user classes is skipped)."""
    name = type(error).__name__
    try:
        if type(error) in ctx.sandbox_types or any(type(a) in ctx.sandbox_types for a in error.args):
            plain = all(isinstance(a, (str, int, float)) for a in error.args)
            text = BaseException.__str__(error) if plain else ""
        else:
            text = str(error)
    except BaseException:  # noqa: BLE001 - any failure just drops the message
        text = ""
    return f"{name}: {text}" if text else name


def _execute(session: SimpleNamespace, code: str) -> dict[str, Any]:
    """Compile and run one block on the worker thread; never raises (but HardInterrupt)."""
    ctx: RunContext = session.ctx
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    available = (sys.getrecursionlimit() - depth - RECURSION_MARGIN) // FRAMES_PER_LEVEL
    ctx.begin(max(1, min(ctx.limits.max_recursion_depth, available)))
    try:
        try:
            try:
                body = session.compiler.compile_block(code)
            except (SyntaxError, SandboxAbort, HardInterrupt):
                raise
            except Exception as error:  # noqa: BLE001 - a compiler bug must not look like the code's
                return {"error": f"internal error while compiling the block: {type(error).__name__}: "
                                 f"{error}"[:MAX_ERROR_CHARS],
                        "kind": ERROR_KIND_INTERNAL, "limit": None, "line": None}
            body(session.module_frame)
        finally:
            ctx.active = False
    except SandboxAbort as error:
        return _abort_outcome(ctx, error)
    except SyntaxError as error:
        line = error.lineno
        return {"error": _with_line(f"SyntaxError: {error.msg}", line), "kind": ERROR_KIND_SYNTAX,
                "limit": None, "line": line}
    except HardInterrupt:
        raise
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - the code's uncaught exception is the result
        line = ctx.err_line if ctx.err_exc is error else None
        return {"error": _with_line(_exception_text(ctx, error), line),
                "kind": ERROR_KIND_EXCEPTION, "limit": None, "line": line}
    return {"error": None, "kind": None, "limit": None, "line": None}


def _new_session(limits: ExecutorLimits, functions: Mapping[str, Callable[..., Any]]) -> SimpleNamespace:
    """Fresh context, globals, modules and compiler (all state of one research session)."""
    ctx = RunContext(limits)
    guards = build_guards(ctx, repr)
    policy_box: list[AttributePolicy] = []

    def policy_getattr(obj: Any, name: Any) -> Any:
        return policy_box[0].getattr_dynamic(obj, name)

    proxies, special = build_modules(ctx, guards, policy_getattr)
    for name, by_type in build_special_methods(ctx, guards, policy_getattr).items():
        special.setdefault(name, {}).update(by_type)
    exceptions = set(builtin_exception_classes())
    exposed_classes = {c for c in module_classes(proxies) if c.__module__ != "typing"}
    plain_classes = {c for c in (getattr(builtins, n) for n in PLAIN_BUILTINS) if isinstance(c, type)}
    safe_types = BASE_SAFE_TYPES | exceptions | exposed_classes | set(RESULT_TYPES) | {object}
    safe_types -= {PATTERN_TYPE, MATCH_TYPE}
    policy = AttributePolicy(
        ctx, safe_types=safe_types | {PATTERN_TYPE, MATCH_TYPE},
        callable_classes=plain_classes | exceptions | exposed_classes | {ToolCallError},
        special=special,
        restricted={PATTERN_TYPE: PATTERN_ATTRIBUTES, MATCH_TYPE: MATCH_ATTRIBUTES},
        substitutes=guards.substitutes)
    policy_box.append(policy)
    guards.callback_check.append(policy.callback)
    guards.substitutes[collections.defaultdict] = _defaultdict_constructor(guards.substitute)
    tools = {name: ToolProxy(name, fn, ctx) for name, fn in functions.items()}
    builtins_table = build_builtins(ctx, guards, policy, tools)
    globals_: dict[str, Any] = {"__name__": "__main__"}
    compiler = Compiler(ctx=ctx, guards=guards, policy=policy, globals_=globals_,
                        builtins_=builtins_table, modules=proxies)
    return SimpleNamespace(ctx=ctx, compiler=compiler, globals=globals_, module_frame=[None])


def _defaultdict_constructor(substitute: Callable[[Any], Any]) -> Callable[..., Any]:
    def defaultdict(*args: Any, **kwargs: Any) -> Any:
        if args:
            args = (substitute(args[0]), *args[1:])
        return collections.defaultdict(*args, **kwargs)
    return defaultdict


class RestrictedExecutor:
    """Runs model-written Python blocks in-process, as a security boundary.

    ``functions`` are the host functions the code may call (``web_search``...); each call is
    counted, its arguments are copied as plain data, and its failures reach the code as
    ``ToolCallError``. Variables, functions and imports persist across ``run`` calls.
    ``run`` never raises for anything the code does. ``cancel`` (from any thread) stops the
    running block within a second. Use ``close`` (or ``with``) to stop the worker thread.
    """

    def __init__(self, *, functions: Mapping[str, Callable[..., Any]] | None = None,
                 limits: ExecutorLimits | None = None) -> None:
        self.limits = limits or ExecutorLimits()
        self._functions = dict(functions or {})
        for name in self._functions:
            if not name.isidentifier() or name.startswith("_"):
                raise ValueError(f"function name {name!r} must be a public identifier")
        self._run_lock = threading.Lock()
        self._closed = False
        self._session = _new_session(self.limits, self._functions)
        self._worker: _Worker | None = None
        self._running = False

    # -- public API ---------------------------------------------------------------------------
    def run(self, code: str) -> ExecutionResult:
        """Run one block; returns its output and, if it failed, a short error message."""
        with self._run_lock:
            started = time.monotonic()
            if self._closed:
                return ExecutionResult(output="", error="the executor is closed",
                                       error_kind=ERROR_KIND_INTERNAL)
            if not isinstance(code, str):
                return ExecutionResult(output="", error="code must be a string",
                                       error_kind=ERROR_KIND_SYNTAX)
            session_reset = self._ensure_idle_worker()
            worker = self._worker
            assert worker is not None
            ctx = self._session.ctx
            ctx.cancel_requested = False
            ctx.wakeup.clear()
            job = _Job(code)
            self._running = True
            try:
                worker.submit(job)
                outcome = self._supervise(job, worker, ctx)
            except BaseException:
                ctx.cancel_requested = True  # e.g. Ctrl-C in the host: stop the block too
                raise
            finally:
                self._running = False
            if outcome is None:  # abandoned: the worker is stuck in a call that never returns
                outcome = _interrupted_outcome(ctx)
                ctx.cancel_requested = True
                output = "".join(list(ctx.output))
            else:
                output = "".join(ctx.output)
            return ExecutionResult(
                output=output, error=outcome["error"], error_kind=outcome["kind"],
                limit=outcome["limit"], line=outcome["line"],
                duration_seconds=time.monotonic() - started, tool_calls=ctx.tool_calls_block,
                session_reset=session_reset)

    def cancel(self) -> None:
        """Stop the running block (if any) with a ``cancelled`` limit error; thread-safe."""
        if self._running:
            ctx = self._session.ctx
            ctx.cancel_requested = True
            ctx.wakeup.set()

    def close(self) -> None:
        """Stop the worker thread and drop the session's state."""
        self.cancel()
        with self._run_lock:
            self._closed = True
            if self._worker is not None:
                self._worker.stop()
                self._worker = None
            self._session.globals.clear()

    def __enter__(self) -> RestrictedExecutor:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- supervision --------------------------------------------------------------------------
    def _ensure_idle_worker(self) -> bool:
        """Start a worker, or replace one still stuck in an abandoned block (fresh session)."""
        worker = self._worker
        if worker is not None and worker.busy:
            job = worker.current
            if job is None or job.done.wait(ABANDONED_WAIT_SECONDS):
                return False
            worker.session.ctx.cancel_requested = True
            worker.stop()
            self._session = _new_session(self.limits, self._functions)
            self._worker = _Worker(self._session)
            return True
        if worker is None:
            self._worker = _Worker(self._session)
        return False

    def _supervise(self, job: _Job, worker: _Worker, ctx: RunContext) -> dict[str, Any] | None:
        """Wait for the block; escalate past the deadline or a cancel. None means abandoned."""
        grace = self.limits.stop_grace_seconds
        deadline = time.monotonic() + self.limits.wall_time_seconds
        stop_since: float | None = None
        while not job.done.wait(POLL_SECONDS):
            now = time.monotonic()
            if stop_since is None:
                if ctx.cancel_requested or now > deadline:
                    stop_since = now
                continue
            waited = now - stop_since
            if waited > grace * 2.25:
                return None
            if waited > grace:
                worker.interrupt()
        return job.outcome
