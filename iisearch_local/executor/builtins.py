"""The sandbox's builtins: real classes where they are harmless, checked functions elsewhere.

Classes stay the real ones (``isinstance(x, str)`` works) but *calling* a class goes through
``AttributePolicy.call_target``, which swaps ``list``/``bytes``/``range``/``type``... for
checked constructors. ``open``, ``eval``, ``exec``, ``compile``, ``__import__``, ``globals``,
``vars``, ``input``... are simply absent; using one gives a ``NameError`` that says why.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from .errors import RULE_CALL, PolicyViolation, ToolCallError
from .policy import AttributePolicy, builtin_exception_classes, exact_attribute_name
from .proxies import ModuleProxy
from .runtime import CountingIterator, RunContext

PLAIN_BUILTINS = (
    "abs all any bin bool callable chr complex dict divmod enumerate float frozenset hash hex id "
    "int isinstance issubclass len list next object oct ord reversed round set slice str tuple "
    "zip property staticmethod classmethod bytes bytearray range"
).split()

UNAVAILABLE_BUILTINS = {
    "open": "there is no file access", "input": "there is no interactive input",
    "exec": "code cannot run code", "eval": "code cannot run code",
    "compile": "code cannot compile code", "__import__": "use a plain import statement",
    "globals": "scopes cannot be inspected", "locals": "scopes cannot be inspected",
    "vars": "objects cannot be inspected", "breakpoint": "there is no debugger",
    "help": "there is no interactive help", "exit": "end the block instead",
    "quit": "end the block instead", "memoryview": "raw memory is not available",
    "aiter": "async code is not supported", "anext": "async code is not supported",
}


def unavailable_message(name: str) -> str | None:
    """Why a missing builtin is missing, for the ``NameError`` message."""
    reason = UNAVAILABLE_BUILTINS.get(name)
    if reason is None:
        return None
    return f"name '{name}' is not available in the sandbox ({reason})"


def build_builtins(ctx: RunContext, guards: SimpleNamespace, policy: AttributePolicy,
                   tools: dict[str, Any]) -> dict[str, Any]:
    """The builtins mapping of one executor (tools included)."""
    sub = guards.substitute
    table: dict[str, Any] = {name: getattr(builtins, name) for name in PLAIN_BUILTINS}
    for cls in builtin_exception_classes():
        table[cls.__name__] = cls
    table["ToolCallError"] = ToolCallError
    table["NotImplemented"] = NotImplemented
    table["Ellipsis"] = Ellipsis

    def sandbox_print(*args: Any, sep: Any = " ", end: Any = "\n", file: Any = None,
                      flush: bool = False) -> None:
        if file is not None:
            raise TypeError("print(file=...) is not available in the sandbox; print to the output")
        sep = " " if sep is None else sep
        end = "\n" if end is None else end
        if type(sep) is not str or type(end) is not str:
            raise TypeError("sep and end must be None or a string")
        write = ctx.write
        to_text = guards.checked_str
        for index, value in enumerate(args):
            if index:
                write(sep)
            write(value if type(value) is str else to_text(value))
        write(end)

    def sandbox_type(*args: Any) -> type:
        if len(args) != 1:
            raise PolicyViolation(RULE_CALL, "type() with three arguments (making a class at run "
                                             "time) is not allowed; use a class statement")
        return type(args[0])

    def sandbox_super(*args: Any) -> Any:
        if len(args) != 2:
            raise RuntimeError("super(): use super() inside a method, or super(Class, obj)")
        cls, obj = args
        if cls not in ctx.sandbox_types:
            raise PolicyViolation(RULE_CALL, "super(Class, obj) works only with your own classes")
        return super(cls, obj)

    def sandbox_getattr(obj: Any, name: Any, *default: Any) -> Any:
        if len(default) > 1:
            raise TypeError(f"getattr expected at most 3 arguments, got {2 + len(default)}")
        try:
            return policy.getattr_dynamic(obj, name)
        except AttributeError:
            if default:
                return default[0]
            raise

    def sandbox_hasattr(obj: Any, name: Any) -> bool:
        try:
            policy.getattr_dynamic(obj, name)
        except AttributeError:
            return False
        return True

    def sandbox_setattr(obj: Any, name: Any, value: Any) -> None:
        policy.store(obj, exact_attribute_name(name), value)

    def sandbox_delattr(obj: Any, name: Any) -> None:
        policy.delete(obj, exact_attribute_name(name))

    def sandbox_dir(*args: Any) -> list[str]:
        if len(args) != 1:
            raise TypeError("dir() needs exactly one argument in the sandbox")
        obj = args[0]
        if type(obj) is ModuleProxy:
            return obj.names()
        readable = type(obj) in ctx.fast_attr_types or (
            isinstance(obj, type) and (obj in policy.safe_types or obj in ctx.sandbox_types))
        if not readable:
            return []
        private_ok = type(obj) in ctx.sandbox_types or obj in ctx.sandbox_types
        return [n for n in dir(obj) if not n.startswith("__") and (private_ok or not n.startswith("_"))]

    def sandbox_iter(obj: Any, *sentinel: Any) -> Any:
        if sentinel:
            if len(sentinel) > 1:
                raise TypeError("iter expected at most 2 arguments")
            return CountingIterator(iter(sub(obj), sentinel[0]), ctx)
        return iter(obj)

    def sandbox_sum(iterable: Any, start: Any = 0) -> Any:
        if type(start) in (int, float, complex, bool):
            return sum(iterable, start)
        if isinstance(start, (str, bytes, bytearray)):
            raise TypeError(f"sum() can't sum {type(start).__name__} [use ''.join(seq) instead]")
        total = start
        add = guards.add
        for item in CountingIterator(iterable, ctx):
            total = add(total, item)
        return total

    def keyed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if "key" in kwargs:
                kwargs["key"] = sub(kwargs["key"])
            return fn(*args, **kwargs)
        call.__name__ = fn.__name__
        return call

    def sandbox_map(function: Any, *iterables: Any) -> Any:
        return map(sub(function), *iterables)

    def sandbox_filter(function: Any, iterable: Any) -> Any:
        return filter(sub(function), iterable)

    table.update(
        print=sandbox_print, type=type, super=sandbox_super, getattr=sandbox_getattr,
        hasattr=sandbox_hasattr, setattr=sandbox_setattr, delattr=sandbox_delattr,
        dir=sandbox_dir, iter=sandbox_iter, sum=sandbox_sum, sorted=keyed(sorted),
        min=keyed(min), max=keyed(max), map=sandbox_map, filter=sandbox_filter,
        repr=guards.checked_repr, ascii=guards.checked_ascii, format=guards.checked_format,
        pow=guards.power,
    )
    # ``type`` stays the real class for isinstance(); calling it goes to ``sandbox_type``.
    guards.substitutes[type] = sandbox_type
    # Wrappers that call what they wrap later (``staticmethod(type)(...)``) get checked callables.
    for wrapper in (staticmethod, classmethod, property):
        guards.substitutes[wrapper] = _wrapping_constructor(wrapper, sub)
    table.update(tools)
    return table


def _wrapping_constructor(kind: type, substitute: Callable[[Any], Any]) -> Callable[..., Any]:
    def construct(*args: Any, **kwargs: Any) -> Any:
        return kind(*[substitute(a) for a in args], **{k: substitute(v) for k, v in kwargs.items()})
    construct.__name__ = kind.__name__
    return construct
