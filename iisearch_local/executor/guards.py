"""Size checks that run *before* C-level operations which could allocate without bound.

``build_guards`` returns closures bound to one executor's limits: checked operators (``*``,
``**``, ``<<``, ``+``, ``%``), checked constructors (``list()``, ``bytes()``, ``range()``...),
checked ``str``/``repr``/``format`` (with an estimate of the text a container would print, so
``str([[big] * 1000] * 1000)`` fails before CPython builds it) and checked string methods.
"""

from __future__ import annotations

import datetime as _dt
import functools
import operator
import re
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from .errors import LimitExceeded
from .limits import LIMIT_MEMORY
from .runtime import BigRange, CountingIterator, RunContext

# Ranges longer than this become ``BigRange`` (metered iteration).
RANGE_DIRECT_MAX = 100_000
SIZED_TYPES = frozenset({str, bytes, bytearray, list, tuple, dict, set, frozenset, deque, range,
                         Counter, OrderedDict, defaultdict})
SEQUENCE_TYPES = frozenset({str, bytes, bytearray, list, tuple})
CONTAINER_TYPES = (list, tuple, set, frozenset, dict, deque, type({}.keys()),
                   type({}.values()), type({}.items()))
DATE_TYPES = (_dt.date, _dt.time)
NUMBER_TYPES = frozenset({int, float, bool, complex})
_SPEC_NUMBER = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")
# What a sandbox object's repr is assumed to cost when it has no custom ``__repr__``.
DEFAULT_REPR_SIZE = 200


def build_guards(ctx: RunContext, sandbox_repr: Callable[[Any], str]) -> SimpleNamespace:
    """Checked operations for one executor; ``sandbox_repr`` reprs objects of sandbox classes."""
    limits = ctx.limits
    max_len = limits.max_sequence_length
    max_bits = limits.max_int_bits

    def too_big(what: str, size: int, unit: str = "items") -> None:
        ctx.trip(LimitExceeded(LIMIT_MEMORY, f"memory limit: {what} would create {size:,} {unit} "
                                             f"(limit {max_len:,})"))

    def check_len(size: int, what: str, item_bytes: int = 8) -> None:
        if size > max_len:
            too_big(what, size)
        if size >= 65536:
            ctx.note_allocation(size * item_bytes)

    def check_bits(bits: int, what: str) -> None:
        if bits > max_bits:
            ctx.trip(LimitExceeded(LIMIT_MEMORY, f"memory limit: {what} would create an integer "
                                                 f"of about {bits:,} bits (limit {max_bits:,})"))

    # -- operators --------------------------------------------------------------------------
    def add(a: Any, b: Any) -> Any:
        kind = type(a)
        if kind is int or kind is float:
            return a + b
        if kind in SEQUENCE_TYPES and type(b) is kind:
            check_len(len(a) + len(b), f"{kind.__name__} + {kind.__name__}")
        return a + b

    def iadd(a: Any, b: Any) -> Any:
        kind = type(a)
        if kind is int or kind is float:
            a += b
            return a
        if kind in SEQUENCE_TYPES and type(b) in SIZED_TYPES:
            check_len(len(a) + len(b), f"{kind.__name__} += ...")
        a += b
        return a

    def repeat_count(a: Any, b: Any) -> tuple[Any, int] | None:
        if isinstance(b, int) and type(a) in SEQUENCE_TYPES:
            return a, b
        if isinstance(a, int) and type(b) in SEQUENCE_TYPES:
            return b, a
        return None

    def mul(a: Any, b: Any) -> Any:
        ka, kb = type(a), type(b)
        if ka is int and kb is int:
            if a and b and a.bit_length() + b.bit_length() > max_bits:
                check_bits(a.bit_length() + b.bit_length(), "int * int")
            return a * b
        if ka is float or kb is float:
            return a * b
        pair = repeat_count(a, b)
        if pair is not None and pair[1] > 0:
            check_len(len(pair[0]) * pair[1], f"{type(pair[0]).__name__} * int")
        return a * b

    def imul(a: Any, b: Any) -> Any:
        pair = repeat_count(a, b)
        if pair is not None and pair[1] > 0:
            check_len(len(pair[0]) * pair[1], f"{type(pair[0]).__name__} *= int")
        elif type(a) is int and type(b) is int and a and b:
            check_bits(a.bit_length() + b.bit_length(), "int * int")
        a *= b
        return a

    def power(a: Any, b: Any, modulo: Any = None) -> Any:
        if modulo is None and isinstance(a, int) and isinstance(b, int) and b > 1:
            bits = abs(a).bit_length()
            if bits > 1:
                check_bits((bits - 1) * b, "int ** int")
        if modulo is None:
            return a ** b
        return pow(a, b, modulo)

    def lshift(a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int) and a and b > 0:
            check_bits(abs(a).bit_length() + b, "int << int")
        return a << b

    def mod(a: Any, b: Any) -> Any:
        kind = type(a)
        if kind is str or kind is bytes or kind is bytearray:
            check_percent(a, b)
        return a % b

    def check_percent(fmt: Any, args: Any) -> None:
        text_fmt = fmt if isinstance(fmt, str) else fmt.decode("latin-1")
        if "%(" in text_fmt and type(args) is not dict:
            raise TypeError("%(name) formatting needs a dict in the sandbox")
        values = args if type(args) is tuple else (list(args.values()) if type(args) is dict else [args])
        biggest = 0
        numbers = [v for v in values if type(v) is int]
        for value in values:
            biggest = max(biggest, text_size(value, max_len))
        text = fmt.decode("latin-1") if not isinstance(fmt, str) else fmt
        total = len(text)
        for match in _PERCENT_SPEC.finditer(text):
            for part in match.group(1, 2):
                if part == "*":
                    total += max(numbers, default=0)
                elif part:
                    total += _bounded_int(part, max_len)
            total += biggest
            if total > max_len:
                too_big("%-formatting", total, "characters")

    # -- text -------------------------------------------------------------------------------
    def text_size(root: Any, budget: int) -> int:
        """Upper estimate of len(repr(root)); stops counting once past ``budget``."""
        size = _leaf_size(root)
        if size is not None:
            return size
        memo: dict[int, int] = {}
        on_path = {id(root)}
        stack = [[root, _children(root), 8]]
        while stack:
            top = stack[-1]
            for child in top[1]:
                size = _leaf_size(child)
                if size is None:
                    key = id(child)
                    if key in memo:
                        size = memo[key]
                    elif key in on_path:
                        size = 5
                    else:
                        on_path.add(key)
                        stack.append([child, _children(child), 8])
                        break
                top[2] += size + 2
                if top[2] > budget:
                    return top[2]
            else:
                stack.pop()
                on_path.discard(id(top[0]))
                memo[id(top[0])] = top[2]
                if not stack:
                    return top[2]
                stack[-1][2] += top[2] + 2
                if stack[-1][2] > budget:
                    return stack[-1][2]
        return 0  # pragma: no cover - the loop always returns

    def _leaf_size(obj: Any) -> int | None:
        kind = type(obj)
        if kind is str:
            return len(obj) + 2 if obj.isprintable() else 10 * len(obj) + 2
        if kind is int:
            return obj.bit_length() * 31 // 100 + 2
        if kind in NUMBER_TYPES or obj is None:
            return 50
        if kind is bytes or kind is bytearray:
            return 4 * len(obj) + 14
        if isinstance(obj, CONTAINER_TYPES) or isinstance(obj, (functools.partial, BaseException)):
            return None
        if kind in ctx.sandbox_types:
            return len(sandbox_repr(obj))
        return DEFAULT_REPR_SIZE

    def _children(obj: Any) -> Any:
        if isinstance(obj, dict):
            return (x for pair in obj.items() for x in pair)
        if isinstance(obj, functools.partial):
            return iter((obj.func, *obj.args, *obj.keywords.values()))
        if isinstance(obj, BaseException):
            return iter(obj.args)
        return iter(obj)

    def sized_text(make: Callable[[Any], str], value: Any, factor: int = 1) -> str:
        owner = ctx.repr_memo is None
        if owner:
            ctx.repr_memo = {}
        try:
            size = text_size(value, max_len) * factor
            if size > max_len:
                too_big(f"{make.__name__}() of this object", size, "characters")
            ctx.note_allocation(size)
            return make(value)
        finally:
            if owner:
                ctx.repr_memo = None

    def checked_str(*args: Any, **kwargs: Any) -> str:
        if len(args) != 1 or kwargs:
            return str(*args, **kwargs)
        value = args[0]
        kind = type(value)
        if kind is str:
            return value
        if kind in NUMBER_TYPES or value is None or kind in ctx.sandbox_types:
            return str(value)
        return sized_text(str, value)

    def checked_repr(value: Any) -> str:
        if type(value) in ctx.sandbox_types:
            return repr(value)
        return sized_text(repr, value)

    def checked_ascii(value: Any) -> str:
        return sized_text(ascii, value, 6)

    def check_spec(spec: str, value: Any) -> None:
        for number in _SPEC_NUMBER.findall(spec):
            width = _bounded_int(number, max_len)
            if width > max_len:
                too_big("a format width/precision", width, "characters")
        if isinstance(value, DATE_TYPES) and len(spec) * 16 > max_len:
            too_big("a date format", len(spec) * 16, "characters")

    def checked_format(value: Any, spec: str = "") -> str:
        if type(spec) is not str:
            raise TypeError("format() argument 2 must be str")
        if not spec:
            return checked_str(value)
        check_spec(spec, value)
        return format(value, spec)

    # -- constructors -----------------------------------------------------------------------
    def sized_constructor(kind: type) -> Callable[..., Any]:
        def construct(*args: Any, **kwargs: Any) -> Any:
            if args and type(args[0]) in SIZED_TYPES:
                check_len(len(args[0]), f"{kind.__name__}()")
            return kind(*args, **kwargs)
        construct.__name__ = kind.__name__
        return construct

    def bytes_constructor(kind: type) -> Callable[..., Any]:
        def construct(*args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], int):
                check_len(args[0], f"{kind.__name__}(n)", 1)
            elif args and type(args[0]) in SIZED_TYPES:
                check_len(len(args[0]), f"{kind.__name__}()", 1)
            return kind(*args, **kwargs)
        construct.__name__ = kind.__name__
        return construct

    def safe_range(*args: Any) -> Any:
        value = range(*args)
        try:
            small = len(value) <= RANGE_DIRECT_MAX
        except OverflowError:
            small = False
        return value if small else BigRange(value, ctx)

    substitutes: dict[type, Callable[..., Any]] = {
        str: checked_str, list: sized_constructor(list), tuple: sized_constructor(tuple),
        set: sized_constructor(set), frozenset: sized_constructor(frozenset),
        bytes: bytes_constructor(bytes), bytearray: bytes_constructor(bytearray),
        range: safe_range, deque: sized_constructor(deque),
    }

    callback_check: list[Callable[[Any], Any]] = []

    def substitute(fn: Any) -> Any:
        """Checked stand-in for a class passed as a callback (``map(bytes, ...)``)."""
        if isinstance(fn, type):
            if callback_check:
                return callback_check[0](fn)
            return substitutes.get(fn, fn)
        return fn

    def count_items(iterable: Any) -> Any:
        return CountingIterator(iterable, ctx)

    def setitem(container: Any, key: Any, value: Any) -> None:
        if type(key) is slice and hasattr(value, "__len__"):
            check_len(len(container) + len(value), "slice assignment")
        container[key] = value

    return SimpleNamespace(setitem=setitem, 
        add=add, iadd=iadd, mul=mul, imul=imul, power=power, lshift=lshift, mod=mod,
        sub=operator.sub, check_len=check_len, check_bits=check_bits, text_size=text_size,
        checked_str=checked_str, checked_repr=checked_repr, checked_ascii=checked_ascii,
        checked_format=checked_format, check_spec=check_spec, safe_range=safe_range,
        substitutes=substitutes, substitute=substitute, count_items=count_items,
        callback_check=callback_check,
        too_big=too_big, max_len=max_len,
    )


def _bounded_int(digits: str, cap: int) -> int:
    """``int(digits)`` without converting absurdly long digit strings."""
    return cap + 1 if len(digits) > 18 else int(digits)
