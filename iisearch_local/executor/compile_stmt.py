"""Compiling statements to closures ``run(frame) -> None | BREAK | CONTINUE | (value,)``.

Control flow travels as return values, not exceptions. Loops charge one operation per
iteration. A ``try`` never lets the code's own handlers see a ``SandboxAbort`` (or the hard
interrupt, or KeyboardInterrupt/SystemExit), and its ``finally`` block does not run for them.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from .errors import HardInterrupt, SandboxAbort, UnsupportedSyntax
from .policy import check_identifier
from .runtime import BREAK, CONTINUE, iterate_counted
from .scopes import LOCAL, resolve_store

Run = Callable[[list], Any]
# Exceptions the sandboxed code never catches.
ABORTS = (SandboxAbort, HardInterrupt, KeyboardInterrupt, SystemExit)
_RETURN_NONE = (None,)
# Node type -> compiling method, filled on first use.
_STMT_METHODS: dict[type, Callable[..., Any]] = {}


class StatementCompiler:
    """Mixin of ``Compiler``: statements, blocks and assignment targets."""

    ctx: Any
    guards: Any
    policy: Any
    scope: Any

    def block(self, nodes: list[ast.stmt]) -> Run:
        compiled: list[Run] = []
        lines: dict[Run, int] = {}
        for node in nodes:
            try:
                run = self.stmt(node)
            except SandboxAbort as error:
                if error.line is None:
                    error.line = node.lineno
                raise
            if run is None:
                continue
            compiled.append(run)
            lines[run] = node.lineno
        note = self.ctx.line_of
        if not compiled:
            return lambda f: None
        if len(compiled) == 1:
            only = compiled[0]
            line = lines[only]

            def body_one(f: list) -> Any:
                try:
                    return only(f)
                except BaseException as error:
                    note(error, line)
                    raise
            return body_one

        def body(f: list) -> Any:
            try:
                for run in compiled:
                    result = run(f)
                    if result is not None:
                        return result
            except BaseException as error:
                note(error, lines[run])
                raise
            return None
        return body

    def stmt(self, node: ast.stmt) -> Run | None:
        kind = type(node)
        method = _STMT_METHODS.get(kind)
        if method is None:
            method = getattr(type(self), "stmt_" + kind.__name__, None)
            if method is None:
                raise UnsupportedSyntax(f"{kind.__name__} statements are not supported", node.lineno)
            _STMT_METHODS[kind] = method
        return method(self, node)

    # -- simple statements --------------------------------------------------------------------
    def stmt_Expr(self, node: ast.Expr) -> Run | None:
        if isinstance(node.value, ast.Constant):
            return None  # docstrings and bare constants do nothing
        value = self.expr(node.value)

        def run(f: list) -> None:
            value(f)
        return run

    def stmt_Pass(self, node: ast.Pass) -> Run | None:
        return None

    def stmt_Global(self, node: ast.Global) -> Run | None:
        for name in node.names:
            check_identifier(name)
        return None

    stmt_Nonlocal = stmt_Global

    def stmt_Break(self, node: ast.Break) -> Run:
        return lambda f: BREAK

    def stmt_Continue(self, node: ast.Continue) -> Run:
        return lambda f: CONTINUE

    def stmt_Return(self, node: ast.Return) -> Run:
        if node.value is None:
            return lambda f: _RETURN_NONE
        value = self.expr(node.value)
        return lambda f: (value(f),)

    def stmt_Assign(self, node: ast.Assign) -> Run:
        value = self.expr(node.value)
        targets = node.targets
        if len(targets) == 1 and isinstance(targets[0], ast.Name):
            name = targets[0].id
            check_identifier(name)
            where = resolve_store(self.scope, name)
            if where[0] == LOCAL:
                index = where[1]

                def assign_local(f: list) -> None:
                    f[index] = value(f)
                return assign_local
        stores = [self.target(t) for t in targets]
        if len(stores) == 1:
            store = stores[0]

            def assign(f: list) -> None:
                store(f, value(f))
            return assign

        def assign_many(f: list) -> None:
            result = value(f)
            for store in stores:
                store(f, result)
        return assign_many

    def stmt_AnnAssign(self, node: ast.AnnAssign) -> Run | None:
        if node.value is None:
            return None
        value = self.expr(node.value)
        store = self.target(node.target)

        def assign(f: list) -> None:
            store(f, value(f))
        return assign

    def stmt_AugAssign(self, node: ast.AugAssign) -> Run:
        value = self.expr(node.value)
        function = self.binary_function(node.op, inplace=True)
        target = node.target
        if isinstance(target, ast.Name):
            load = self.name_loader(target.id, self.scope)
            store = self.name_storer(target.id)
            if isinstance(node.op, ast.Add):
                def augment_add(f: list) -> None:
                    current, delta = load(f), value(f)
                    if type(current) is int and type(delta) is int:
                        store(f, current + delta)
                    else:
                        store(f, function(current, delta))
                return augment_add

            def augment_name(f: list) -> None:
                store(f, function(load(f), value(f)))
            return augment_name
        if isinstance(target, ast.Attribute):
            self._check_store_attribute(target.attr)
            obj = self.expr(target.value)
            name = target.attr
            policy = self.policy

            def augment_attribute(f: list) -> None:
                holder = obj(f)
                policy.store(holder, name, function(policy.load(holder, name), value(f)))
            return augment_attribute
        container, key = self.expr(target.value), self.expr(target.slice)

        def augment_item(f: list) -> None:
            holder, index = container(f), key(f)
            holder[index] = function(holder[index], value(f))
        return augment_item

    def stmt_Delete(self, node: ast.Delete) -> Run:
        deleters = [self.deleter(t) for t in node.targets]

        def delete(f: list) -> None:
            for deleter in deleters:
                deleter(f)
        return delete

    def stmt_Assert(self, node: ast.Assert) -> Run:
        test = self.expr(node.test)
        message = self.expr(node.msg) if node.msg is not None else None

        def check(f: list) -> None:
            if not test(f):
                raise AssertionError(message(f)) if message is not None else AssertionError()
        return check

    def stmt_Raise(self, node: ast.Raise) -> Run:
        ctx = self.ctx
        if node.exc is None:
            def reraise(f: list) -> None:
                if not ctx.handling:
                    raise RuntimeError("No active exception to reraise")
                raise ctx.handling[-1]
            return reraise
        exc = self.expr(node.exc)
        if node.cause is None:
            def raise_(f: list) -> None:
                raise exc(f)
            return raise_
        cause = self.expr(node.cause)

        def raise_from(f: list) -> None:
            raise exc(f) from cause(f)
        return raise_from

    # -- compound statements ------------------------------------------------------------------
    def stmt_If(self, node: ast.If) -> Run:
        test, body = self.expr(node.test), self.block(node.body)
        if not node.orelse:
            def run_if(f: list) -> Any:
                if test(f):
                    return body(f)
                return None
            return run_if
        orelse = self.block(node.orelse)

        def run_if_else(f: list) -> Any:
            if test(f):
                return body(f)
            return orelse(f)
        return run_if_else

    def stmt_While(self, node: ast.While) -> Run:
        test, body = self.expr(node.test), self.block(node.body)
        orelse = self.block(node.orelse) if node.orelse else None
        ctx = self.ctx

        def run_while(f: list) -> Any:
            while test(f):
                ctx.ops += 1
                if ctx.ops > ctx.next_check:
                    ctx.checkpoint()
                result = body(f)
                if result is not None:
                    if result is BREAK:
                        return None
                    if result is not CONTINUE:
                        return result
            if orelse is not None:
                return orelse(f)
            return None
        return run_while

    def stmt_For(self, node: ast.For) -> Run:
        iterable, body = self.expr(node.iter), self.block(node.body)
        orelse = self.block(node.orelse) if node.orelse else None
        ctx = self.ctx
        index = None
        if isinstance(node.target, ast.Name):
            check_identifier(node.target.id)
            where = resolve_store(self.scope, node.target.id)
            if where[0] == LOCAL:
                index = where[1]
        store = self.target(node.target)

        if index is not None:
            def run_for_local(f: list) -> Any:
                for item in iterate_counted(iterable(f), ctx):
                    ctx.ops += 1
                    if ctx.ops > ctx.next_check:
                        ctx.checkpoint()
                    f[index] = item
                    result = body(f)
                    if result is not None:
                        if result is BREAK:
                            return None
                        if result is not CONTINUE:
                            return result
                if orelse is not None:
                    return orelse(f)
                return None
            return run_for_local

        def run_for(f: list) -> Any:
            for item in iterate_counted(iterable(f), ctx):
                ctx.ops += 1
                if ctx.ops > ctx.next_check:
                    ctx.checkpoint()
                store(f, item)
                result = body(f)
                if result is not None:
                    if result is BREAK:
                        return None
                    if result is not CONTINUE:
                        return result
            if orelse is not None:
                return orelse(f)
            return None
        return run_for

    def stmt_Try(self, node: ast.Try) -> Run:
        body = self.block(node.body)
        orelse = self.block(node.orelse) if node.orelse else None
        final = self.block(node.finalbody) if node.finalbody else None
        handlers = [self._handler(h) for h in node.handlers]
        ctx = self.ctx

        def handle(f: list, error: BaseException) -> Any:
            for matches, store, unbind, handler_body in handlers:
                if matches is not None and not matches(f, error):
                    continue
                if store is not None:
                    store(f, error)
                ctx.handling.append(error)
                try:
                    return handler_body(f)
                finally:
                    ctx.handling.pop()
                    if unbind is not None:
                        unbind(f)
            raise error

        def run_try(f: list) -> Any:
            try:
                try:
                    result = body(f)
                except ABORTS:
                    raise
                except BaseException as error:  # noqa: BLE001 - the code's own except clauses
                    if not handlers:
                        raise
                    result = handle(f, error)
                else:
                    if orelse is not None:
                        result = orelse(f)
            except ABORTS:
                raise
            except BaseException:
                if final is not None:
                    final_result = final(f)
                    if final_result is not None:
                        return final_result
                raise
            if final is not None:
                final_result = final(f)
                if final_result is not None:
                    return final_result
            return result
        return run_try

    def _handler(self, handler: ast.ExceptHandler) -> tuple[Any, Any, Any, Run]:
        matches = None
        if handler.type is not None:
            kind = self.expr(handler.type)

            def matches_type(f: list, error: BaseException) -> bool:
                wanted = kind(f)
                classes = wanted if isinstance(wanted, tuple) else (wanted,)
                for cls in classes:
                    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                        raise TypeError("catching classes that do not inherit from BaseException "
                                        "is not allowed")
                return isinstance(error, wanted)
            matches = matches_type
        store = unbind = None
        if handler.name:
            store = self.name_storer(handler.name)
            delete = self.name_deleter(handler.name)

            def unbind_name(f: list) -> None:
                try:
                    delete(f)
                except NameError:
                    pass
            unbind = unbind_name
        return matches, store, unbind, self.block(handler.body)
