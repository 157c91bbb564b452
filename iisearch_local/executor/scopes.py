"""Python's scoping rules, resolved before compiling: where each name lives at run time.

Frames are plain lists: slot 0 links to the frame of the enclosing function (a static chain,
which also makes closures work without cell objects), the other slots hold locals. Module-level
names live in the executor's globals dict; a class body has a frame ``[link, namespace]``.
"""

from __future__ import annotations

import ast
from typing import Any

from .errors import UnsupportedSyntax

MODULE, FUNCTION, CLASS, COMPREHENSION = "module", "function", "class", "comprehension"

# Resolutions of a name (first item of the tuple).
LOCAL, OUTER, GLOBAL, CLASS_BODY = "local", "outer", "global", "class"

UNSUPPORTED = {
    ast.AsyncFunctionDef: "async functions are not supported",
    ast.AsyncFor: "async for is not supported",
    ast.AsyncWith: "async with is not supported",
    ast.Await: "await is not supported",
    ast.Yield: "generator functions (yield) are not supported; build and return a list",
    ast.YieldFrom: "generator functions (yield from) are not supported; build and return a list",
    ast.With: "with statements are not supported (there are no files to open)",
    ast.Match: "match statements are not supported; use if/elif",
}
if hasattr(ast, "TryStar"):
    UNSUPPORTED[ast.TryStar] = "except* is not supported"


class Scope:
    """One function, lambda, comprehension, class body or the module."""

    def __init__(self, kind: str, name: str, parent: Scope | None) -> None:
        self.kind = kind
        self.name = name
        self.parent = parent
        self.bound: set[str] = set()
        self.params: list[str] = []
        self.declared_global: set[str] = set()
        self.declared_nonlocal: set[str] = set()
        self.deleted: set[str] = set()
        self.slots: dict[str, int] = {}
        self.nslots = 1
        self.uses_super = False
        self.class_slot: int | None = None

    @property
    def is_frame(self) -> bool:
        return self.kind in (FUNCTION, COMPREHENSION)

    def finish(self) -> None:
        """Number the local slots: parameters first, in signature order."""
        if not self.is_frame:
            return
        outside = self.declared_global | self.declared_nonlocal
        names = [p for p in self.params if p not in outside]
        names += sorted(self.bound - outside - set(names))
        self.slots = {name: index + 1 for index, name in enumerate(names)}
        self.nslots = len(names) + 1
        if self.uses_super and self.parent is not None and self.parent.kind == CLASS:
            self.class_slot = self.nslots
            self.nslots += 1

    def qualname(self, name: str) -> str:
        parts = [name]
        scope: Scope | None = self
        while scope is not None and scope.kind != MODULE:
            parts.append(scope.name if scope.kind != FUNCTION else f"{scope.name}.<locals>")
            scope = scope.parent
        return ".".join(reversed(parts))


def resolve(scope: Scope, name: str) -> tuple[Any, ...]:
    """Where a *load* of ``name`` in ``scope`` finds its value."""
    if scope.kind == MODULE or name in scope.declared_global:
        return (GLOBAL,)
    if scope.kind == CLASS:
        return (CLASS_BODY, _outer(scope, name))
    if name in scope.slots:
        return (LOCAL, scope.slots[name])
    return _outer(scope, name)


def resolve_store(scope: Scope, name: str) -> tuple[Any, ...]:
    """Where a *store* (or delete) of ``name`` in ``scope`` goes."""
    if scope.kind == MODULE or name in scope.declared_global:
        return (GLOBAL,)
    if name in scope.declared_nonlocal:
        return _outer(scope, name)
    if scope.kind == CLASS:
        return (CLASS_BODY, None)
    return (LOCAL, scope.slots[name])


def _outer(scope: Scope, name: str) -> tuple[Any, ...]:
    hops = 0
    parent = scope.parent
    while parent is not None:
        if parent.kind == CLASS:
            parent = parent.parent
            continue
        if parent.kind == MODULE:
            return (GLOBAL,)
        hops += 1
        if name in parent.declared_global:
            return (GLOBAL,)
        if name in parent.slots:
            return (OUTER, hops, parent.slots[name])
        parent = parent.parent
    return (GLOBAL,)


class ScopeBuilder(ast.NodeVisitor):
    """Walks the tree once, recording a ``Scope`` for every node that opens one."""

    def __init__(self) -> None:
        self.scopes: dict[ast.AST, Scope] = {}
        self.current = Scope(MODULE, "<module>", None)
        self.all: list[Scope] = [self.current]

    def build(self, tree: ast.Module) -> dict[ast.AST, Scope]:
        self.scopes[tree] = self.current
        for stmt in tree.body:
            self.visit(stmt)
        for scope in self.all:
            scope.finish()
        return self.scopes

    def visit(self, node: ast.AST) -> None:
        # A dispatch table instead of NodeVisitor's getattr per node: this pass runs on every block.
        handler = _HANDLERS.get(type(node))
        if handler is not None:
            handler(self, node)
        elif type(node) not in _LEAVES:
            self.generic_visit(node)

    def generic_visit(self, node: ast.AST) -> None:
        message = UNSUPPORTED.get(type(node))
        if message is not None:
            raise UnsupportedSyntax(message, getattr(node, "lineno", None))
        visit = self.visit
        for field in node._fields:
            value = getattr(node, field, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        visit(item)
            elif isinstance(value, ast.AST):
                visit(value)

    def _open(self, kind: str, name: str, node: ast.AST) -> Scope:
        scope = Scope(kind, name, self.current)
        self.scopes[node] = scope
        self.all.append(scope)
        return scope

    def _within(self, scope: Scope, nodes: list[ast.AST]) -> None:
        saved, self.current = self.current, scope
        try:
            for node in nodes:
                self.visit(node)
        finally:
            self.current = saved

    def _visit_arguments(self, args: ast.arguments) -> list[str]:
        for default in args.defaults:
            self.visit(default)
        for default in args.kw_defaults:
            if default is not None:
                self.visit(default)
        names = [a.arg for a in args.posonlyargs + args.args]
        if args.vararg:
            names.append(args.vararg.arg)
        names += [a.arg for a in args.kwonlyargs]
        if args.kwarg:
            names.append(args.kwarg.arg)
        return names

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.current.bound.add(node.name)
        for decorator in node.decorator_list:
            self.visit(decorator)
        params = self._visit_arguments(node.args)
        scope = self._open(FUNCTION, node.name, node)
        scope.params = params
        scope.bound.update(params)
        self._within(scope, node.body)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        params = self._visit_arguments(node.args)
        scope = self._open(FUNCTION, "<lambda>", node)
        scope.params = params
        scope.bound.update(params)
        self._within(scope, [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.current.bound.add(node.name)
        for item in [*node.bases, *(k.value for k in node.keywords), *node.decorator_list]:
            self.visit(item)
        scope = self._open(CLASS, node.name, node)
        self._within(scope, node.body)

    def _comprehension(self, node: Any, parts: list[ast.AST]) -> None:
        generators = node.generators
        self.visit(generators[0].iter)
        scope = self._open(COMPREHENSION, "<comprehension>", node)
        inner: list[ast.AST] = []
        for index, generator in enumerate(generators):
            if generator.is_async:
                raise UnsupportedSyntax("async comprehensions are not supported", node.lineno)
            inner.append(generator.target)
            if index:
                inner.append(generator.iter)
            inner.extend(generator.ifs)
        self._within(scope, inner + parts)

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_ListComp
    visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self.current.bound.add(node.id)
            if isinstance(node.ctx, ast.Del):
                self.current.deleted.add(node.id)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        name = node.target.id
        scope = self.current
        while scope.kind == COMPREHENSION:
            scope.declared_nonlocal.add(name)
            scope = scope.parent  # type: ignore[assignment]
        if scope.kind == MODULE:
            # A walrus in a module-level comprehension binds a global.
            walker: Scope | None = self.current
            while walker is not None and walker.kind == COMPREHENSION:
                walker.declared_nonlocal.discard(name)
                walker.declared_global.add(name)
                walker = walker.parent
        scope.bound.add(name)
        self.visit(node.value)

    def visit_Global(self, node: ast.Global) -> None:
        self.current.declared_global.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.current.declared_nonlocal.update(node.names)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.current.bound.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":
                self.current.bound.add(alias.asname or alias.name)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.current.bound.add(node.name)
            self.current.deleted.add(node.name)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)  # annotations are never evaluated
        if node.value is not None:
            self.visit(node.value)

    def visit_arg(self, node: ast.arg) -> None:
        pass  # parameter annotations are never evaluated

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id == "super" and not node.args:
            scope: Scope | None = self.current
            while scope is not None and scope.kind != FUNCTION:
                scope = scope.parent
            if scope is not None:
                scope.uses_super = True
        self.generic_visit(node)


_HANDLERS = {
    getattr(ast, name[len("visit_"):]): function
    for name, function in vars(ScopeBuilder).items()
    if name.startswith("visit_") and hasattr(ast, name[len("visit_"):])
}
# Nodes with nothing to visit inside (contexts, operators, constants).
_LEAVES = frozenset({
    ast.Load, ast.Store, ast.Del, ast.Constant, ast.Pass, ast.Break, ast.Continue,
    *(getattr(ast, n) for n in ("Add", "Sub", "Mult", "MatMult", "Div", "Mod", "Pow", "LShift",
                                "RShift", "BitOr", "BitXor", "BitAnd", "FloorDiv", "And", "Or",
                                "Eq", "NotEq", "Lt", "LtE", "Gt", "GtE", "Is", "IsNot", "In",
                                "NotIn", "Invert", "Not", "UAdd", "USub")),
})
