"""The curated standard modules the sandbox can import, as allowlisted ``ModuleProxy`` objects.

Every module lists its members by hand: a new public name in a future Python, or a module that
re-exports ``os``/``sys`` (``random._os``, ``json.decoder``...), gives the sandbox nothing.
Members that could allocate without bound, call back with a class (``map(bytes, ...)``), or
touch host state (``random.seed``, ``time.sleep``) are replaced by checked versions.
"""

from __future__ import annotations

import base64
import bisect
import collections
import copy
import datetime
import difflib
import functools
import heapq
import html
import itertools
import json
import math
import operator
import random
import statistics
import string
import textwrap
import time
import typing
import unicodedata
import urllib.parse
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from .regexes import build_re
from .proxies import ModuleProxy
from .runtime import CountingIterator, RunContext

MAX_TEE = 1000
MAX_NAMEDTUPLE_FIELDS = 1000
MAX_JSON_INDENT = 1000
MAX_SEPARATOR = 100
MAX_TEXTWRAP_INDENT = 1000


def _pick(module: Any, names: str) -> dict[str, Any]:
    return {name: getattr(module, name) for name in names.split() if hasattr(module, name)}


def _with_callbacks(fn: Callable[..., Any], substitute: Callable[[Any], Any],
                    positions: tuple[int, ...] = (), keywords: tuple[str, ...] = ("key",)
                    ) -> Callable[..., Any]:
    """``fn`` with class callbacks (``key=str``) swapped for their checked versions."""
    def call(*args: Any, **kwargs: Any) -> Any:
        if positions:
            args = tuple(substitute(a) if i in positions else a for i, a in enumerate(args))
        for name in keywords:
            if name in kwargs:
                kwargs[name] = substitute(kwargs[name])
        return fn(*args, **kwargs)
    call.__name__ = getattr(fn, "__name__", "function")
    return call


def build_modules(ctx: RunContext, guards: SimpleNamespace, policy_getattr: Callable[[Any, str], Any]
                  ) -> tuple[dict[str, ModuleProxy], dict[str, dict[type, Callable[..., Any]]]]:
    """All importable modules of one executor, and extra checked methods for their types."""
    limits = ctx.limits
    sub = guards.substitute
    counted = guards.count_items
    modules: dict[str, dict[str, Any]] = {}
    re_members, special = build_re(ctx, guards)
    modules["re"] = re_members

    # -- math ---------------------------------------------------------------------------------
    math_members = _pick(math, (
        "acos acosh asin asinh atan atan2 atanh cbrt ceil copysign cos cosh degrees dist e erf "
        "erfc exp exp2 expm1 fabs floor fmod frexp fsum gamma gcd hypot inf isclose isfinite "
        "isinf isnan isqrt ldexp lgamma log log10 log1p log2 modf nan nextafter pi pow radians "
        "remainder sin sinh sqrt tan tanh tau trunc ulp"))

    def factorial(n: Any) -> int:
        if isinstance(n, int) and n > 2:
            guards.check_bits(n * (n.bit_length() - 1), "math.factorial")
        return math.factorial(n)

    def comb(n: Any, k: Any) -> int:
        if isinstance(n, int) and isinstance(k, int) and 0 < k < n:
            guards.check_bits(min(k, n - k) * n.bit_length(), "math.comb")
        return math.comb(n, k)

    def perm(n: Any, k: Any = None) -> int:
        if isinstance(n, int) and n > 0:
            count = n if k is None else k
            if isinstance(count, int) and count > 0:
                guards.check_bits(min(count, n) * n.bit_length(), "math.perm")
        return math.perm(n, k)

    def big_int_reduction(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            values = list(args[0]) if name == "prod" and args else list(args)
            bits = sum(v.bit_length() for v in values if isinstance(v, int))
            guards.check_bits(bits, f"math.{name}")
            return fn(values, **kwargs) if name == "prod" else fn(*values)
        call.__name__ = name
        return call

    math_members.update(factorial=factorial, comb=comb, perm=perm,
                        prod=big_int_reduction(math.prod, "prod"),
                        lcm=big_int_reduction(math.lcm, "lcm"))
    modules["math"] = math_members

    # -- json ---------------------------------------------------------------------------------
    def loads(s: Any, *, object_hook: Any = None, object_pairs_hook: Any = None,
              parse_float: Any = None, parse_int: Any = None, parse_constant: Any = None) -> Any:
        return json.loads(s, object_hook=sub(object_hook), object_pairs_hook=sub(object_pairs_hook),
                          parse_float=sub(parse_float), parse_int=sub(parse_int),
                          parse_constant=sub(parse_constant))

    def dumps(obj: Any, *, skipkeys: bool = False, ensure_ascii: bool = True,
              allow_nan: bool = True, indent: Any = None, separators: Any = None,
              default: Any = None, sort_keys: bool = False) -> str:
        if isinstance(indent, int) and indent > MAX_JSON_INDENT or (
                isinstance(indent, str) and len(indent) > MAX_JSON_INDENT):
            raise ValueError(f"json.dumps: indent larger than {MAX_JSON_INDENT} is not allowed")
        if separators is not None and any(len(s) > MAX_SEPARATOR for s in separators):
            raise ValueError(f"json.dumps: separators longer than {MAX_SEPARATOR} are not allowed")
        estimate = guards.text_size(obj, guards.max_len)
        if estimate * (6 if ensure_ascii else 1) > guards.max_len and estimate > guards.max_len // 6:
            guards.too_big("json.dumps", estimate, "characters")
        encoder = json.JSONEncoder(skipkeys=skipkeys, ensure_ascii=ensure_ascii,
                                   allow_nan=allow_nan, indent=indent, separators=separators,
                                   default=sub(default), sort_keys=sort_keys)
        if indent is None:
            return encoder.encode(obj)
        pieces, total = [], 0
        for chunk in encoder.iterencode(obj):
            total += len(chunk)
            if total > guards.max_len:
                guards.too_big("json.dumps", total, "characters")
            pieces.append(chunk)
        return "".join(pieces)

    modules["json"] = {"loads": loads, "dumps": dumps, "JSONDecodeError": json.JSONDecodeError}

    # -- time ---------------------------------------------------------------------------------
    def sleep(seconds: Any) -> None:
        if not isinstance(seconds, (int, float)):
            raise TypeError("time.sleep() argument must be a number")
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        seconds = min(float(seconds), limits.max_sleep_seconds)
        remaining = ctx.deadline - time.monotonic()
        ctx.wakeup.wait(max(0.0, min(seconds, remaining + 0.001)))
        ctx.checkpoint()

    def strftime(fmt: Any, *args: Any) -> str:
        if isinstance(fmt, str):
            guards.check_spec(fmt, datetime.date.min)
        return time.strftime(fmt, *args)

    time_members = _pick(time, "time time_ns monotonic monotonic_ns perf_counter perf_counter_ns "
                               "gmtime localtime mktime asctime ctime strptime struct_time "
                               "timezone altzone daylight tzname")
    time_members.update(sleep=sleep, strftime=strftime)
    modules["time"] = time_members

    # -- random (a private generator: seeding it never touches the host's) -------------------
    rng = random.Random()

    def choices(population: Any, weights: Any = None, *, cum_weights: Any = None, k: int = 1) -> list:
        guards.check_len(k, "random.choices")
        return rng.choices(population, weights, cum_weights=cum_weights, k=k)

    def sample(population: Any, k: int, *, counts: Any = None) -> list:
        guards.check_len(k, "random.sample")
        return rng.sample(population, k, counts=counts)

    def getrandbits(k: int) -> int:
        guards.check_bits(k, "random.getrandbits")
        return rng.getrandbits(k)

    random_members = {name: getattr(rng, name) for name in (
        "random uniform randint randrange choice shuffle gauss normalvariate lognormvariate "
        "expovariate vonmisesvariate gammavariate betavariate paretovariate weibullvariate "
        "triangular seed").split()}
    random_members.update(choices=choices, sample=sample, getrandbits=getrandbits)
    modules["random"] = random_members

    # -- collections / itertools / functools / operator ---------------------------------------
    def namedtuple(typename: Any, field_names: Any, *, rename: bool = False, defaults: Any = None) -> type:
        names = field_names.replace(",", " ").split() if isinstance(field_names, str) else list(field_names)
        if len(names) > MAX_NAMEDTUPLE_FIELDS:
            raise ValueError(f"namedtuple: more than {MAX_NAMEDTUPLE_FIELDS} fields")
        cls = collections.namedtuple(typename, names, rename=rename, defaults=defaults,
                                     module="__main__")
        ctx.sandbox_types.add(cls)
        ctx.fast_attr_types.add(cls)
        return cls

    modules["collections"] = {"Counter": collections.Counter, "defaultdict": collections.defaultdict,
                              "OrderedDict": collections.OrderedDict, "deque": collections.deque,
                              "namedtuple": namedtuple}

    def counted_source(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> CountingIterator:
            return counted(fn(*args, **kwargs))
        call.__name__ = fn.__name__
        return call

    def product(*iterables: Any, repeat: int = 1) -> CountingIterator:
        guards.check_len(len(iterables) * max(repeat, 0), "itertools.product")
        return counted(itertools.product(*iterables, repeat=repeat))

    def combinations_with_replacement(iterable: Any, r: int) -> CountingIterator:
        guards.check_len(r, "itertools.combinations_with_replacement")
        return counted(itertools.combinations_with_replacement(iterable, r))

    def permutations(iterable: Any, r: Any = None) -> CountingIterator:
        if isinstance(r, int):
            guards.check_len(r, "itertools.permutations")
        return counted(itertools.permutations(iterable, r))

    def tee(iterable: Any, n: int = 2) -> tuple:
        if n > MAX_TEE:
            raise ValueError(f"itertools.tee: n larger than {MAX_TEE} is not allowed")
        return itertools.tee(iterable, n)

    itertools_members = _pick(itertools, "chain islice zip_longest compress takewhile dropwhile "
                                         "filterfalse pairwise")
    itertools_members.update(
        count=counted_source(itertools.count), cycle=counted_source(itertools.cycle),
        repeat=counted_source(itertools.repeat), combinations=counted_source(itertools.combinations),
        product=product, permutations=permutations, tee=tee,
        combinations_with_replacement=combinations_with_replacement,
        starmap=_with_callbacks(itertools.starmap, sub, (0,), ()),
        groupby=_with_callbacks(itertools.groupby, sub, (1,)),
        accumulate=_with_callbacks(itertools.accumulate, sub, (1,), ("func",)),
        takewhile=_with_callbacks(itertools.takewhile, sub, (0,), ()),
        dropwhile=_with_callbacks(itertools.dropwhile, sub, (0,), ()),
        filterfalse=_with_callbacks(itertools.filterfalse, sub, (0,), ()))
    modules["itertools"] = itertools_members

    def lru_cache(maxsize: Any = 128, typed: bool = False) -> Any:
        if callable(maxsize) and not isinstance(maxsize, int):
            return functools.lru_cache(sub(maxsize))
        decorator = functools.lru_cache(maxsize, typed)
        return lambda function: decorator(sub(function))

    modules["functools"] = {
        "reduce": _with_callbacks(functools.reduce, sub, (0,), ()),
        "partial": _with_callbacks(functools.partial, sub, (0,), ()),
        "lru_cache": lru_cache, "cache": lambda function: functools.cache(sub(function)),
        "cmp_to_key": _with_callbacks(functools.cmp_to_key, sub, (0,), ()),
    }

    def attrgetter(*names: str) -> Callable[[Any], Any]:
        def get_path(obj: Any, path: str) -> Any:
            for part in path.split("."):
                obj = policy_getattr(obj, part)
            return obj

        def getter(obj: Any) -> Any:
            values = tuple(get_path(obj, n) for n in names)
            return values[0] if len(values) == 1 else values
        return getter

    def methodcaller(name: str, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        def caller(obj: Any) -> Any:
            return policy_getattr(obj, name)(*args, **kwargs)
        return caller

    operator_members = _pick(operator, (
        "truediv floordiv neg pos abs not_ truth eq ne lt le gt ge and_ or_ xor invert rshift "
        "contains countOf indexOf getitem delitem index is_ is_not itemgetter"))
    operator_members.update(add=guards.add, concat=guards.add, iadd=guards.iadd, sub=operator.sub,
                            mul=guards.mul, imul=guards.imul, mod=guards.mod, pow=guards.power,
                            lshift=guards.lshift, attrgetter=attrgetter, methodcaller=methodcaller,
                            setitem=guards.setitem)
    modules["operator"] = operator_members

    # -- text ---------------------------------------------------------------------------------
    modules["string"] = _pick(string, "ascii_letters ascii_lowercase ascii_uppercase digits "
                                      "hexdigits octdigits punctuation printable whitespace capwords")

    def indent(text: str, prefix: str, predicate: Any = None) -> str:
        guards.check_len(len(text) + len(prefix) * (text.count("\n") + 1), "textwrap.indent", 1)
        return textwrap.indent(text, prefix, sub(predicate))

    def wrapping(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(text: str, width: int = 70, **options: Any) -> Any:
            extra = sum(len(options.get(k, "")) for k in ("initial_indent", "subsequent_indent"))
            if extra > MAX_TEXTWRAP_INDENT:
                raise ValueError(f"textwrap: indents longer than {MAX_TEXTWRAP_INDENT} are not allowed")
            guards.check_len(len(text) + extra * (len(text) + 1), f"textwrap.{fn.__name__}", 1)
            return fn(text, width, **options)
        call.__name__ = fn.__name__
        return call

    modules["textwrap"] = {"wrap": wrapping(textwrap.wrap), "fill": wrapping(textwrap.fill),
                           "shorten": textwrap.shorten, "dedent": textwrap.dedent, "indent": indent}
    modules["html"] = {"escape": html.escape, "unescape": html.unescape}
    modules["unicodedata"] = _pick(unicodedata, (
        "normalize is_normalized name lookup category bidirectional combining east_asian_width "
        "mirrored decomposition decimal digit numeric unidata_version"))
    modules["difflib"] = _pick(difflib, "SequenceMatcher Differ get_close_matches ndiff "
                                        "unified_diff context_diff IS_LINE_JUNK IS_CHARACTER_JUNK")
    modules["base64"] = _pick(base64, "b64encode b64decode urlsafe_b64encode urlsafe_b64decode "
                                      "b32encode b32decode b16encode b16decode")
    modules["urllib.parse"] = _pick(urllib.parse, (
        "urlparse urlunparse urlsplit urlunsplit urljoin urldefrag urlencode quote quote_plus "
        "unquote unquote_plus parse_qs parse_qsl"))
    modules["urllib"] = {}

    # -- data ---------------------------------------------------------------------------------
    modules["datetime"] = _pick(datetime, "date datetime time timedelta timezone MINYEAR MAXYEAR UTC")
    modules["statistics"] = _pick(statistics, (
        "mean fmean geometric_mean harmonic_mean median median_low median_high median_grouped "
        "mode multimode quantiles pstdev pvariance stdev variance StatisticsError"))
    def quantiles(data: Any, *, n: int = 4, method: str = "exclusive") -> list:
        guards.check_len(n, "statistics.quantiles")
        return statistics.quantiles(data, n=n, method=method)

    modules["statistics"]["quantiles"] = quantiles
    modules["heapq"] = _pick(heapq, "heappush heappop heapify heapreplace heappushpop")
    for name in ("nlargest", "nsmallest", "merge"):
        modules["heapq"][name] = _with_callbacks(getattr(heapq, name), sub)
    modules["bisect"] = {name: _with_callbacks(getattr(bisect, name), sub) for name in (
        "bisect", "bisect_left", "bisect_right", "insort", "insort_left", "insort_right")}
    modules["copy"] = {"copy": copy.copy, "deepcopy": copy.deepcopy}
    modules["typing"] = _pick(typing, (
        "Any Callable Dict FrozenSet Iterable Iterator List Literal Mapping Optional Sequence Set "
        "Tuple Union cast"))

    proxies = {name: ModuleProxy(name, members) for name, members in modules.items()}
    proxies["urllib"]._members["parse"] = proxies["urllib.parse"]
    return proxies, special


def module_classes(proxies: dict[str, ModuleProxy]) -> set[type]:
    """Every class that some allowed module exposes (callable and attribute-readable)."""
    found: set[type] = set()
    for proxy in proxies.values():
        for value in proxy._members.values():
            if isinstance(value, type):
                found.add(value)
    return found


# Types the sandbox obtains as results of allowed calls (it never gets these classes by name).
RESULT_TYPES: tuple[type, ...] = (
    time.struct_time, urllib.parse.ParseResult, urllib.parse.SplitResult,
    urllib.parse.DefragResult, urllib.parse.ParseResultBytes, urllib.parse.SplitResultBytes,
    urllib.parse.DefragResultBytes, difflib.Match, functools.partial,
    type(functools.lru_cache(None)(len)), json.JSONDecodeError, statistics.StatisticsError,
)
