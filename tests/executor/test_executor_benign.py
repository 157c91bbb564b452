"""Ordinary research code runs with exactly the output CPython gives."""

from __future__ import annotations

import pytest
from sandbox_testkit import SEARCH_TEXT, ToolLog

from iisearch_local.executor import RestrictedExecutor

CASES = {
    "loops": (
        "total = 0\nfor i in range(5):\n    if i == 3:\n        continue\n    total += i\n"
        "else:\n    print('loop done')\nn = 0\nwhile True:\n    n += 1\n    if n > 4:\n        break\n"
        "print(total, n)",
        "loop done\n7 5\n"),
    "comprehensions": (
        "print([x * x for x in range(6) if x % 2], {k: len(k) for k in ['ab', 'c']},\n"
        "      {c for c in 'hello'} == set('helo'), list(x + y for x in 'ab' for y in '12'))",
        "[1, 9, 25] {'ab': 2, 'c': 1} True ['a1', 'a2', 'b1', 'b2']\n"),
    "fstrings": (
        "name, score, ratio = 'Lyon', 513275, 0.123456\n"
        "print(f'{name:>6}|{score:,}|{ratio:.2%}|{score!r}|{name!s:<5}|{ {1: 2}[1] }')",
        "  Lyon|513,275|12.35%|513275|Lyon |2\n"),
    "classes": (
        "class City:\n    count = 0\n    def __init__(self, name, pop):\n        self.name, self.pop = name, pop\n"
        "        City.count += 1\n    def __repr__(self):\n        return f'City({self.name!r})'\n"
        "    def __lt__(self, other):\n        return self.pop < other.pop\n"
        "cities = [City('A', 3), City('B', 1), City('C', 2)]\nprint(sorted(cities), City.count, max(cities))",
        "[City('B'), City('C'), City('A')] 3 City('A')\n"),
    "try_except": (
        "def parse(s):\n    try:\n        return int(s)\n    except ValueError as e:\n        return f'bad: {e}'\n"
        "    finally:\n        print('parsed', s)\nprint(parse('12'), parse('x'))",
        "parsed 12\nparsed x\n12 bad: invalid literal for int() with base 10: 'x'\n"),
    "slicing_unpacking": (
        "s = 'abcdefgh'\nfirst, *middle, last = s\nprint(s[1:6:2], s[::-1][:3], first, ''.join(middle), last)\n"
        "a, (b, c) = 1, [2, 3]\nprint(a + b + c, list(range(10))[-3:])",
        "bdf hgf a bcdefg h\n6 [7, 8, 9]\n"),
    "json_round_trip": (
        "import json\ndata = {'cities': [{'name': 'Paris', 'pop': 2.1}], 'ok': True, 'n': None}\n"
        "text = json.dumps(data, sort_keys=True)\nprint(text)\nprint(json.loads(text) == data)",
        '{"cities": [{"name": "Paris", "pop": 2.1}], "n": null, "ok": true}\nTrue\n'),
    "regex_over_results": (
        "import re\nres = web_search(query='x', num_result=10)\n"
        "urls = re.findall(r'URL: (\\S+)', res)\nyears = [int(y) for y in re.findall(r'Year (\\d+)', res)]\n"
        "print(len(urls), urls[0], max(years), re.sub(r'\\d', '#', 'a1b22'))",
        "10 https://example.org/page0 2009 a#b##\n"),
    "sort_with_key": (
        "rows = [('b', 2), ('a', 2), ('c', 1)]\nprint(sorted(rows, key=lambda r: (-r[1], r[0])))\n"
        "rows.sort(key=lambda r: r[0], reverse=True)\nprint(rows)",
        "[('a', 2), ('b', 2), ('c', 1)]\n[('c', 1), ('b', 2), ('a', 2)]\n"),
    "closures_and_defaults": (
        "def counter(start=0, *, step=1):\n    n = start\n    def nxt():\n        nonlocal n\n        n += step\n"
        "        return n\n    return nxt\nc = counter(10, step=5)\nc()\nprint(c(), (lambda *a, **k: (a, k))(1, x=2))",
        "20 ((1,), {'x': 2})\n"),
    "modules": (
        "import math, statistics, datetime, textwrap, string, html, unicodedata, difflib\n"
        "from urllib.parse import urlparse, quote\nfrom collections import Counter, defaultdict\n"
        "print(math.sqrt(16), statistics.median([3, 1, 2]), datetime.date(2024, 3, 1).isoformat())\n"
        "print(textwrap.shorten('a b c d e f', 7), string.ascii_lowercase[:3], html.unescape('&amp;'))\n"
        "print(unicodedata.normalize('NFKC', '\uff45'), urlparse('https://x.org/a?b=1').netloc, quote('a b'))\n"
        "d = defaultdict(list)\nd['k'].append(1)\nprint(dict(d), Counter('aab').most_common(1),\n"
        "      round(difflib.SequenceMatcher(None, 'abc', 'abd').ratio(), 3))",
        "4.0 2 2024-03-01\na [...] abc &\ne x.org a%20b\n{'k': [1]} [('a', 2)] 0.667\n"),
    "exception_classes": (
        "class NotFound(Exception):\n    def __init__(self, what):\n        super().__init__(f'{what} not found')\n"
        "        self.what = what\ntry:\n    raise NotFound('page')\nexcept Exception as e:\n"
        "    print(type(e).__name__, e, e.what)",
        "NotFound page not found page\n"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_benign_block(name: str, executor: RestrictedExecutor) -> None:
    code, expected = CASES[name]
    result = executor.run(code)
    assert result.error is None, result.error
    assert result.output == expected


def test_state_persists_across_runs(executor: RestrictedExecutor) -> None:
    """Variables, functions, classes and imports survive between blocks of one session."""
    executor.run("import json\ndef double(x):\n    return 2 * x\nclass Box:\n    pass\nnotes = ['a']")
    result = executor.run("notes.append(double(21))\nb = Box()\nprint(json.dumps(notes), type(b).__name__)")
    assert result.output == '["a", 42] Box\n'


def test_uncaught_exception_gives_short_message_with_line(executor: RestrictedExecutor) -> None:
    result = executor.run("a = 1\nb = 2\nprint(c)")
    assert result.error == "NameError: name 'c' is not defined (line 3)"
    assert result.error_kind == "exception" and result.line == 3


def test_error_inside_function_reports_the_inner_line(executor: RestrictedExecutor) -> None:
    result = executor.run("def f(d):\n    return d['missing']\n\nf({})")
    assert result.error == "KeyError: 'missing' (line 2)"


def test_syntax_error_is_reported(executor: RestrictedExecutor) -> None:
    result = executor.run("for x in range(3)\n    print(x)")
    assert result.error_kind == "syntax" and result.error.startswith("SyntaxError:")
    assert result.line == 1


def test_output_before_an_error_is_kept(executor: RestrictedExecutor) -> None:
    result = executor.run("print('first')\n1 / 0")
    assert result.output == "first\n"
    assert result.error == "ZeroDivisionError: division by zero (line 2)"


def test_tools_accept_the_spellings_the_model_uses(executor: RestrictedExecutor, tools: ToolLog) -> None:
    """Positional or keyword arguments pass through unchanged; each call is counted."""
    result = executor.run("web_search(query='a', num_result=5)\nweb_search('b', max_result=3)\n"
                          "visit_webpage('https://x.org')\nweb_visit(url='https://y.org')")
    assert result.error is None and result.tool_calls == 4
    assert tools.calls == [("web_search", (), {"query": "a", "num_result": 5}),
                           ("web_search", ("b",), {"max_result": 3}),
                           ("web_visit", ("https://x.org",), {}),
                           ("web_visit", (), {"url": "https://y.org"})]


def test_search_text_reaches_the_code_unchanged(executor: RestrictedExecutor) -> None:
    result = executor.run("r = web_search('q')\nprint(len(r))")
    assert result.output == f"{len(SEARCH_TEXT)}\n"


def test_result_fields(executor: RestrictedExecutor) -> None:
    result = executor.run("print('ok')")
    assert result.ok and result.error is None and result.error_kind is None
    assert result.duration_seconds > 0 and result.tool_calls == 0 and not result.session_reset
