"""Typed errors of the restricted executor.

``SandboxAbort`` and its subclasses derive from ``BaseException`` and are never matched by the
sandboxed code's own ``except`` clauses (not even a bare ``except:``), and sandboxed ``finally``
blocks do not run when one is in flight: a limit or a rule, once hit, ends the block.
"""

from __future__ import annotations

# What ``ExecutionResult.error_kind`` says about an error.
ERROR_KIND_LIMIT = "limit"          # a resource limit (``ExecutionResult.limit`` names it)
ERROR_KIND_POLICY = "policy"        # a security rule (forbidden attribute, name, call...)
ERROR_KIND_SYNTAX = "syntax"        # the code does not parse, or uses unsupported syntax
ERROR_KIND_EXCEPTION = "exception"  # the code raised and did not catch an ordinary exception
ERROR_KIND_INTERNAL = "internal"    # a bug in the executor itself (reported, never raised)


class SandboxAbort(BaseException):
    """Stops a block; the sandboxed code can neither catch it nor run ``finally`` after it."""

    kind: str = ERROR_KIND_POLICY

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        # 1-based line of the block, when the compiler knows it (runtime errors use the context).
        self.line: int | None = None


class LimitExceeded(SandboxAbort):
    """A resource limit was hit; ``limit`` is one of the ``LIMIT_*`` names in ``limits``."""

    kind = ERROR_KIND_LIMIT

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


class PolicyViolation(SandboxAbort):
    """The code tried something the sandbox forbids; ``rule`` says which rule."""

    kind = ERROR_KIND_POLICY

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class UnsupportedSyntax(SandboxAbort):
    """The code uses syntax the interpreter does not run (``yield``, ``async``, ``match``...)."""

    kind = ERROR_KIND_SYNTAX

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class HardInterrupt(BaseException):
    """Injected into the worker thread when a block ignores a deadline or a cancel."""


class ToolCallError(RuntimeError):
    """A host function (``web_search`` ...) failed; the sandbox sees only this short message."""


# Rule names used by ``PolicyViolation``.
RULE_ATTRIBUTE = "attribute"        # reading a forbidden attribute
RULE_SET_ATTRIBUTE = "set_attribute"
RULE_NAME = "name"                  # a forbidden identifier (``__builtins__``, ``__import__``...)
RULE_CALL = "call"                  # calling something that may not be called
RULE_CLASS = "class"                # a forbidden class definition (metaclass, base, dunder)
RULE_FORMAT = "format"              # a format string reaching attributes
RULE_TOOL_ARGUMENT = "tool_argument"
RULE_DEFUNCT = "inactive"           # sandbox code invoked outside a running block
