"""In-process restricted Python executor for the code the II-Search-CIR model writes.

This package is the security boundary between a model that reads hostile web pages and the
user's machine, so the design favours control over speed:

**Design choice: our own AST interpreter that compiles to closures.** The block is parsed
(and checked by CPython's compiler, whose bytecode is thrown away), names are resolved with
Python's scoping rules, and every node becomes a small Python closure. Compiling a *checked
and rewritten* AST to real bytecode would run faster, but it would hand the code real function,
frame, generator and code objects, and every guard would have to be woven into bytecode we
then trust completely. With closures, sandboxed functions are ``SandboxFunction`` objects
(no ``__code__``/``__globals__``/frames exist to reach), every attribute read, call of a class,
loop iteration and size-changing operation passes through our code, and limits cannot be
caught by the code's own ``except``. Specialised closures for the hot shapes keep it faster
than smolagents' ``LocalPythonExecutor`` (see ``scripts/benches/executor.py``).

Known gaps (in-process execution cannot close them; an OS-level sandbox would): a single C
call that holds the GIL - comparing or hashing a deeply *shared* nested structure
(``a = [a, a]`` forty times, then ``a == b``), sorting tens of millions of items - cannot be
interrupted: the whole process waits until it ends (``cancel`` and the supervisor help only
when the GIL is released, e.g. in a tool call). Memory is bounded per operation and by
resident-size growth, not by an allocator quota.

Layers: ``limits`` (named limits, ``ExecutorLimits``), ``errors`` (typed errors), ``policy``
(attribute/name/class rules), ``guards`` and ``textmethods`` (size checks before C-level
work), ``builtins`` and ``modules``/``regexes`` (what the code can use), ``scopes`` and the
``compile_*`` mixins (the compiler), ``runtime`` (context, functions, metered iterators),
``proxies`` (module, method and tool wrappers),
``executor`` (worker thread, supervision, cancel).
"""

from __future__ import annotations

from .errors import (
    ERROR_KIND_EXCEPTION, ERROR_KIND_INTERNAL, ERROR_KIND_LIMIT, ERROR_KIND_POLICY,
    ERROR_KIND_SYNTAX, LimitExceeded, PolicyViolation, SandboxAbort, ToolCallError,
    UnsupportedSyntax,
)
from .executor import RestrictedExecutor
from .limits import (
    ALL_LIMITS, LIMIT_CANCELLED, LIMIT_CODE_SIZE, LIMIT_MEMORY, LIMIT_OPERATIONS, LIMIT_OUTPUT,
    LIMIT_RECURSION, LIMIT_REGEX_TIME, LIMIT_TOOL_CALLS_BLOCK, LIMIT_TOOL_CALLS_SESSION,
    LIMIT_WALL_TIME, ExecutorLimits,
)
from .result import ExecutionResult

__all__ = [
    "ALL_LIMITS", "ERROR_KIND_EXCEPTION", "ERROR_KIND_INTERNAL", "ERROR_KIND_LIMIT",
    "ERROR_KIND_POLICY", "ERROR_KIND_SYNTAX", "ExecutionResult", "ExecutorLimits",
    "LIMIT_CANCELLED", "LIMIT_CODE_SIZE", "LIMIT_MEMORY", "LIMIT_OPERATIONS", "LIMIT_OUTPUT",
    "LIMIT_RECURSION", "LIMIT_REGEX_TIME", "LIMIT_TOOL_CALLS_BLOCK", "LIMIT_TOOL_CALLS_SESSION",
    "LIMIT_WALL_TIME", "LimitExceeded", "PolicyViolation", "RestrictedExecutor", "SandboxAbort",
    "ToolCallError", "UnsupportedSyntax",
]
