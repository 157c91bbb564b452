"""scripts/bench tui: does the TUI stay responsive while a fast model streams into it?

A scripted model streams reasoning and an answer at --rate tokens/s (default 300) through the
real app (headless, 120x40; every frame is rendered to terminal bytes as a real terminal would
get them). Meanwhile keys are sent to the question box one at a time, and we time each key
from the moment it enters the app to the first frame that shows it in the box.

Figures (one JSON line each):
- key_echo_p95_ms: p95 key-to-echo latency while streaming; reference: the same with no
  stream running (target: < 50 ms);
- key_echo_p50_ms: the median, same reference (informational target: < 25 ms);
- frames_per_s: frames rendered per second while streaming; reference: with no stream
  (target: <= 60, Textual's frame cap: tokens are coalesced, not drawn one by one);
- stream_tokens_per_s: tokens the transcript received per second, against --rate (target:
  ratio >= 0.9: the UI does not slow the model down);
- transcript_max_gap_ms: the longest time the transcript went without drawing new tokens
  while the stream ran and keys were typed; reference: the pump interval (target: <= 200 ms:
  the stream stays live, it is not held back to favour the keys).
Keys are typed --gap seconds apart (default 0.1 s, a fast typist).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, say  # noqa: E402

from textual import events  # noqa: E402

from iisearch_local.backends.base import Generation  # noqa: E402
from iisearch_local.backends.scripted import ScriptedBackend  # noqa: E402
from iisearch_local.config import load_config  # noqa: E402
from iisearch_local.research.factory import ResearchRuntime, SessionPlan  # noqa: E402
from iisearch_local.research.local_source import InMemorySource  # noqa: E402
from iisearch_local.research.settings import ResearchSettings  # noqa: E402
from iisearch_local.tui.app import IISearchApp  # noqa: E402
from iisearch_local.tui.widgets.transcript import PUMP_SECONDS  # noqa: E402

BENCH = "tui"
SIZE = (120, 40)
ECHO_TARGET_MS = 50.0
FRAME_CAP = 60.0
WORDS = ("the tower was designed by engineers of the company and built for the fair while "
         "critics wrote letters about its height and iron lattice").split()


class PacedBackend(ScriptedBackend):
    """A scripted model that emits its pieces at a fixed rate (tokens per second)."""

    def __init__(self, replies: list[str], *, rate: float) -> None:
        super().__init__(replies)
        self.interval = 1.0 / rate

    def generate(self, prompt, options, *, cancel=None) -> Generation:
        inner = super().generate(prompt, options, cancel=cancel)
        interval = self.interval

        def run():
            next_at = time.perf_counter()
            for piece in inner:
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                yield piece
            return inner.result

        return Generation(run())


class Provider:
    def __init__(self, backend: ScriptedBackend) -> None:
        self.backend = backend

    def plan(self, config) -> SessionPlan:
        return SessionPlan(model_name="paced", model_path=Path("paced"), backend="scripted",
                           protocol="cir", engines=("sample",), offline=True,
                           settings=ResearchSettings(max_tokens_per_turn=100_000,
                                                     max_generated_tokens=100_000))

    def open(self, plan: SessionPlan, config) -> ResearchRuntime:
        return ResearchRuntime(plan, backend=self.backend, functions=InMemorySource().functions())


def long_reply(tokens: int) -> str:
    """Reasoning of about ``tokens`` scripted tokens (a word and a space are two), then an answer."""
    words = [WORDS[i % len(WORDS)] for i in range(tokens // 2)]
    lines = [" ".join(words[i:i + 12]) for i in range(0, len(words), 12)]
    return "\n".join(lines) + "\n</think>\n\nThe tower was designed by its engineers."


class FrameClock:
    """Wraps ``App._display``: counts frames, renders them to bytes, spots the key echo."""

    def __init__(self, app: IISearchApp) -> None:
        self.app = app
        self.frames = 0
        self.waiting_for: str | None = None
        self.echoed_at: float | None = None
        original = app._display

        def display(screen, renderable) -> None:
            original(screen, renderable)
            if renderable is None:
                return
            renderable.render_segments(app.console)  # the bytes a terminal would be sent
            self.frames += 1
            if self.waiting_for is not None and self.app.question.value == self.waiting_for:
                self.echoed_at = time.perf_counter()
                self.waiting_for = None

        app._display = display  # type: ignore[method-assign]


async def echo_latencies(app: IISearchApp, clock: FrameClock, count: int,
                         gap: float) -> list[float]:
    """Send ``count`` keys one by one; the milliseconds from each key to the frame showing it."""
    latencies = []
    box = app.question
    for i in range(count):
        char = "abcdefghij"[i % 10]
        clock.waiting_for = box.value + char
        clock.echoed_at = None
        sent = time.perf_counter()
        app._driver.send_message(events.Key(char, char))
        deadline = sent + 2.0
        while clock.echoed_at is None and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
        latencies.append(((clock.echoed_at or deadline) - sent) * 1000)
        await asyncio.sleep(gap)
    return latencies


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) >= 20 else max(values)


async def run(rate: float, keys: int, seconds: float, gap: float) -> None:
    backend = PacedBackend([long_reply(int(rate * seconds))], rate=rate)
    app = IISearchApp(provider=Provider(backend), config=load_config(environ={}), store=False)
    async with app.run_test(size=SIZE) as pilot:
        clock = FrameClock(app)
        await pilot.pause(0.3)
        idle_frames_start, idle_start = clock.frames, time.perf_counter()
        idle = await echo_latencies(app, clock, keys, gap)
        idle_fps = (clock.frames - idle_frames_start) / (time.perf_counter() - idle_start)
        app.question.value = ""
        app.research("benchmark question")
        while app.controller.status.tokens < rate * 0.5:  # let the stream get going
            await asyncio.sleep(0.01)
        drawn: list[float] = []
        apply = app.transcript.apply

        async def timed_apply(events_):
            drawn.append(time.perf_counter())
            await apply(events_)

        app.transcript.apply = timed_apply  # type: ignore[method-assign]
        tokens_start, frames_start, start = (app.controller.status.tokens, clock.frames,
                                             time.perf_counter())
        busy = await echo_latencies(app, clock, keys, gap)
        elapsed = time.perf_counter() - start
        marks = [start] + drawn + [time.perf_counter()]
        max_gap = max(b - a for a, b in zip(marks, marks[1:])) * 1000
        streamed = app.controller.status.tokens - tokens_start
        busy_fps = (clock.frames - frames_start) / elapsed
        still_running = app.controller.running
        app.controller.cancel()
        while app.controller.running:
            await asyncio.sleep(0.02)
    if not still_running:
        say("warning: the stream ended before the keys did; raise --seconds")
    say(f"idle: echo p50 {statistics.median(idle):.1f} ms p95 {p95(idle):.1f} ms, {idle_fps:.1f} fps")
    say(f"streaming {streamed / elapsed:.0f} tok/s: echo p50 {statistics.median(busy):.1f} ms "
        f"p95 {p95(busy):.1f} ms, {busy_fps:.1f} fps, transcript redrawn at least every "
        f"{max_gap:.0f} ms")
    emit(BENCH, "key_echo_p95_ms", ours=round(p95(busy), 2), reference=round(p95(idle), 2),
         ratio=round(p95(busy) / p95(idle), 2), target=f"< {ECHO_TARGET_MS:.0f} ms",
         passed=p95(busy) < ECHO_TARGET_MS, stream_rate=rate, keys=keys)
    emit(BENCH, "key_echo_p50_ms", ours=round(statistics.median(busy), 2),
         reference=round(statistics.median(idle), 2),
         ratio=round(statistics.median(busy) / statistics.median(idle), 2), target="< 25 ms",
         passed=statistics.median(busy) < 25.0, stream_rate=rate)
    emit(BENCH, "frames_per_s", ours=round(busy_fps, 1), reference=round(idle_fps, 1),
         ratio=round(busy_fps / idle_fps, 2) if idle_fps else None,
         target=f"<= {FRAME_CAP:.0f}", passed=busy_fps <= FRAME_CAP, stream_rate=rate)
    emit(BENCH, "transcript_max_gap_ms", ours=round(max_gap, 1),
         reference=round(PUMP_SECONDS * 1000, 1), ratio=round(max_gap / (PUMP_SECONDS * 1000), 2),
         target="<= 200 ms", passed=max_gap <= 200.0, key_gap_s=gap)
    emit(BENCH, "stream_tokens_per_s", ours=round(streamed / elapsed, 1), reference=rate,
         ratio=round(streamed / elapsed / rate, 3), target="ratio >= 0.9",
         passed=streamed / elapsed / rate >= 0.9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0, help="tokens per second streamed")
    parser.add_argument("--keys", type=int, default=60, help="keys typed in each phase")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the stream")
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between two keys")
    args = parser.parse_args()
    asyncio.run(run(args.rate, args.keys, args.seconds, args.gap))


if __name__ == "__main__":
    main()
