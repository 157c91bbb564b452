"""The compiler front: source text -> checked AST -> tree of closures.

The source is parsed with ``ast`` and also compiled by CPython (the bytecode is thrown away):
that runs CPython's own checks - ``return`` outside a function, ``nonlocal`` without a binding,
invalid targets - with CPython's messages. Our scope pass then resolves every name, and the
expression/statement/definition mixins turn each node into a closure.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from .compile_data import DataCompiler
from .compile_defs import DefinitionCompiler
from .compile_expr import ExpressionCompiler
from .compile_stmt import StatementCompiler
from .compile_targets import TargetCompiler
from .errors import LimitExceeded, UnsupportedSyntax
from .limits import LIMIT_CODE_SIZE
from .scopes import ScopeBuilder


class Compiler(ExpressionCompiler, DataCompiler, StatementCompiler, TargetCompiler,
               DefinitionCompiler):
    """Compiles blocks for one executor; compiled code shares the executor's globals."""

    def __init__(self, *, ctx: Any, guards: Any, policy: Any, globals_: dict[str, Any],
                 builtins_: dict[str, Any], modules: dict[str, Any]) -> None:
        self.ctx = ctx
        self.guards = guards
        self.policy = policy
        self.globals = globals_
        self.builtins = builtins_
        self.modules = modules
        self.scopes: dict[ast.AST, Any] = {}
        self.scope: Any = None

    def compile_block(self, source: str) -> Callable[[list], Any]:
        """Parse and compile one block; raises SyntaxError, UnsupportedSyntax or a policy error."""
        limit = self.ctx.limits.max_code_chars
        if len(source) > limit:
            raise LimitExceeded(LIMIT_CODE_SIZE, f"code size limit: the block has {len(source):,} "
                                                 f"characters (limit {limit:,})")
        try:
            tree = ast.parse(source, "<code>", "exec")
            compile(tree, "<code>", "exec", dont_inherit=True)
            self.scopes = ScopeBuilder().build(tree)
            self.scope = self.scopes[tree]
            return self.block(tree.body)
        except RecursionError:
            raise UnsupportedSyntax("the code is nested too deeply") from None
        except MemoryError:
            raise UnsupportedSyntax("the code is too complex to compile") from None
        finally:
            self.scopes = {}
            self.scope = None
