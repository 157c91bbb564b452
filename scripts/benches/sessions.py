"""Benchmark: the session store's write and read speed on a real file.

Figures:
* ``append_events_per_second``: ``append_event`` of streamed deltas, one committed transaction
  each (the store's durability promise). Reference: 100 events/s, a fast local 4B model
  streaming one delta per token. Target: at least 20x that, so recording never slows a run.
* ``recorded_session_events_per_second``: whole scripted research sessions (no model time)
  through ``record``, trace saving included, against the same sessions unrecorded.
* ``open_large_session_seconds``: ``get`` of a session with 20,000 events (a long run).
* ``search_1000_sessions_ms``: a full-text ``list(query=...)`` over 1,000 stored sessions.

    python scripts/benches/sessions.py [--events N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_of, emit, say  # noqa: E402

from iisearch_local.backends.scripted import ScriptedBackend  # noqa: E402
from iisearch_local.research import events as ev  # noqa: E402
from iisearch_local.research.local_source import InMemorySource  # noqa: E402
from iisearch_local.research.session import ResearchSession  # noqa: E402
from iisearch_local.sessions import SessionStore  # noqa: E402
from iisearch_local.sessions.recorder import record  # noqa: E402

BENCH = "sessions"
MODEL_EVENTS_PER_SECOND = 100.0
TOWER = "https://local.example/eiffel-tower"
REPLIES = [
    "Searching first.\n<start_code>\n```python\nprint(web_search(query=\"Eiffel Tower\", "
    "num_result=3))\n```\n<end_code>",
    f"Reading it.\n<start_code>\n```python\nprint(web_visit(url=\"{TOWER}\"))\n```\n<end_code>",
    "Found it.\n</think>\n\n" + "Koechlin and Nouguier designed it. " * 20
    + f"([Eiffel Tower]({TOWER}))",
]


def new_session(store: SessionStore) -> str:
    return store.create(question="Who designed the Eiffel Tower?", model="m", backend="b",
                        protocol="cir")


def bench_appends(folder: Path, count: int) -> None:
    store = SessionStore(folder / "appends.db")
    sid = new_session(store)
    delta = ev.ReasoningDelta(text=" word")
    start = time.perf_counter()
    for _ in range(count):
        store.append_event(sid, delta)
    rate = count / (time.perf_counter() - start)
    store.close()
    say(f"append_event: {rate:,.0f} events/s ({count} committed transactions)")
    emit(BENCH, "append_events_per_second", ours=round(rate), reference=MODEL_EVENTS_PER_SECOND,
         ratio=round(rate / MODEL_EVENTS_PER_SECOND, 1),
         target=">= 20x a fast local model's 100 deltas/s", passed=rate >= 20 * MODEL_EVENTS_PER_SECOND)


def run_sessions(store: SessionStore | None, runs: int) -> int:
    source = InMemorySource()
    events = 0
    for _ in range(runs):
        session = ResearchSession(ScriptedBackend(REPLIES), tools=source.functions())
        stream = session.run("Who designed the Eiffel Tower?")
        if store is not None:
            stream = record(store, new_session(store), stream, session=session)
        events += sum(1 for _ in stream)
        session.close()
    return events


def bench_recorded_sessions(folder: Path, runs: int) -> None:
    plain_seconds, events = best_of(3, lambda: run_sessions(None, runs))
    store = SessionStore(folder / "recorded.db")
    recorded_seconds, _ = best_of(3, lambda: run_sessions(store, runs))
    store.close()
    ours, reference = events / recorded_seconds, events / plain_seconds
    say(f"scripted sessions: {ours:,.0f} events/s recorded, {reference:,.0f} events/s unrecorded")
    emit(BENCH, "recorded_session_events_per_second", ours=round(ours), reference=round(reference),
         ratio=round(ours / reference, 2), target=">= 20x a fast local model's 100 deltas/s",
         passed=ours >= 20 * MODEL_EVENTS_PER_SECOND)


def bench_open_large(folder: Path, count: int) -> None:
    store = SessionStore(folder / "large.db")
    sid = new_session(store)
    for i in range(count):
        store.append_event(sid, ev.ReasoningDelta(text=f" token{i}"))
    store.set_trace(sid, "x" * 500_000)
    seconds, stored = best_of(3, lambda: store.get(sid))
    assert len(stored.events) == count
    store.close()
    say(f"get() of a {count}-event session: {seconds * 1000:.0f} ms")
    emit(BENCH, "open_large_session_seconds", ours=round(seconds, 3), reference=None, ratio=None,
         target="< 1 s for 20,000 events", passed=seconds < 1.0, events=count)


def bench_search(folder: Path, sessions: int) -> None:
    store = SessionStore(folder / "search.db")
    for i in range(sessions):
        sid = store.create(question=f"Question {i} about topic{i % 37} and bridges",
                           model="m", backend="b", protocol="cir")
        store.append_event(sid, ev.Finished(reason="answered", answer=f"Answer {i} on river{i % 11}"))
    seconds, found = best_of(5, lambda: store.list(limit=50, query="topic5 river3"))
    store.close()
    say(f"search over {sessions} sessions: {seconds * 1000:.1f} ms ({len(found)} hits)")
    emit(BENCH, "search_1000_sessions_ms", ours=round(seconds * 1000, 2), reference=None,
         ratio=None, target="< 50 ms", passed=seconds < 0.05, hits=len(found))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="appends to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench_appends(folder, args.events)
        bench_recorded_sessions(folder, runs=20)
        bench_open_large(folder, 20_000)
        bench_search(folder, 1000)


if __name__ == "__main__":
    main()
