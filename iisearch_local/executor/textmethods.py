"""Checked stand-ins for methods that can allocate without bound or reach attributes.

``build_special_methods`` maps a method name to ``{type: function(self, *args)}``; the
attribute policy hands the sandbox a ``SafeMethod`` around these instead of the real method,
for instances (``"-".join``) and for the class (``str.join``) alike. ``str.format`` and
``format_map`` are reimplemented over CPython's own format-string parser so that field paths
like ``{0.__class__}`` go through the attribute policy.
"""

from __future__ import annotations

import _string  # CPython's format-string parser, the one string.Formatter uses
import datetime as _dt
from collections import Counter, deque
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from .runtime import CountingIterator, RunContext

TEXT_TYPES = (str, bytes, bytearray)
_TAB = {str: "\t", bytes: b"\t", bytearray: b"\t"}


def build_special_methods(ctx: RunContext, guards: SimpleNamespace,
                          policy_getattr: Callable[[Any, str], Any]
                          ) -> dict[str, dict[type, Callable[..., Any]]]:
    """The checked methods, keyed by method name and then by the type they belong to."""
    check_len = guards.check_len
    max_len = guards.max_len
    table: dict[str, dict[type, Callable[..., Any]]] = {}

    def register(name: str, kind: type, fn: Callable[..., Any]) -> None:
        fn.__name__ = name
        table.setdefault(name, {})[kind] = fn

    for kind in TEXT_TYPES:
        _register_text_methods(kind, register, check_len)

    def str_translate(self: str, table_arg: Any) -> str:
        if type(table_arg) is dict:
            longest = max((len(v) for v in table_arg.values() if isinstance(v, str)), default=1)
            check_len(len(self) * max(longest, 1), "str.translate", 1)
        elif type(table_arg) not in (str, bytes, bytearray, list, tuple):
            raise TypeError("str.translate() table must be a dict (see str.maketrans) in the sandbox")
        return str.translate(self, table_arg)

    register("translate", str, str_translate)

    def vformat(fmt: str, args: tuple, kwargs: Any, depth: int = 2) -> str:
        if depth < 0:
            raise ValueError("Max string recursion exceeded")
        pieces: list[str] = []
        total = 0
        auto_index = 0
        for literal, field, spec, conversion in _string.formatter_parser(fmt):
            if literal:
                pieces.append(literal)
                total += len(literal)
            if field is None:
                continue
            first, rest = _string.formatter_field_name_split(field)
            if first == "":
                first = auto_index
                auto_index += 1
            if type(first) is int:
                if first >= len(args):
                    raise IndexError(f"Replacement index {first} out of range for positional "
                                     f"args tuple")
                value = args[first]
            else:
                value = kwargs[first]
            for is_attribute, key in rest:
                value = policy_getattr(value, key) if is_attribute else value[key]
            if conversion == "s":
                value = guards.checked_str(value)
            elif conversion == "r":
                value = guards.checked_repr(value)
            elif conversion == "a":
                value = guards.checked_ascii(value)
            elif conversion is not None:
                raise ValueError(f"Unknown conversion specifier {conversion}")
            if spec and "{" in spec:
                spec = vformat(spec, args, kwargs, depth - 1)
            piece = guards.checked_format(value, spec or "")
            total += len(piece)
            if total > max_len:
                guards.too_big("str.format", total, "characters")
            pieces.append(piece)
        return "".join(pieces)

    def str_format(self: str, *args: Any, **kwargs: Any) -> str:
        if not isinstance(self, str):
            raise TypeError("descriptor 'format' requires a 'str' object")
        return vformat(self, args, kwargs)

    def str_format_map(self: str, mapping: Any) -> str:
        if not isinstance(self, str):
            raise TypeError("descriptor 'format_map' requires a 'str' object")
        return vformat(self, (), mapping)

    register("format", str, str_format)
    register("format_map", str, str_format_map)

    def extend_for(kind: type, method: str) -> Callable[..., Any]:
        real = getattr(kind, method)

        def extend(self: Any, iterable: Any) -> None:
            if type(iterable) in guards_sized:
                check_len(len(self) + len(iterable), f"{kind.__name__}.{method}")
            return real(self, iterable)
        return extend

    guards_sized = (str, bytes, bytearray, list, tuple, dict, set, frozenset, deque)
    register("extend", list, extend_for(list, "extend"))
    register("extend", bytearray, extend_for(bytearray, "extend"))
    register("extend", deque, extend_for(deque, "extend"))
    register("extendleft", deque, extend_for(deque, "extendleft"))

    def list_sort(self: list, *, key: Any = None, reverse: bool = False) -> None:
        return list.sort(self, key=guards.substitute(key), reverse=reverse)

    register("sort", list, list_sort)

    def int_to_bytes(self: int, *args: Any, **kwargs: Any) -> bytes:
        length = args[0] if args else kwargs.get("length", 1)
        if isinstance(length, int):
            check_len(length, "int.to_bytes", 1)
        return int.to_bytes(self, *args, **kwargs)

    register("to_bytes", int, int_to_bytes)

    def counter_elements(self: Counter) -> CountingIterator:
        return CountingIterator(Counter.elements(self), ctx)

    register("elements", Counter, counter_elements)

    for kind in (_dt.date, _dt.datetime, _dt.time):
        register("strftime", kind, _strftime_for(kind, guards))
    return table


def _register_text_methods(kind: type, register: Callable[..., None],
                           check_len: Callable[..., None]) -> None:
    """join / replace / padding / expandtabs for str, bytes and bytearray."""
    real_join = kind.join
    real_replace = kind.replace
    name = kind.__name__

    def join(self: Any, iterable: Any) -> Any:
        if type(iterable) is not list and type(iterable) is not tuple:
            iterable = list(iterable)
        if iterable:
            try:
                total = sum(map(len, iterable)) + len(self) * (len(iterable) - 1)
            except TypeError:
                return real_join(self, iterable)  # raises CPython's own message
            check_len(total, f"{name}.join", 1)
        return real_join(self, iterable)

    def replace(self: Any, old: Any, new: Any, *args: Any) -> Any:
        try:
            growth = len(new) - len(old)
            if growth > 0:
                hits = self.count(old) if len(old) else len(self) + 1
                if args and isinstance(args[0], int) and args[0] >= 0:
                    hits = min(hits, args[0])
                check_len(len(self) + hits * growth, f"{name}.replace", 1)
        except TypeError:
            pass  # the real method reports wrong argument types
        return real_replace(self, old, new, *args)

    def padder(method: str) -> Callable[..., Any]:
        real = getattr(kind, method)

        def pad(self: Any, width: Any, *args: Any) -> Any:
            if isinstance(width, int):
                check_len(width, f"{name}.{method}", 1)
            return real(self, width, *args)
        return pad

    tab = _TAB[kind]
    real_expand = kind.expandtabs

    def expandtabs(self: Any, tabsize: Any = 8) -> Any:
        if isinstance(tabsize, int) and tabsize > 1:
            check_len(len(self) + self.count(tab) * tabsize, f"{name}.expandtabs", 1)
        return real_expand(self, tabsize)

    register("join", kind, join)
    register("replace", kind, replace)
    for method in ("ljust", "rjust", "center", "zfill"):
        register(method, kind, padder(method))
    register("expandtabs", kind, expandtabs)


def _strftime_for(kind: type, guards: SimpleNamespace) -> Callable[..., str]:
    real = kind.strftime

    def strftime(self: Any, fmt: Any) -> str:
        if isinstance(fmt, str):
            guards.check_spec(fmt, self)
        return real(self, fmt)
    return strftime
