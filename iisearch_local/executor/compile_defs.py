"""Compiling definitions: functions, lambdas, classes, comprehensions and imports."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from .errors import RULE_CLASS, PolicyViolation
from .policy import ALLOWED_USER_DUNDERS, check_identifier, is_dunder
from .runtime import (
    UNBOUND, FunctionSpec, ReprHook, SandboxFunction, _inactive, iterate_counted,
)
from .scopes import CLASS, COMPREHENSION, FUNCTION, LOCAL, resolve_store

Ev = Callable[[list], Any]


class DefinitionCompiler:
    """Mixin of ``Compiler``: everything that opens a new scope, plus imports."""

    ctx: Any
    guards: Any
    policy: Any
    scope: Any
    scopes: dict[ast.AST, Any]
    modules: dict[str, Any]
    globals: dict[str, Any]
    builtins: dict[str, Any]

    def _child_link(self) -> Ev:
        """The frame a new inner scope links to (class bodies are skipped, as in Python)."""
        if self.scope.kind == CLASS:
            return lambda f: f[0]
        return lambda f: f

    def _in_scope(self, scope: Any, compile_part: Callable[[], Any]) -> Any:
        saved = self.scope
        self.scope = scope
        try:
            return compile_part()
        finally:
            self.scope = saved

    # -- functions ----------------------------------------------------------------------------
    def function_maker(self, node: ast.FunctionDef | ast.Lambda, name: str) -> Ev:
        scope = self.scopes[node]
        args = node.args
        defaults = [self.expr(d) for d in args.defaults]
        kwdefaults = [(a.arg, self.expr(d)) for a, d in zip(args.kwonlyargs, args.kw_defaults)
                      if d is not None]
        if isinstance(node, ast.Lambda):
            value = self._in_scope(scope, lambda: self.expr(node.body))

            def body(frame: list) -> tuple:
                return (value(frame),)
        else:
            body = self._in_scope(scope, lambda: self.block(node.body))
        spec = FunctionSpec(
            name=name, qualname=self.scope.qualname(name), body=body, nslots=scope.nslots,
            argnames=[a.arg for a in args.posonlyargs + args.args],
            nposonly=len(args.posonlyargs),
            vararg_slot=scope.slots[args.vararg.arg] if args.vararg else None,
            varkw_slot=scope.slots[args.kwarg.arg] if args.kwarg else None,
            kwonly=[(a.arg, scope.slots[a.arg]) for a in args.kwonlyargs],
            class_slot=scope.class_slot)
        link = self._child_link()
        in_class = self.scope.kind == CLASS
        ctx = self.ctx

        def make(f: list) -> SandboxFunction:
            default_values = tuple([d(f) for d in defaults]) if defaults else ()
            kw_values = {n: d(f) for n, d in kwdefaults} if kwdefaults else {}
            return SandboxFunction(spec, default_values, kw_values, link(f), ctx,
                                   f[2] if in_class else None)
        return make

    def expr_Lambda(self, node: ast.Lambda) -> Ev:
        return self.function_maker(node, "<lambda>")

    def _decorated(self, decorators: list[ast.expr]) -> tuple[list[Ev], Callable[[Any], Any]]:
        resolve_callable = self.callable_resolver()

        def apply(values: list[Any], target: Any) -> Any:
            for decorator in reversed(values):
                if type(decorator) is not SandboxFunction:
                    decorator = resolve_callable(decorator)
                target = decorator(target)
            return target
        return [self.expr(d) for d in decorators], apply

    def stmt_FunctionDef(self, node: ast.FunctionDef) -> Ev:
        if self.scope.kind == CLASS and is_dunder(node.name):
            if node.name not in ALLOWED_USER_DUNDERS:
                raise PolicyViolation(RULE_CLASS, f"a class may not define '{node.name}' in the sandbox")
        else:
            check_identifier(node.name, what="function name")
        decorators, apply = self._decorated(node.decorator_list)
        make = self.function_maker(node, node.name)
        store = self.name_storer(node.name) if not is_dunder(node.name) else self._class_storer(node.name)

        def define(f: list) -> None:
            values = [d(f) for d in decorators]
            store(f, apply(values, make(f)) if values else make(f))
        return define

    def _class_storer(self, name: str) -> Callable[[list, Any], None]:
        def store(f: list, value: Any) -> None:
            f[1][name] = value
        return store

    def zero_argument_super(self, node: ast.Call) -> Ev:
        scope = self.scope
        load_super = self.name_loader("super", scope)
        sandbox_super = self.builtins["super"]
        resolve_callable = self.callable_resolver()
        method = scope.kind == FUNCTION and scope.class_slot is not None and scope.params
        class_slot = scope.class_slot

        def call_super(f: list) -> Any:
            function = load_super(f)
            if function is not sandbox_super:
                return resolve_callable(function)()
            if not method:
                raise RuntimeError("super(): no arguments (use it directly inside a method)")
            owner = f[class_slot]
            if owner is UNBOUND:
                raise RuntimeError("super(): __class__ cell not found")
            return super(owner, f[1])
        return call_super

    # -- classes ------------------------------------------------------------------------------
    def stmt_ClassDef(self, node: ast.ClassDef) -> Ev:
        check_identifier(node.name, what="class name")
        if node.keywords:
            raise PolicyViolation(RULE_CLASS, "class keywords (metaclass=...) are not allowed")
        if any(isinstance(b, ast.Starred) for b in node.bases):
            raise PolicyViolation(RULE_CLASS, "starred class bases are not allowed")
        bases = [self.expr(b) for b in node.bases]
        decorators, apply = self._decorated(node.decorator_list)
        scope = self.scopes[node]
        body = self._in_scope(scope, lambda: self.block(node.body))
        docstring = ast.get_docstring(node, clean=False)
        qualname = self.scope.qualname(node.name)
        store = self.name_storer(node.name)
        link = self._child_link()
        policy, ctx = self.policy, self.ctx
        name = node.name

        def define(f: list) -> None:
            decorator_values = [d(f) for d in decorators]
            base_values = tuple([b(f) for b in bases])
            policy.check_bases(base_values)
            namespace: dict[str, Any] = {"__module__": "__main__", "__qualname__": qualname}
            if docstring is not None:
                namespace["__doc__"] = docstring
            holder: list[Any] = [None]
            body([link(f), namespace, holder])
            policy.check_namespace(namespace)
            for hook in ("__repr__", "__str__"):
                if type(namespace.get(hook)) is SandboxFunction:
                    namespace[hook] = ReprHook(namespace[hook], hook, ctx)
            cls = type(name, base_values, namespace)
            holder[0] = cls
            ctx.sandbox_types.add(cls)
            ctx.fast_attr_types.add(cls)
            store(f, apply(decorator_values, cls) if decorator_values else cls)
        return define

    # -- comprehensions -----------------------------------------------------------------------
    def _comprehension(self, node: Any, kind: str) -> Ev:
        scope = self.scopes[node]
        first_iter = self.expr(node.generators[0].iter)
        link = self._child_link()

        def compile_inside() -> tuple[list, Any]:
            levels = []
            for index, generator in enumerate(node.generators):
                nested = self.expr(generator.iter) if index else None
                slot = None
                if isinstance(generator.target, ast.Name):
                    where = resolve_store(scope, generator.target.id)
                    slot = where[1] if where[0] == LOCAL else None
                levels.append((nested, slot, self.target(generator.target),
                               [self.expr(c) for c in generator.ifs]))
            if kind == "dict":
                return levels, (self.expr(node.key), self.expr(node.value))
            return levels, self.expr(node.elt)

        levels, produce = self._in_scope(scope, compile_inside)
        assert scope.kind == COMPREHENSION
        pad = (UNBOUND,) * (scope.nslots - 1)
        ctx = self.ctx
        if kind == "generator":
            return self._generator(first_iter, link, pad, levels, produce)
        if len(levels) == 1 and levels[0][1] is not None and len(levels[0][3]) <= 1:
            return self._simple_comprehension(kind, first_iter, link, pad, levels[0], produce)
        last = len(levels) - 1

        def run_level(cf: list, level: int, iterable: Any, emit: Callable[[list], None]) -> None:
            _, _, store, conditions = levels[level]
            for item in iterate_counted(iterable, ctx):
                ctx.ops += 1
                if ctx.ops > ctx.next_check:
                    ctx.checkpoint()
                store(cf, item)
                for condition in conditions:
                    if not condition(cf):
                        break
                else:
                    if level == last:
                        emit(cf)
                    else:
                        run_level(cf, level + 1, levels[level + 1][0](cf), emit)

        def ev(f: list) -> Any:
            cf = [link(f), *pad]
            iterable = first_iter(f)
            if kind == "list":
                out: Any = []
                append = out.append
                run_level(cf, 0, iterable, lambda c: append(produce(c)))
            elif kind == "set":
                out = set()
                add = out.add
                run_level(cf, 0, iterable, lambda c: add(produce(c)))
            else:
                out = {}
                key, value = produce

                def put(c: list) -> None:
                    out[key(c)] = value(c)
                run_level(cf, 0, iterable, put)
            return out
        return ev

    def _simple_comprehension(self, kind: str, first_iter: Ev, link: Ev, pad: tuple,
                              level: tuple, produce: Any) -> Ev:
        _, slot, _, conditions = level
        condition = conditions[0] if conditions else None
        ctx = self.ctx
        if kind == "dict":
            key, value = produce

            def ev_dict(f: list) -> dict:
                cf = [link(f), *pad]
                out: dict[Any, Any] = {}
                for item in iterate_counted(first_iter(f), ctx):
                    ctx.ops += 1
                    if ctx.ops > ctx.next_check:
                        ctx.checkpoint()
                    cf[slot] = item
                    if condition is None or condition(cf):
                        out[key(cf)] = value(cf)
                return out
            return ev_dict
        make_set = kind == "set"

        def ev_list(f: list) -> Any:
            cf = [link(f), *pad]
            out: list[Any] = []
            append = out.append
            for item in iterate_counted(first_iter(f), ctx):
                ctx.ops += 1
                if ctx.ops > ctx.next_check:
                    ctx.checkpoint()
                cf[slot] = item
                if condition is None or condition(cf):
                    append(produce(cf))
            return set(out) if make_set else out
        return ev_list

    def _generator(self, first_iter: Ev, link: Ev, pad: tuple, levels: list, produce: Ev) -> Ev:
        ctx = self.ctx
        last = len(levels) - 1

        def level_items(cf: list, level: int, iterator: Any) -> Any:
            _, _, store, conditions = levels[level]
            for item in iterator:
                if not ctx.active:
                    raise _inactive()
                ctx.ops += 1
                if ctx.ops > ctx.next_check:
                    ctx.checkpoint()
                store(cf, item)
                for condition in conditions:
                    if not condition(cf):
                        break
                else:
                    if level == last:
                        yield produce(cf)
                    else:
                        nested = iterate_counted(levels[level + 1][0](cf), ctx)
                        yield from level_items(cf, level + 1, nested)

        def ev(f: list) -> Any:
            cf = [link(f), *pad]
            return level_items(cf, 0, iterate_counted(first_iter(f), ctx))
        return ev

    def expr_ListComp(self, node: ast.ListComp) -> Ev:
        return self._comprehension(node, "list")

    def expr_SetComp(self, node: ast.SetComp) -> Ev:
        return self._comprehension(node, "set")

    def expr_DictComp(self, node: ast.DictComp) -> Ev:
        return self._comprehension(node, "dict")

    def expr_GeneratorExp(self, node: ast.GeneratorExp) -> Ev:
        return self._comprehension(node, "generator")

    # -- imports ------------------------------------------------------------------------------
    def _missing_module(self, name: str) -> ModuleNotFoundError:
        available = ", ".join(sorted(n for n in self.modules if n != "urllib"))
        return ModuleNotFoundError(f"No module named '{name}' in the sandbox (available: "
                                   f"{available})", name=name)

    def stmt_Import(self, node: ast.Import) -> Ev:
        bindings = []
        for alias in node.names:
            bound = alias.asname or alias.name.split(".")[0]
            check_identifier(bound)
            key = alias.name if alias.asname else bound
            bindings.append((self.name_storer(bound), key, alias.name))
        modules = self.modules

        def run_import(f: list) -> None:
            for store, key, full in bindings:
                if full not in modules:
                    raise self._missing_module(full)
                store(f, modules[key])
        return run_import

    def stmt_ImportFrom(self, node: ast.ImportFrom) -> Ev:
        module = node.module or ""
        star = any(alias.name == "*" for alias in node.names)
        items = []
        for alias in node.names:
            if alias.name != "*":
                bound = alias.asname or alias.name
                check_identifier(bound)
                items.append((alias.name, self.name_storer(bound)))
        modules, namespace, level = self.modules, self.globals, node.level

        def run_import_from(f: list) -> None:
            if level:
                raise ImportError("relative imports are not supported in the sandbox")
            proxy = modules.get(module)
            if proxy is None:
                raise self._missing_module(module)
            for name, store in items:
                try:
                    value = proxy.get(name)
                except AttributeError:
                    raise ImportError(f"cannot import name '{name}' from '{module}'") from None
                store(f, value)
            if star:
                namespace.update(proxy._members)
        return run_import_from
