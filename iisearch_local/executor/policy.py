"""Which attributes, names, classes and calls the sandboxed code may use.

The policy is an allowlist by *type*: attributes are readable only on values of known-safe
types (str, list, dict, datetime, re matches, the sandbox's own classes...), on module proxies
(allowlisted names only) and on a few wrapper objects. Everything else - generators, frames,
functions of the host, iterators of unknown kind - exposes nothing, whatever the attribute is
called. On top of that, no dunder is readable except ``__name__``/``__doc__`` (and
``__init__``-style methods of the sandbox's own classes), and no private ``_name`` is readable
on host objects. Names arriving as strings (``getattr``, format fields, ``attrgetter``) are
checked the same way after NFKC normalisation, and must be exact ``str`` objects.
"""

from __future__ import annotations

import builtins
import unicodedata
from collections.abc import Callable
from typing import Any

from .errors import (
    RULE_ATTRIBUTE, RULE_CALL, RULE_CLASS, RULE_NAME, RULE_SET_ATTRIBUTE, PolicyViolation,
)
from .proxies import ModuleProxy, SafeMethod
from .runtime import RunContext

# Readable on any object (only when the value is a str or None).
READABLE_DUNDERS = frozenset({"__name__", "__doc__"})
# Dunders a sandbox class may define (and that may be read on its instances and on ``super()``).
ALLOWED_USER_DUNDERS = frozenset({
    "__init__", "__repr__", "__str__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__",
    "__ge__", "__hash__", "__bool__", "__len__", "__iter__", "__next__", "__contains__",
    "__getitem__", "__setitem__", "__delitem__", "__call__", "__add__", "__radd__", "__sub__",
    "__rsub__", "__mul__", "__rmul__", "__truediv__", "__floordiv__", "__mod__", "__neg__",
    "__pos__", "__abs__", "__iadd__", "__isub__",
})
# Dunders the interpreter itself puts into a class namespace.
CLASS_NAMESPACE_DUNDERS = frozenset({"__module__", "__qualname__", "__doc__"})
# Never readable, even on types that are otherwise open (defence in depth: these reach frames,
# code, class hierarchies or global registries on some type or other).
DENIED_NAMES = frozenset({
    "mro", "with_traceback", "register", "gi_frame", "gi_code", "gi_yieldfrom", "gi_running",
    "gi_suspended", "cr_frame", "cr_code", "cr_await", "cr_running", "cr_origin",
    "cr_suspended", "ag_frame", "ag_code", "ag_await", "ag_running", "f_back", "f_builtins",
    "f_code", "f_globals", "f_locals", "f_trace", "f_lasti", "f_lineno", "tb_frame", "tb_next",
    "tb_lasti", "tb_lineno", "func_globals", "func_code", "func_closure", "im_func", "im_self",
    "im_class", "co_code", "co_consts", "co_names", "co_filename",
})
# Public attributes denied on some types only: ``AttributeError.obj`` can hold whatever object
# host library code was looking at when it failed.
TYPE_DENIED_NAMES: dict[str, tuple[type, ...]] = {"obj": (AttributeError,)}
# Names at module level the sandbox may bind or read although they look special.
ALLOWED_DUNDER_NAMES = frozenset({"__name__"})
MAX_ATTRIBUTE_NAME = 200


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name[:2] == "__" and name[-2:] == "__"


def deny(rule: str, message: str) -> PolicyViolation:
    return PolicyViolation(rule, message)


def check_identifier(name: str, *, what: str = "name") -> None:
    """Reject identifiers such as ``__builtins__`` or ``__import__`` used as variable names."""
    if is_dunder(name) and name not in ALLOWED_DUNDER_NAMES:
        raise deny(RULE_NAME, f"the {what} '{name}' is not allowed in the sandbox")


def check_literal_attribute(name: str) -> None:
    """Compile-time check of ``obj.name`` written in the code (fails the block before it runs)."""
    if name in DENIED_NAMES:
        raise deny(RULE_ATTRIBUTE, f"access to attribute '{name}' is not allowed")
    if is_dunder(name) and name not in READABLE_DUNDERS and name not in ALLOWED_USER_DUNDERS:
        hint = " (use type(x).__name__ for a type's name)" if name == "__class__" else ""
        raise deny(RULE_ATTRIBUTE, f"access to attribute '{name}' is not allowed{hint}")


def exact_attribute_name(name: Any) -> str:
    """A name that came in as data: exact ``str``, bounded, and not special after NFKC."""
    if type(name) is not str:
        raise TypeError(f"attribute name must be string, not '{type(name).__name__}'")
    if len(name) > MAX_ATTRIBUTE_NAME:
        raise AttributeError("attribute name too long")
    normalized = unicodedata.normalize("NFKC", name)
    if normalized != name:
        check_literal_attribute(normalized)
        if normalized.startswith("_"):
            raise deny(RULE_ATTRIBUTE, f"access to attribute {name!r} is not allowed")
    check_literal_attribute(name)
    return name


class AttributePolicy:
    """Attribute reads, writes and class calls, for one executor."""

    def __init__(self, ctx: RunContext, *, safe_types: set[type], callable_classes: set[type],
                 special: dict[str, dict[type, Callable[..., Any]]],
                 restricted: dict[type, frozenset[str]],
                 substitutes: dict[type, Callable[..., Any]]) -> None:
        self.ctx = ctx
        self.safe_types = frozenset(safe_types)
        self.callable_classes = frozenset(callable_classes)
        self.special = special
        self.restricted = restricted
        self.substitutes = substitutes
        ctx.fast_attr_types.update(t for t in safe_types if t not in restricted)
        ctx.fast_attr_types.add(super)

    # -- reading ----------------------------------------------------------------------------
    def getattr_dynamic(self, obj: Any, name: Any) -> Any:
        """``getattr(obj, name)`` with a name built at run time."""
        return self.load(obj, exact_attribute_name(name))

    def load(self, obj: Any, name: str) -> Any:
        """Read ``obj.name`` (``name`` already passed ``check_literal_attribute``)."""
        kind = type(obj)
        if kind is ModuleProxy:
            if name == "__name__":
                return obj._name
            if name.startswith("_"):
                raise deny(RULE_ATTRIBUTE, f"access to attribute '{name}' of a module is not allowed")
            return obj.get(name)
        sandbox_types = self.ctx.sandbox_types
        if name[:1] == "_":
            if is_dunder(name):
                return self._load_dunder(obj, kind, name)
            if kind in sandbox_types or (isinstance(obj, type) and obj in sandbox_types):
                return getattr(obj, name)
            raise deny(RULE_ATTRIBUTE, f"access to private attribute '{name}' of "
                                       f"{kind.__name__} objects is not allowed")
        if name in DENIED_NAMES:
            raise deny(RULE_ATTRIBUTE, f"access to attribute '{name}' is not allowed")
        denied_for = TYPE_DENIED_NAMES.get(name)
        if denied_for is not None and isinstance(obj, denied_for):
            raise deny(RULE_ATTRIBUTE, f"access to attribute '{name}' of {kind.__name__} is not allowed")
        if kind in self.ctx.fast_attr_types:
            specials = self.special.get(name)
            if specials is not None and kind in specials:
                return SafeMethod(specials[kind], name, obj)
            return getattr(obj, name)
        allowed = self.restricted.get(kind)
        if allowed is not None:
            specials = self.special.get(name)
            if specials is not None and kind in specials:
                return SafeMethod(specials[kind], name, obj)
            if name in allowed:
                return getattr(obj, name)
            raise deny(RULE_ATTRIBUTE, f"attribute '{name}' of {kind.__name__} objects is not "
                                       f"available in the sandbox")
        if isinstance(obj, type) and (obj in self.safe_types or obj in sandbox_types):
            specials = self.special.get(name)
            if specials is not None and obj in specials:
                return SafeMethod(specials[obj], name)
            return getattr(obj, name)
        raise deny(RULE_ATTRIBUTE, f"reading attributes of {kind.__name__} objects is not allowed")

    def _load_dunder(self, obj: Any, kind: type, name: str) -> Any:
        if name in READABLE_DUNDERS:
            value = getattr(obj, name)
            if value is None or type(value) is str:
                return value
        elif name in ALLOWED_USER_DUNDERS:
            sandbox_types = self.ctx.sandbox_types
            if kind in sandbox_types or kind is super or (
                    isinstance(obj, type) and obj in sandbox_types):
                return getattr(obj, name)
            if name == "__init__" and isinstance(obj, type) and obj in self.safe_types:
                return getattr(obj, name)
        raise deny(RULE_ATTRIBUTE, f"access to attribute '{name}' is not allowed")

    # -- writing ----------------------------------------------------------------------------
    def _writable(self, obj: Any, name: str, verb: str) -> None:
        if is_dunder(name):
            raise deny(RULE_SET_ATTRIBUTE, f"{verb} attribute '{name}' is not allowed")
        sandbox_types = self.ctx.sandbox_types
        if type(obj) in sandbox_types or (isinstance(obj, type) and obj in sandbox_types):
            return
        raise deny(RULE_SET_ATTRIBUTE, f"{verb} attributes of {type(obj).__name__} objects is "
                                       f"not allowed (only of your own classes)")

    def store(self, obj: Any, name: str, value: Any) -> None:
        self._writable(obj, name, "setting")
        setattr(obj, name, value)

    def delete(self, obj: Any, name: str) -> None:
        self._writable(obj, name, "deleting")
        delattr(obj, name)

    # -- classes ----------------------------------------------------------------------------
    def call_target(self, cls: type) -> Callable[..., Any]:
        """What calling the class ``cls`` really calls (a checked constructor, or ``cls``)."""
        substitute = self.substitutes.get(cls)
        if substitute is not None:
            return substitute
        if cls in self.callable_classes or cls in self.ctx.sandbox_types:
            return cls
        raise deny(RULE_CALL, f"calling {cls.__name__} is not allowed in the sandbox")

    def callback(self, fn: Any) -> Any:
        """A class handed to a host function as a callback becomes what calling it may do.

        ``map(type, ...)``, ``staticmethod(type)(...)`` or ``lru_cache(cls)`` would otherwise
        let C code call a class the sandbox may not call itself.
        """
        if not isinstance(fn, type):
            return fn
        substitute = self.substitutes.get(fn)
        if substitute is not None:
            return substitute
        if fn in self.callable_classes or fn in self.ctx.sandbox_types:
            return fn
        name = fn.__name__

        def denied(*args: Any, **kwargs: Any) -> Any:
            raise deny(RULE_CALL, f"calling {name} is not allowed in the sandbox")
        return denied

    def check_bases(self, bases: tuple) -> None:
        for base in bases:
            if base in self.ctx.sandbox_types or base is object:
                continue
            if isinstance(base, type) and issubclass(base, BaseException) and base in self.safe_types:
                continue
            raise deny(RULE_CLASS, f"a class cannot derive from {getattr(base, '__name__', base)!r} "
                                   f"in the sandbox (allowed: object, exceptions, your own classes)")

    def check_namespace(self, namespace: dict[str, Any]) -> None:
        for key in namespace:
            if is_dunder(key) and key not in ALLOWED_USER_DUNDERS and key not in CLASS_NAMESPACE_DUNDERS:
                raise deny(RULE_CLASS, f"a class may not define '{key}' in the sandbox")


def builtin_exception_classes() -> list[type]:
    """Exception classes the sandbox may use (not the ones that stop interpreters)."""
    excluded = {"SystemExit", "KeyboardInterrupt", "GeneratorExit", "BaseExceptionGroup",
                "ExceptionGroup"}
    return [value for name, value in vars(builtins).items()
            if isinstance(value, type) and issubclass(value, BaseException) and name not in excluded]
