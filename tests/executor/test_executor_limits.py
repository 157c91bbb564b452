"""Every limit triggers with its named error, cannot be caught, and leaves the executor usable."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from sandbox_testkit import ToolLog, make_executor

from iisearch_local.executor import (
    LIMIT_CANCELLED, LIMIT_CODE_SIZE, LIMIT_MEMORY, LIMIT_OPERATIONS, LIMIT_OUTPUT,
    LIMIT_RECURSION, LIMIT_REGEX_TIME, LIMIT_TOOL_CALLS_BLOCK, LIMIT_TOOL_CALLS_SESSION,
    LIMIT_WALL_TIME, ExecutorLimits, RestrictedExecutor,
)

# Ways the code might try to swallow a limit error ({body} is indented to its place).
CATCHERS = {
    "plain": "{body}",
    "bare_except": "try:\n    {body}\nexcept:\n    print('caught')",
    "base_exception": "try:\n    {body}\nexcept BaseException as e:\n    print('caught', e)",
    "loop_retry": "for _ in range(3):\n    try:\n        {body}\n    except Exception:\n        print('caught')",
    "finally_print": "try:\n    {body}\nfinally:\n    print('finally ran')",
}


def wrap(catcher: str, body: str) -> str:
    """Put ``body`` inside the handler shape ``catcher``, indented to fit."""
    template = CATCHERS[catcher]
    line = next(line for line in template.splitlines() if "{body}" in line)
    indent = line[: len(line) - len(line.lstrip())]
    return template.replace("{body}", body.replace("\n", "\n" + indent))


def run_limited(code: str, **limits: object) -> tuple[object, RestrictedExecutor]:
    ex = make_executor(ToolLog(), **limits)
    return ex.run(code), ex


def assert_limit(result: object, limit: str) -> None:
    assert result.error_kind == "limit", result.error
    assert result.limit == limit
    assert f"LimitExceeded [{limit}]" in result.error
    assert "caught" not in result.output and "finally ran" not in result.output


def assert_still_works(ex: RestrictedExecutor) -> None:
    assert ex.run("print(sum(range(10)))").output == "45\n"
    ex.close()


@pytest.mark.parametrize("catcher", list(CATCHERS))
def test_wall_time_cannot_be_caught(catcher: str) -> None:
    """An endless loop, wrapped in every kind of handler, still stops at the deadline."""
    code = wrap(catcher, "while True:\n    pass")
    started = time.monotonic()
    result, ex = run_limited(code, wall_time_seconds=0.3)
    assert time.monotonic() - started < 2.0
    assert_limit(result, LIMIT_WALL_TIME)
    assert_still_works(ex)


@pytest.mark.parametrize("catcher", list(CATCHERS))
def test_operation_limit_cannot_be_caught(catcher: str) -> None:
    result, ex = run_limited(wrap(catcher, "for i in range(10**7):\n    pass"), max_operations=10_000)
    assert_limit(result, LIMIT_OPERATIONS)
    assert_still_works(ex)


MEMORY_BOMBS = {
    # Sequence repetition.
    "str_repeat": "x = 'a' * 10**9",
    "list_repeat": "x = [0] * 10**9",
    # Repeated doubling in a loop.
    "doubling": "x = 'ab'\nwhile True:\n    x = x + x",
    # Huge integers.
    "pow": "x = 2 ** 10**9",
    "pow_builtin": "x = pow(10, 10**8)",
    "shift": "x = 1 << 10**10",
    "int_mul_loop": "x = 3\nwhile True:\n    x = x * x",
    "factorial": "import math\nx = math.factorial(10**7)",
    # Format widths and padding.
    "fstring_width": "x = f'{1:>999999999}'",
    "format_width": "x = '{:>999999999}'.format(1)",
    "format_builtin": "x = format(1, '>999999999')",
    "percent_width": "x = '%999999999d' % 1",
    "ljust": "x = 'a'.ljust(10**9)",
    "center_unbound": "x = str.center('a', 10**9)",
    "zfill": "x = '1'.zfill(10**9)",
    # join / replace / expandtabs amplification.
    "join": "x = ''.join(['a' * 10**6] * 1000)",
    "replace": "x = ('a' * 10**5).replace('a', 'b' * 1000)",
    "expandtabs": "x = ('\\t' * 10**6).expandtabs(1000)",
    # bytes and ranges.
    "bytes_n": "x = bytes(10**10)",
    "bytearray_n": "x = bytearray(10**10)",
    "to_bytes": "x = (1).to_bytes(10**10, 'big')",
    # repr of a structure that shares one big string many times.
    "repr_dag": "a = ['x' * 10**5] * 100\nb = [a] * 100\nx = str(b)",
    "print_dag": "a = ['x' * 10**5] * 100\nprint([a] * 100)",
    "json_dag": "import json\na = ['x' * 10**5] * 100\nx = json.dumps([a] * 100)",
    "fstring_dag": "a = ['x' * 10**5] * 100\nx = f'{[a] * 100}'",
    # Callbacks that are amplifying classes, called from C.
    "map_bytes": "x = list(map(bytes, [10**10]))",
    "sort_key_bytes": "x = [10**10]\nx.sort(key=bytes)",
    # re.sub with a growing replacement.
    "re_sub": "import re\nx = re.sub('', 'y' * 1000, 'a' * 10**5)",
    # Unpacking into a display.
    "star_doubling": "x = [1]\nwhile True:\n    x = [*x, *x]",
    # Slice assignment that doubles a list in place.
    "slice_doubling": "x = [1]\nwhile True:\n    x[:0] = x",
    # operator.setitem doing the same from C.
    "setitem_doubling": "import operator\nx = [1]\nwhile True:\n    operator.setitem(x, slice(0, 0), x)",
    # statistics.quantiles asked for a billion cut points.
    "quantiles": "import statistics\nx = statistics.quantiles([1, 2, 3], n=10**9)",
    # Growth of the whole process (many medium objects).
    "many_objects": "keep = []\nfor i in range(10**5):\n    keep.append(str(i % 10) * 10**6)",
}


@pytest.mark.parametrize("bomb", list(MEMORY_BOMBS))
def test_memory_bombs_fail_before_allocating(bomb: str) -> None:
    """Each checked operation fails with the memory limit instead of exhausting the host."""
    code = wrap("base_exception", MEMORY_BOMBS[bomb])
    result, ex = run_limited(code, max_memory_bytes=200 * 2**20, wall_time_seconds=20.0)
    assert_limit(result, LIMIT_MEMORY)
    assert_still_works(ex)


def test_metered_iterators_bound_c_level_consumers() -> None:
    """Infinite iterators drained by C code (list(), sum()) stop at the operation limit."""
    for code in ("import itertools\nx = list(itertools.repeat(1, 10**12))",
                 "import itertools\nx = sum(itertools.count())",
                 "x = sum(range(10**15))", "x = list(iter(int, 1))",
                 "x = max(range(10**12))"):
        result, ex = run_limited(code, max_operations=100_000)
        assert_limit(result, LIMIT_OPERATIONS)
        assert_still_works(ex)


@pytest.mark.parametrize("catcher", ["plain", "bare_except", "base_exception"])
def test_recursion_limit(catcher: str) -> None:
    code = "def f(n):\n    return f(n + 1)\n" + wrap(catcher, "f(0)")
    host_limit = sys.getrecursionlimit()
    result, ex = run_limited(code, max_recursion_depth=50)
    assert_limit(result, LIMIT_RECURSION)
    assert sys.getrecursionlimit() == host_limit
    assert_still_works(ex)


def test_recursion_within_limit_works() -> None:
    result, ex = run_limited("def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
                             "print(depth(90))")
    assert result.output == "90\n", result.error
    assert_still_works(ex)


def test_output_limit_is_enforced_while_printing() -> None:
    """Printing stops at the cap; what was printed up to it is kept."""
    code = "try:\n    while True:\n        print('x' * 99)\nexcept BaseException:\n    print('caught')"
    result, ex = run_limited(code, max_output_chars=1000)
    assert_limit(result, LIMIT_OUTPUT)
    assert len(result.output) == 1000
    assert_still_works(ex)


def test_tool_calls_per_block() -> None:
    tools = ToolLog()
    ex = make_executor(tools, max_tool_calls_per_block=5)
    code = "for i in range(30):\n    try:\n        web_search('q' + str(i))\n    except BaseException:\n        print('caught')"
    result = ex.run(code)
    assert_limit(result, LIMIT_TOOL_CALLS_BLOCK)
    assert len(tools.calls) == 5 and result.tool_calls == 5
    assert_still_works(ex)


def test_tool_calls_per_session() -> None:
    tools = ToolLog()
    ex = make_executor(tools, max_tool_calls_per_session=3)
    first = ex.run("web_search('a')\nweb_visit('b')")
    assert first.error is None and first.tool_calls == 2
    second = ex.run("web_search('c')\nweb_search('d')")
    assert_limit(second, LIMIT_TOOL_CALLS_SESSION)
    assert len(tools.calls) == 3
    assert_still_works(ex)


def test_code_size_limit() -> None:
    result, ex = run_limited("x = 1\n" * 1000, max_code_chars=100)
    assert_limit(result, LIMIT_CODE_SIZE)
    assert_still_works(ex)


def test_catastrophic_regex_stops() -> None:
    """Exponential backtracking is cut off by the regex timeout, not left to hang."""
    code = "import re\ntry:\n    re.search(r'(a|aa)+$', 'a' * 60 + 'b')\nexcept BaseException:\n    print('caught')"
    started = time.monotonic()
    result, ex = run_limited(code, regex_timeout_seconds=0.3)
    assert time.monotonic() - started < 3.0
    assert_limit(result, LIMIT_REGEX_TIME)
    assert_still_works(ex)


def test_sleep_is_capped_by_the_deadline() -> None:
    started = time.monotonic()
    result, ex = run_limited("import time\ntime.sleep(1000)", wall_time_seconds=0.3)
    assert time.monotonic() - started < 2.0
    assert_limit(result, LIMIT_WALL_TIME)
    assert_still_works(ex)


@pytest.mark.parametrize("code", [
    "while True:\n    pass",
    "import time\nwhile True:\n    time.sleep(5)",
    "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
])
def test_cancel_from_another_thread(code: str) -> None:
    """cancel() stops a running block within a second with a clear error.

    The operation limit is lifted: a tight loop reaches the default one in about 0.5 s here, so
    on a loaded machine it could end the block before the cancel (0.2 s in) was even sent.
    """
    ex = make_executor(ToolLog(), wall_time_seconds=60.0, max_operations=10**12)
    ex.run("pass")
    cancelled_at: list[float] = []

    def cancel_soon() -> None:
        time.sleep(0.2)
        cancelled_at.append(time.monotonic())
        ex.cancel()

    threading.Thread(target=cancel_soon).start()
    result = ex.run(code)
    assert time.monotonic() - cancelled_at[0] < 1.0
    assert_limit(result, LIMIT_CANCELLED)
    assert result.error == "LimitExceeded [cancelled]: the block was cancelled" + (
        f" (line {result.line})" if result.line else "")
    assert_still_works(ex)


def test_stuck_python_library_call_is_interrupted() -> None:
    """A long pure-Python library call ignores the deadline; the supervisor interrupts it."""
    code = ("import difflib\nm = difflib.SequenceMatcher(None, 'abcde' * 800, 'edcba' * 800, "
            "autojunk=False)\nprint(m.ratio())")
    started = time.monotonic()
    result, ex = run_limited(code, wall_time_seconds=0.3)
    assert time.monotonic() - started < 2.5
    assert_limit(result, LIMIT_WALL_TIME)
    assert_still_works(ex)


def _blocking_executor(release: threading.Event) -> RestrictedExecutor:
    def slow_search(query: str) -> str:
        release.wait(10.0)  # a host tool stuck in I/O (it releases the GIL, like a socket read)
        return "late result"
    return RestrictedExecutor(functions={"web_search": slow_search},
                              limits=ExecutorLimits(wall_time_seconds=30.0))


def _cancel_after(ex: RestrictedExecutor, delay: float) -> None:
    def cancel() -> None:
        time.sleep(delay)
        ex.cancel()
    threading.Thread(target=cancel).start()


def test_cancel_during_a_stuck_tool_call_returns_promptly_and_keeps_state() -> None:
    """A tool call cannot be interrupted, but run() returns; the tool's late return is absorbed."""
    release = threading.Event()
    ex = _blocking_executor(release)
    ex.run("kept = 1")
    _cancel_after(ex, 0.2)
    started = time.monotonic()
    result = ex.run("print(web_search('q'))")
    assert time.monotonic() - started < 1.5
    assert_limit(result, LIMIT_CANCELLED)
    release.set()  # the tool returns before the next block needs the worker
    after = ex.run("print(kept)")
    assert after.output == "1\n" and not after.session_reset
    ex.close()


def test_block_that_never_returns_is_abandoned_with_a_fresh_session() -> None:
    """If an abandoned block is still stuck when the next one comes, the session starts over."""
    release = threading.Event()
    ex = _blocking_executor(release)
    ex.run("kept = 1")
    _cancel_after(ex, 0.2)
    result = ex.run("web_search('q')")
    assert_limit(result, LIMIT_CANCELLED)
    after = ex.run("print('alive')")
    release.set()
    assert after.output == "alive\n" and after.session_reset
    assert ex.run("print(kept)").error.startswith("NameError")
    ex.close()


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        ExecutorLimits(max_operations=0)
    with pytest.raises(ValueError):
        ExecutorLimits.from_mapping({"no_such_limit": 1})
