"""Compiling expressions to closures ``ev(frame) -> value``.

Each AST node becomes one small Python closure; hot shapes (a local name, ``int + int``, a
public attribute of a known-safe type, calls with 0-3 positional arguments) get their own
closures so the common path costs one or two Python calls.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from .builtins import unavailable_message
from .errors import UnsupportedSyntax
from .policy import TYPE_DENIED_NAMES, check_identifier, check_literal_attribute
from .runtime import UNBOUND
from .scopes import CLASS_BODY, LOCAL, OUTER, resolve, resolve_store

Ev = Callable[[list], Any]
_MISSING: Any = object()
COMPARE_FUNCTIONS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
PLAIN_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Sub: operator.sub, ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv,
    ast.RShift: operator.rshift, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
    ast.BitAnd: operator.and_, ast.MatMult: operator.matmul,
}
PLAIN_INPLACE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Sub: operator.isub, ast.Div: operator.itruediv, ast.FloorDiv: operator.ifloordiv,
    ast.RShift: operator.irshift, ast.BitOr: operator.ior, ast.BitXor: operator.ixor,
    ast.BitAnd: operator.iand, ast.MatMult: operator.imatmul,
}
# Node type -> compiling method, filled on first use (saves a getattr per node).
_EXPR_METHODS: dict[type, Callable[..., Ev]] = {}
UNARY: dict[type, Callable[[Any], Any]] = {
    ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos,
    ast.Invert: operator.invert,
}


class ExpressionCompiler:
    """Mixin of ``Compiler``: the expression half of the AST-to-closure compiler."""

    # Set by Compiler.__init__
    ctx: Any
    guards: Any
    policy: Any
    globals: dict[str, Any]
    builtins: dict[str, Any]
    scope: Any

    def expr(self, node: ast.expr) -> Ev:
        kind = type(node)
        method = _EXPR_METHODS.get(kind)
        if method is None:
            method = getattr(type(self), "expr_" + kind.__name__, None)
            if method is None:
                raise UnsupportedSyntax(f"{kind.__name__} expressions are not supported",
                                        getattr(node, "lineno", None))
            _EXPR_METHODS[kind] = method
        return method(self, node)

    # -- names --------------------------------------------------------------------------------
    def expr_Constant(self, node: ast.Constant) -> Ev:
        value = node.value
        return lambda f: value

    def expr_Name(self, node: ast.Name) -> Ev:
        check_identifier(node.id)
        return self.name_loader(node.id, self.scope)

    def name_loader(self, name: str, scope: Any) -> Ev:
        where = resolve(scope, name)
        if where[0] == LOCAL:
            return self._local_loader(name, where[1], scope)
        if where[0] == OUTER:
            return self._outer_loader(name, where[1], where[2])
        if where[0] == CLASS_BODY:
            fallback = self._fallback_loader(name, where[1])

            def load_class(f: list) -> Any:
                value = f[1].get(name, _MISSING)
                return fallback(f) if value is _MISSING else value
            return load_class
        return self._global_loader(name)

    def _fallback_loader(self, name: str, where: tuple) -> Ev:
        if where[0] == OUTER:
            return self._outer_loader(name, where[1], where[2])
        return self._global_loader(name)

    def _local_loader(self, name: str, index: int, scope: Any) -> Ev:
        if name in scope.params and name not in scope.deleted:
            return lambda f: f[index]
        message = f"cannot access local variable '{name}' where it is not associated with a value"

        def load(f: list) -> Any:
            value = f[index]
            if value is UNBOUND:
                raise UnboundLocalError(message)
            return value
        return load

    def _outer_loader(self, name: str, hops: int, index: int) -> Ev:
        message = (f"cannot access free variable '{name}' where it is not associated with a "
                   f"value in enclosing scope")
        if hops == 1:
            def load1(f: list) -> Any:
                value = f[0][index]
                if value is UNBOUND:
                    raise NameError(message)
                return value
            return load1

        def load(f: list) -> Any:
            for _ in range(hops):
                f = f[0]
            value = f[index]
            if value is UNBOUND:
                raise NameError(message)
            return value
        return load

    def _global_loader(self, name: str) -> Ev:
        get_global = self.globals.get
        get_builtin = self.builtins.get
        message = unavailable_message(name) or f"name '{name}' is not defined"

        def load(f: list) -> Any:
            value = get_global(name, _MISSING)
            if value is _MISSING:
                value = get_builtin(name, _MISSING)
                if value is _MISSING:
                    raise NameError(message)
            return value
        return load

    def name_storer(self, name: str) -> Callable[[list, Any], None]:
        check_identifier(name)
        where = resolve_store(self.scope, name)
        if where[0] == LOCAL:
            index = where[1]

            def store_local(f: list, value: Any) -> None:
                f[index] = value
            return store_local
        if where[0] == OUTER:
            hops, index = where[1], where[2]

            def store_outer(f: list, value: Any) -> None:
                for _ in range(hops):
                    f = f[0]
                f[index] = value
            return store_outer
        if where[0] == CLASS_BODY:
            def store_class(f: list, value: Any) -> None:
                f[1][name] = value
            return store_class
        namespace = self.globals

        def store_global(f: list, value: Any) -> None:
            namespace[name] = value
        return store_global

    def name_deleter(self, name: str) -> Callable[[list], None]:
        check_identifier(name)
        where = resolve_store(self.scope, name)
        missing = f"name '{name}' is not defined"
        if where[0] in (LOCAL, OUTER):
            hops, index = (0, where[1]) if where[0] == LOCAL else (where[1], where[2])

            def delete_slot(f: list) -> None:
                for _ in range(hops):
                    f = f[0]
                if f[index] is UNBOUND:
                    raise NameError(missing)
                f[index] = UNBOUND
            return delete_slot
        if where[0] == CLASS_BODY:
            def delete_class(f: list) -> None:
                if f[1].pop(name, _MISSING) is _MISSING:
                    raise NameError(missing)
            return delete_class
        namespace = self.globals

        def delete_global(f: list) -> None:
            if namespace.pop(name, _MISSING) is _MISSING:
                raise NameError(missing)
        return delete_global

    # -- operators ----------------------------------------------------------------------------
    def binary_function(self, op: ast.operator, inplace: bool = False) -> Callable[[Any, Any], Any]:
        guards = self.guards
        kind = type(op)
        if kind is ast.Add:
            return guards.iadd if inplace else guards.add
        if kind is ast.Mult:
            return guards.imul if inplace else guards.mul
        if kind is ast.Pow:
            return guards.power
        if kind is ast.LShift:
            return guards.lshift
        if kind is ast.Mod:
            return guards.mod
        return (PLAIN_INPLACE if inplace else PLAIN_BINOPS)[kind]

    def expr_BinOp(self, node: ast.BinOp) -> Ev:
        left, right = self.expr(node.left), self.expr(node.right)
        function = self.binary_function(node.op)
        kind = type(node.op)
        if kind is ast.Add:
            add = function

            def ev_add(f: list) -> Any:
                a, b = left(f), right(f)
                if type(a) is int and type(b) is int:
                    return a + b
                return add(a, b)
            return ev_add
        if kind is ast.Sub:
            return lambda f: left(f) - right(f)
        return lambda f: function(left(f), right(f))

    def expr_UnaryOp(self, node: ast.UnaryOp) -> Ev:
        operand = self.expr(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda f: not operand(f)
        if isinstance(node.op, ast.USub):
            return lambda f: -operand(f)
        function = UNARY[type(node.op)]
        return lambda f: function(operand(f))

    def expr_BoolOp(self, node: ast.BoolOp) -> Ev:
        values = [self.expr(v) for v in node.values]
        first, rest = values[0], values[1:]
        if isinstance(node.op, ast.And):
            if len(rest) == 1:
                second = rest[0]
                return lambda f: first(f) and second(f)

            def ev_and(f: list) -> Any:
                value = first(f)
                for item in rest:
                    if not value:
                        return value
                    value = item(f)
                return value
            return ev_and
        if len(rest) == 1:
            second = rest[0]
            return lambda f: first(f) or second(f)

        def ev_or(f: list) -> Any:
            value = first(f)
            for item in rest:
                if value:
                    return value
                value = item(f)
            return value
        return ev_or

    def expr_Compare(self, node: ast.Compare) -> Ev:
        left = self.expr(node.left)
        rights = [self.expr(c) for c in node.comparators]
        functions = [COMPARE_FUNCTIONS[type(op)] for op in node.ops]
        if len(rights) == 1:
            right = rights[0]
            kind = type(node.ops[0])
            if kind is ast.Eq:
                return lambda f: left(f) == right(f)
            if kind is ast.NotEq:
                return lambda f: left(f) != right(f)
            if kind is ast.Lt:
                return lambda f: left(f) < right(f)
            if kind is ast.Gt:
                return lambda f: left(f) > right(f)
            if kind is ast.In:
                return lambda f: left(f) in right(f)
            if kind is ast.NotIn:
                return lambda f: left(f) not in right(f)
            if kind is ast.Is:
                return lambda f: left(f) is right(f)
            if kind is ast.IsNot:
                return lambda f: left(f) is not right(f)
            function = functions[0]
            return lambda f: function(left(f), right(f))
        pairs = list(zip(functions, rights))

        def ev_chain(f: list) -> Any:
            a = left(f)
            result: Any = True
            for function, right in pairs:
                b = right(f)
                result = function(a, b)
                if not result:
                    return result
                a = b
            return result
        return ev_chain

    def expr_IfExp(self, node: ast.IfExp) -> Ev:
        test, body, orelse = self.expr(node.test), self.expr(node.body), self.expr(node.orelse)
        return lambda f: body(f) if test(f) else orelse(f)

    def expr_NamedExpr(self, node: ast.NamedExpr) -> Ev:
        value = self.expr(node.value)
        store = self.name_storer(node.target.id)

        def ev(f: list) -> Any:
            result = value(f)
            store(f, result)
            return result
        return ev

    # -- attributes and items -----------------------------------------------------------------
    def expr_Attribute(self, node: ast.Attribute) -> Ev:
        name = node.attr
        check_literal_attribute(name)
        obj = self.expr(node.value)
        load = self.policy.load
        fast = self.ctx.fast_attr_types
        special_types = frozenset(self.policy.special.get(name, ()))
        if name.startswith("_") or name in TYPE_DENIED_NAMES:
            return lambda f: load(obj(f), name)
        if special_types:
            def ev_special(f: list) -> Any:
                value = obj(f)
                kind = type(value)
                if kind in fast and kind not in special_types:
                    return getattr(value, name)
                return load(value, name)
            return ev_special

        def ev(f: list) -> Any:
            value = obj(f)
            if type(value) in fast:
                return getattr(value, name)
            return load(value, name)
        return ev

    def expr_Subscript(self, node: ast.Subscript) -> Ev:
        value, index = self.expr(node.value), self.expr(node.slice)
        return lambda f: value(f)[index(f)]

    def expr_Slice(self, node: ast.Slice) -> Ev:
        parts = [self.expr(p) if p is not None else None for p in (node.lower, node.upper, node.step)]
        lower, upper, step = (p or (lambda f: None) for p in parts)
        return lambda f: slice(lower(f), upper(f), step(f))
