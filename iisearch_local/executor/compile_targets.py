"""Compiling assignment and deletion targets (a mixin of ``Compiler``).

A target becomes ``store(frame, value)``: names per their scope, attributes through the
policy (only the sandbox's own objects are writable), items directly (slice assignment is
size-checked), and tuples/lists with Python's unpacking rules and error messages.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Callable
from typing import Any

from .errors import RULE_SET_ATTRIBUTE, UnsupportedSyntax
from .policy import deny, is_dunder


def _unpack_error(expected: int, got: int, starred: bool) -> ValueError:
    if got < expected:
        least = "at least " if starred else ""
        return ValueError(f"not enough values to unpack (expected {least}{expected}, got {got})")
    return ValueError(f"too many values to unpack (expected {expected})")


class TargetCompiler:
    """Mixin of ``Compiler``: where assigned values go."""

    guards: Any
    policy: Any

    # -- targets ------------------------------------------------------------------------------
    def _check_store_attribute(self, name: str) -> None:
        if is_dunder(name):
            raise deny(RULE_SET_ATTRIBUTE, f"setting attribute '{name}' is not allowed")

    def target(self, node: ast.expr) -> Callable[[list, Any], None]:
        """A ``store(frame, value)`` for an assignment target."""
        if isinstance(node, ast.Name):
            return self.name_storer(node.id)
        if isinstance(node, ast.Attribute):
            self._check_store_attribute(node.attr)
            obj, name, store_attribute = self.expr(node.value), node.attr, self.policy.store

            def store_attr(f: list, value: Any) -> None:
                store_attribute(obj(f), name, value)
            return store_attr
        if isinstance(node, ast.Subscript):
            container, key = self.expr(node.value), self.expr(node.slice)
            check_len = self.guards.check_len

            def store_item(f: list, value: Any) -> None:
                holder, index = container(f), key(f)
                if type(index) is slice and hasattr(value, "__len__"):
                    check_len(len(holder) + len(value), "slice assignment")  # x[:0] = x doubles
                holder[index] = value
            return store_item
        if isinstance(node, (ast.Tuple, ast.List)):
            return self._unpacking_target(node.elts)
        raise UnsupportedSyntax(f"cannot assign to {type(node).__name__}", getattr(node, "lineno", None))

    def _unpacking_target(self, elements: list[ast.expr]) -> Callable[[list, Any], None]:
        star = next((i for i, e in enumerate(elements) if isinstance(e, ast.Starred)), None)
        stores = [self.target(e.value if isinstance(e, ast.Starred) else e) for e in elements]
        count = len(stores)
        if star is None:
            def unpack(f: list, value: Any) -> None:
                items = value if type(value) is tuple or type(value) is list else list(
                    itertools.islice(value, count + 1))
                if len(items) != count:
                    raise _unpack_error(count, len(items), False)
                for store, item in zip(stores, items):
                    store(f, item)
            return unpack
        before, after = star, count - star - 1

        def unpack_star(f: list, value: Any) -> None:
            items = list(value)
            if len(items) < before + after:
                raise _unpack_error(before + after, len(items), True)
            for i in range(before):
                stores[i](f, items[i])
            stores[star](f, items[before:len(items) - after])
            for i in range(after):
                stores[star + 1 + i](f, items[len(items) - after + i])
        return unpack_star

    def deleter(self, node: ast.expr) -> Callable[[list], None]:
        if isinstance(node, ast.Name):
            return self.name_deleter(node.id)
        if isinstance(node, ast.Attribute):
            self._check_store_attribute(node.attr)
            obj, name, delete_attribute = self.expr(node.value), node.attr, self.policy.delete
            return lambda f: delete_attribute(obj(f), name)
        if isinstance(node, ast.Subscript):
            container, key = self.expr(node.value), self.expr(node.slice)

            def delete_item(f: list) -> None:
                del container(f)[key(f)]
            return delete_item
        parts = [self.deleter(e) for e in node.elts]  # type: ignore[attr-defined]

        def delete_all(f: list) -> None:
            for part in parts:
                part(f)
        return delete_all

