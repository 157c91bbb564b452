"""Compiling calls, container displays and f-strings (a mixin of ``Compiler``).

Calls get closures specialised by argument count; a callee that is a class goes through
``AttributePolicy.call_target`` (checked constructors, or a policy error), anything else is
called as is. Displays with ``*``-unpacking and f-strings check their result size first.
"""

from __future__ import annotations

import ast
import functools
import types
from collections.abc import Callable
from typing import Any

from .proxies import SafeMethod, ToolProxy
from .runtime import SandboxFunction

Ev = Callable[[list], Any]
# Callables that are certainly not classes: calling them needs no class check.
DIRECT_CALLABLE_TYPES = frozenset({
    SandboxFunction, SafeMethod, ToolProxy, types.BuiltinFunctionType, types.MethodType,
    types.FunctionType, types.MethodWrapperType, types.WrapperDescriptorType,
    types.MethodDescriptorType, types.ClassMethodDescriptorType, functools.partial,
})


class DataCompiler:
    """Mixin of ``Compiler``: calls, lists/tuples/sets/dicts and f-strings."""

    ctx: Any
    guards: Any
    policy: Any

    # -- calls --------------------------------------------------------------------------------
    def callable_resolver(self) -> Callable[[Any], Any]:
        call_target = self.policy.call_target

        def resolve_callable(fn: Any) -> Any:
            if isinstance(fn, type):
                return call_target(fn)
            return fn
        return resolve_callable

    def expr_Call(self, node: ast.Call) -> Ev:
        if (isinstance(node.func, ast.Name) and node.func.id == "super" and not node.args
                and not node.keywords):
            return self.zero_argument_super(node)
        func = self.expr(node.func)
        resolve_callable = self.callable_resolver()
        direct = DIRECT_CALLABLE_TYPES
        simple = not any(isinstance(a, ast.Starred) for a in node.args) and all(
            k.arg is not None for k in node.keywords)
        if simple and not node.keywords and len(node.args) <= 3:
            args = [self.expr(a) for a in node.args]
            if not args:
                def call0(f: list) -> Any:
                    fn = func(f)
                    if type(fn) not in direct:
                        fn = resolve_callable(fn)
                    return fn()
                return call0
            if len(args) == 1:
                a0 = args[0]

                def call1(f: list) -> Any:
                    fn = func(f)
                    if type(fn) not in direct:
                        fn = resolve_callable(fn)
                    return fn(a0(f))
                return call1
            if len(args) == 2:
                a0, a1 = args

                def call2(f: list) -> Any:
                    fn = func(f)
                    if type(fn) not in direct:
                        fn = resolve_callable(fn)
                    return fn(a0(f), a1(f))
                return call2
            a0, a1, a2 = args

            def call3(f: list) -> Any:
                fn = func(f)
                if type(fn) not in direct:
                    fn = resolve_callable(fn)
                return fn(a0(f), a1(f), a2(f))
            return call3
        positional = [(isinstance(a, ast.Starred), self.expr(a.value if isinstance(a, ast.Starred) else a))
                      for a in node.args]
        keywords = [(k.arg, self.expr(k.value)) for k in node.keywords]
        check_len = self.guards.check_len

        def call(f: list) -> Any:
            fn = func(f)
            if type(fn) not in direct:
                fn = resolve_callable(fn)
            args: list[Any] = []
            for starred, ev in positional:
                if starred:
                    args.extend(ev(f))
                    check_len(len(args), "f(*args)")
                else:
                    args.append(ev(f))
            kwargs: dict[str, Any] = {}
            for name, ev in keywords:
                if name is None:
                    mapping = ev(f)
                    for key in mapping.keys():
                        if key in kwargs:
                            raise TypeError(f"got multiple values for keyword argument '{key}'")
                        kwargs[key] = mapping[key]
                else:
                    if name in kwargs:
                        raise TypeError(f"got multiple values for keyword argument '{name}'")
                    kwargs[name] = ev(f)
            return fn(*args, **kwargs)
        return call

    # -- displays -----------------------------------------------------------------------------
    def _sequence_parts(self, elements: list[ast.expr]) -> tuple[bool, list[tuple[bool, Ev]]]:
        parts = [(isinstance(e, ast.Starred), self.expr(e.value if isinstance(e, ast.Starred) else e))
                 for e in elements]
        return any(starred for starred, _ in parts), parts

    def _unpacked(self, parts: list[tuple[bool, Ev]]) -> Callable[[list], list]:
        check_len = self.guards.check_len

        def build(f: list) -> list:
            items: list[Any] = []
            for starred, ev in parts:
                if starred:
                    value = ev(f)
                    if hasattr(value, "__len__"):
                        check_len(len(items) + len(value), "[*a, *b]")
                    items.extend(value)
                else:
                    items.append(ev(f))
            return items
        return build

    def expr_List(self, node: ast.List) -> Ev:
        starred, parts = self._sequence_parts(node.elts)
        if starred:
            return self._unpacked(parts)
        evs = [ev for _, ev in parts]
        return lambda f: [ev(f) for ev in evs]

    def expr_Tuple(self, node: ast.Tuple) -> Ev:
        starred, parts = self._sequence_parts(node.elts)
        if starred:
            build = self._unpacked(parts)
            return lambda f: tuple(build(f))
        evs = [ev for _, ev in parts]
        if len(evs) == 2:
            a, b = evs
            return lambda f: (a(f), b(f))
        return lambda f: tuple([ev(f) for ev in evs])

    def expr_Set(self, node: ast.Set) -> Ev:
        starred, parts = self._sequence_parts(node.elts)
        if starred:
            build = self._unpacked(parts)
            return lambda f: set(build(f))
        evs = [ev for _, ev in parts]
        return lambda f: {ev(f) for ev in evs}

    def expr_Dict(self, node: ast.Dict) -> Ev:
        pairs = [(self.expr(k) if k is not None else None, self.expr(v))
                 for k, v in zip(node.keys, node.values)]

        def ev(f: list) -> dict:
            result: dict[Any, Any] = {}
            for key, value in pairs:
                if key is None:
                    result.update(value(f))
                else:
                    result[key(f)] = value(f)
            return result
        return ev

    # -- f-strings ----------------------------------------------------------------------------
    def expr_JoinedStr(self, node: ast.JoinedStr) -> Ev:
        parts = [self.expr(v) for v in node.values]
        max_len = self.guards.max_len
        too_big = self.guards.too_big
        if len(parts) == 1:
            return parts[0]

        def ev(f: list) -> str:
            pieces = [part(f) for part in parts]
            total = sum(map(len, pieces))
            if total > max_len:
                too_big("an f-string", total, "characters")
            return "".join(pieces)
        return ev

    def expr_FormattedValue(self, node: ast.FormattedValue) -> Ev:
        value = self.expr(node.value)
        guards = self.guards
        checked_format = guards.checked_format
        converter = {-1: None, 115: guards.checked_str, 114: guards.checked_repr,
                     97: guards.checked_ascii}[node.conversion]
        spec = self.expr(node.format_spec) if node.format_spec is not None else None
        if converter is None and spec is None:
            def ev_plain(f: list) -> str:
                item = value(f)
                if type(item) is str:
                    return item
                return checked_format(item, "")
            return ev_plain

        def ev(f: list) -> str:
            item = value(f)
            if converter is not None:
                item = converter(item)
            return checked_format(item, spec(f) if spec is not None else "")
        return ev
