"""Benchmark: the restricted executor on typical research blocks.

For each block: our ``RestrictedExecutor.run`` (one persistent executor, as in a research
session), CPython ``exec`` of the same code (the floor; reported as ``ratio_vs_cpython``) and
smolagents' ``LocalPythonExecutor`` when it is importable (the ``bench`` extra). Target: faster
than smolagents on every block. The tool functions are stubs returning canned text, identical
for all three. Outputs are compared with CPython's; a block whose output differs fails.

    python scripts/benches/executor.py [--repeats N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, emit, say  # noqa: E402

from iisearch_local.executor import RestrictedExecutor  # noqa: E402

BENCH = "executor"
TARGET = "faster than smolagents LocalPythonExecutor (ratio < 1)"


def web_search(query: str, num_result: int = 10, max_result: int | None = None) -> str:
    count = max_result or num_result
    blocks = []
    for i in range(count):
        blocks.append(f"Index: {i}\nURL: https://example.org/{query.replace(' ', '-')}/{i}\n"
                      f"Title: Result {i} about {query}\nPreview: In {1990 + i}, the population of "
                      f"the city was {120 + i * 7}.{i} thousand according to the {i}th census.")
    return "\n\n".join(blocks)


PAGE = " ".join(
    f"Paragraph {i}. The river Seine flows {776 + i} km through Paris, which had "
    f"{2.1 + i / 100:.2f} million inhabitants in {2000 + i % 20}." for i in range(60))


def web_visit(url: str) -> str:
    return PAGE


BLOCKS: dict[str, str] = {
    "search_regex_fstrings": '''
import re
results = web_search(query="Paris population history", num_result=10)
entries = []
for block in results.split("\\n\\n"):
    url = re.search(r"URL: (\\S+)", block).group(1)
    title = re.search(r"Title: (.*)", block).group(1)
    year = int(re.search(r"In (\\d{4})", block).group(1))
    pop = float(re.search(r"was ([\\d.]+) thousand", block).group(1))
    entries.append({"url": url, "title": title, "year": year, "pop": pop})
for e in entries:
    print(f"{e['year']}: {e['pop']:>8.1f}k  {e['title'][:30]:<30} {e['url']}")
best = max(entries, key=lambda e: e["pop"])
print(f"largest: {best['pop']} in {best['year']}")
''',
    "json_round_trip": '''
import json
records = [{"id": i, "name": f"item {i}", "tags": ["a", "b", str(i % 7)], "score": i * 1.5,
            "nested": {"x": i, "y": [i, i + 1]}} for i in range(150)]
text = json.dumps(records)
back = json.loads(text)
assert back == records
summary = {"count": len(back), "total": sum(r["score"] for r in back),
           "tags": sorted({t for r in back for t in r["tags"]})}
print(json.dumps(summary, indent=2, sort_keys=True))
''',
    "sort_with_key": '''
rows = []
for i in range(400):
    rows.append({"name": f"city{i % 37}", "year": 1900 + (i * 7) % 120, "value": (i * 37) % 101})
rows.sort(key=lambda r: (r["year"], -r["value"], r["name"]))
top = sorted(rows, key=lambda r: r["value"], reverse=True)[:5]
by_name = {}
for r in rows:
    by_name.setdefault(r["name"], []).append(r["value"])
averages = sorted(((sum(v) / len(v), k) for k, v in by_name.items()), reverse=True)
print(rows[0], rows[-1])
print([t["value"] for t in top])
print(averages[:3])
''',
    "page_word_counts": '''
from collections import Counter
page = web_visit("https://example.org/seine")
words = [w.strip(".,").lower() for w in page.split()]
counts = Counter(w for w in words if len(w) > 3)
numbers = [float(w) for w in words if w.replace(".", "", 1).isdigit()]
print(counts.most_common(5))
print(len(words), len(numbers), round(sum(numbers), 2))
sentences = [s for s in page.split(". ") if "million" in s]
print(len(sentences), sentences[0][:60])
''',
    "functions_and_class": '''
class Source:
    def __init__(self, url, year, score):
        self.url = url
        self.year = year
        self.score = score
    def weight(self, now=2025):
        age = now - self.year
        return self.score / (1 + age / 10)

def parse(block):
    fields = {}
    for line in block.splitlines():
        key, _, value = line.partition(": ")
        fields[key] = value
    return fields

def rank(sources, limit=3):
    return sorted(sources, key=lambda s: s.weight(), reverse=True)[:limit]

sources = []
for n, block in enumerate(web_search("seine length", max_result=10).split("\\n\\n")):
    f = parse(block)
    sources.append(Source(f["URL"], 1990 + n, len(f["Preview"]) % 17 + n))
for s in rank(sources):
    print(f"{s.url} {s.weight():.3f}")
''',
    "numeric_loop": '''
def primes(limit):
    sieve = [True] * limit
    sieve[0] = sieve[1] = False
    for i in range(2, int(limit ** 0.5) + 1):
        if sieve[i]:
            for j in range(i * i, limit, i):
                sieve[j] = False
    return [i for i, p in enumerate(sieve) if p]
found = primes(3000)
total = 0
for p in found:
    if p % 4 == 1:
        total += p
print(len(found), found[-3:], total)
''',
}

FUNCTIONS = {"web_search": web_search, "web_visit": web_visit, "visit_webpage": web_visit}


def run_cpython(code: str) -> str:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(code, "<block>", "exec"), dict(FUNCTIONS))  # noqa: S102 - trusted bench code
    return buffer.getvalue()


def make_smolagents() -> Any | None:
    try:
        from smolagents.local_python_executor import LocalPythonExecutor
    except ImportError:
        return None
    executor = LocalPythonExecutor(additional_authorized_imports=["json", "re", "collections"])
    executor.send_tools(dict(FUNCTIONS))
    return executor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    ours = RestrictedExecutor(functions=FUNCTIONS)
    smol = make_smolagents()
    if smol is None:
        say("smolagents is not installed (pip install -e '.[bench]'); no reference to compare with")
    all_passed = True
    try:
        for name, code in BLOCKS.items():
            expected = run_cpython(code)
            result = ours.run(code)
            correct = result.error is None and result.output == expected
            if not correct:
                say(f"{name}: output differs from CPython: {result.error}")
            cpython_time, _ = best_of(args.repeats, lambda code=code: run_cpython(code))
            our_time, _ = best_of(args.repeats, lambda code=code: ours.run(code))
            smol_time = None
            if smol is not None:
                smol(code)
                smol_time, _ = best_of(args.repeats, lambda code=code: smol(code))
            ratio = our_time / smol_time if smol_time else None
            passed = correct and ratio is not None and ratio < 1.0
            all_passed &= passed
            say(f"{name:24} ours {our_time * 1e3:8.2f} ms  cpython {cpython_time * 1e3:7.2f} ms  "
                f"smolagents {'-' if smol_time is None else f'{smol_time * 1e3:8.2f} ms'}  "
                f"{'PASS' if passed else 'FAIL'}")
            emit(BENCH, f"{name}_seconds", ours=our_time, reference=smol_time, ratio=ratio,
                 target=TARGET, passed=passed, reference_name="smolagents LocalPythonExecutor",
                 cpython_seconds=cpython_time, ratio_vs_cpython=our_time / cpython_time,
                 output_matches_cpython=correct)
    finally:
        ours.close()
    return 0 if all_passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
