"""Property: random research-style snippets print exactly what CPython ``exec`` prints.

Snippets are built from statement templates over random data (ints, words), so loops,
comprehensions, slicing, f-string formats, sorting keys, dict/Counter work, json, regex,
functions with defaults and exceptions all meet random values. When CPython raises, the
executor must report the same exception type after the same output.
"""

from __future__ import annotations

import contextlib
import io
import string

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iisearch_local.executor import RestrictedExecutor

small_ints = st.integers(min_value=-50, max_value=50)
words = st.lists(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6), max_size=6)
data_lists = st.lists(small_ints, max_size=10)
non_zero = st.integers(min_value=1, max_value=7)
PATTERNS = [r"[aeiou]+", r"\b\w{2}\b", r"(\w)(\w)", r"^a", r"x|y|z"]

STATEMENTS = st.one_of(
    st.builds(lambda m: f"print(sorted(data, key=lambda x: ({m} - x % {m}, x)))", non_zero),
    st.builds(lambda k, m, r: f"print([x * {k} for x in data if x % {m} == {r % m}])",
              small_ints, non_zero, non_zero),
    st.just("print({w: len(w) for w in words}, sorted(set(words)))"),
    st.builds(lambda w1, w2: f"print(f'{{sum(data):>{w1}}}|{{len(words):0{w2}d}}|{{max(data, default=0):+}}')",
              st.integers(0, 12), st.integers(1, 6)),
    st.builds(lambda a, b, c: f"print(data[{a}:{b}:{c}], words[{a}:{b}])",
              st.integers(-6, 6), st.integers(-6, 6), st.sampled_from([1, 2, -1, 3, -2])),
    st.just("print(' '.join(w.upper() if i % 2 else w for i, w in enumerate(words)))"),
    st.just("import json\nprint(json.dumps({'d': data, 'w': words}, sort_keys=True) == "
            "json.dumps(json.loads(json.dumps({'d': data, 'w': words})), sort_keys=True))"),
    st.builds(lambda p: f"import re\nprint(re.findall(r'{p}', ' '.join(words)))", st.sampled_from(PATTERNS)),
    st.builds(lambda t: f"total = 0\nfor x in data:\n    if x > {t}:\n        total += x\n"
                        f"    else:\n        total -= 1\nprint(total)", small_ints),
    st.builds(lambda k: f"def f(x, y={k}):\n    return x * y + len(str(x))\nprint(list(map(f, data)))",
              small_ints),
    st.builds(lambda i: f"try:\n    print(data[{i}])\nexcept IndexError as e:\n    print('IndexError', e)",
              st.integers(-12, 12)),
    st.just("print(max(words, key=len, default=None), min(data, default=-1))"),
    st.just("from collections import Counter\nprint(sorted(Counter(x % 5 for x in data).items()))"),
    st.builds(lambda p: f"print('{{:.{p}f}}'.format(sum(data) / (len(data) or 1)))", st.integers(0, 4)),
    st.builds(lambda t: f"while data and data[-1] > {t}:\n    data = data[:-1]\nprint(data)", small_ints),
    st.builds(lambda d: f"print(sum(data) // {d}, sum(data) % {d}, divmod(len(words), {d}))", non_zero),
    st.just("print(dict(zip(words, data)), list(reversed(data))[:3])"),
    st.builds(lambda i: f"print(words[{i}].title() if words else 'none')", st.integers(0, 3)),
    st.just("acc = []\nfor i, w in enumerate(words):\n    if i > 2:\n        break\n    acc.append(w * 2)\n"
            "print(acc)"),
)


def cpython_run(code: str) -> tuple[str, str | None]:
    buffer = io.StringIO()
    error = None
    with contextlib.redirect_stdout(buffer):
        try:
            exec(compile(code, "<snippet>", "exec"), {})  # noqa: S102 - generated test snippets
        except Exception as exc:  # noqa: BLE001 - the error type is what we compare
            error = type(exc).__name__
    return buffer.getvalue(), error


@pytest.fixture(scope="module")
def shared_executor() -> Iterator[RestrictedExecutor]:
    ex = RestrictedExecutor()
    yield ex
    ex.close()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=data_lists, word_list=words, statements=st.lists(STATEMENTS, min_size=1, max_size=5))
def test_same_output_as_cpython(shared_executor: RestrictedExecutor, data: list[int],
                                word_list: list[str], statements: list[str]) -> None:
    code = f"data = {data!r}\nwords = {word_list!r}\n" + "\n".join(statements)
    expected_output, expected_error = cpython_run(code)
    result = shared_executor.run(code)
    assert result.output == expected_output, code
    if expected_error is None:
        assert result.error is None, (code, result.error)
    else:
        assert result.error is not None and result.error.startswith(expected_error), (code, result.error)
