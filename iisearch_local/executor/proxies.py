"""Host-facing wrappers: what the sandbox holds instead of real modules, methods and tools.

``ModuleProxy`` exposes an allowlist of a module's names; ``SafeMethod`` stands in for a
checked method (``str.join``...); ``ToolProxy`` is the only way to a host function: it counts
calls, copies arguments and results as plain data, and turns host failures into a short
``ToolCallError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import (
    RULE_TOOL_ARGUMENT, HardInterrupt, LimitExceeded, PolicyViolation, SandboxAbort, ToolCallError,
)
from .limits import LIMIT_TOOL_CALLS_BLOCK, LIMIT_TOOL_CALLS_SESSION
from .runtime import RunContext, _inactive

_NOT_BOUND: Any = object()


class SafeMethod:
    """A checked replacement for a method such as ``str.join`` or ``str.format``."""

    __slots__ = ("_fn", "_self", "_name")

    def __init__(self, fn: Callable[..., Any], name: str, bound_to: Any = _NOT_BOUND) -> None:
        self._fn = fn
        self._self = bound_to
        self._name = name

    @property
    def __name__(self) -> str:  # noqa: PLW3201
        return self._name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._self is _NOT_BOUND:
            return self._fn(*args, **kwargs)
        return self._fn(self._self, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<built-in method {self._name}>"


class ModuleProxy:
    """What ``import json`` gives the sandbox: only the allowlisted public names of a module."""

    __slots__ = ("_name", "_members")

    def __init__(self, name: str, members: dict[str, Any]) -> None:
        self._name = name
        self._members = members

    @property
    def __name__(self) -> str:  # noqa: PLW3201
        return self._name

    def get(self, attribute: str) -> Any:
        try:
            return self._members[attribute]
        except KeyError:
            raise AttributeError(
                f"module '{self._name}' has no attribute '{attribute}' in the sandbox") from None

    def names(self) -> list[str]:
        return sorted(self._members)

    def __repr__(self) -> str:
        return f"<module '{self._name}'>"

    def __copy__(self) -> ModuleProxy:
        return self

    def __deepcopy__(self, memo: Any) -> ModuleProxy:
        return self

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("modules cannot be pickled")


PLAIN_SCALARS = (str, int, float, bool, type(None))
MAX_PLAIN_DEPTH = 32
MAX_PLAIN_ITEMS = 100_000


def to_plain_data(value: Any, what: str) -> Any:
    """A fresh copy of ``value`` made only of str/int/float/bool/None/list/tuple/dict.

    Host functions get this copy, never a sandbox object whose methods could run later.
    """
    budget = [MAX_PLAIN_ITEMS]

    def copy(item: Any, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or depth > MAX_PLAIN_DEPTH:
            raise PolicyViolation(RULE_TOOL_ARGUMENT, f"{what}: argument is too large or deep")
        kind = type(item)
        if kind in PLAIN_SCALARS:
            return item
        if kind is list or kind is tuple:
            copied = [copy(x, depth + 1) for x in item]
            return copied if kind is list else tuple(copied)
        if kind is dict:
            return {copy(k, depth + 1): copy(v, depth + 1) for k, v in item.items()}
        raise TypeError(f"{what}: arguments must be plain data (str, int, float, bool, None, "
                        f"list, tuple, dict), not {kind.__name__}")

    return copy(value, 0)


class ToolProxy:
    """The sandbox's handle on a host function: counts calls, copies data in and out."""

    __slots__ = ("_name", "_fn", "_ctx")

    def __init__(self, name: str, fn: Callable[..., Any], ctx: RunContext) -> None:
        self._name = name
        self._fn = fn
        self._ctx = ctx

    @property
    def __name__(self) -> str:  # noqa: PLW3201
        return self._name

    def __repr__(self) -> str:
        return f"<tool {self._name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        ctx = self._ctx
        if not ctx.active:
            raise _inactive()
        limits = ctx.limits
        if ctx.tool_calls_block >= limits.max_tool_calls_per_block:
            ctx.trip(LimitExceeded(
                LIMIT_TOOL_CALLS_BLOCK,
                f"tool call limit: at most {limits.max_tool_calls_per_block} calls per block"))
        if ctx.tool_calls_session >= limits.max_tool_calls_per_session:
            ctx.trip(LimitExceeded(
                LIMIT_TOOL_CALLS_SESSION,
                f"tool call limit: at most {limits.max_tool_calls_per_session} calls per session"))
        what = f"{self._name}()"
        plain_args = [to_plain_data(a, what) for a in args]
        plain_kwargs = {k: to_plain_data(v, what) for k, v in kwargs.items()}
        ctx.tool_calls_block += 1
        ctx.tool_calls_session += 1
        with ctx.tool_lock:
            ctx.in_tool = True
        try:
            result = self._fn(*plain_args, **plain_kwargs)
        except (SandboxAbort, HardInterrupt):
            raise
        except BaseException as error:  # noqa: BLE001 - the host's failure becomes a short message
            message = f"{self._name} failed: {type(error).__name__}: {error}"
            raise ToolCallError(message[:500]) from None
        finally:
            ctx.in_tool = False
        ctx.checkpoint()
        try:
            return to_plain_data(result, what)
        except (TypeError, PolicyViolation):
            return str(result)
