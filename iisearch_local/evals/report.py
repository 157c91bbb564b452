"""The benchmark report: a Markdown table shaped like the model cards' (pass rate, # search,
# visit, # tool used), with Wilson 95% confidence intervals, wall time and tokens."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .runner import EvalRecord

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion (stays inside [0, 1], sane for small n)."""
    if trials <= 0:
        return 0.0, 0.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, kw_only=True)
class EvalSummary:
    """Counts and means over the latest record of each question."""

    benchmark: str
    questions: int
    correct: int
    incorrect: int
    not_attempted: int
    unparseable: int  # judge replies we could not read: not in the pass rate
    errors: int  # sessions that failed: not in the pass rate
    mean_searches: float
    mean_visits: float
    mean_tool_calls: float
    wall_seconds: float
    completion_tokens: int
    prompt_tokens_evaluated: int

    @property
    def graded(self) -> int:
        return self.correct + self.incorrect + self.not_attempted

    @property
    def pass_rate(self) -> float:
        return self.correct / self.graded if self.graded else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.correct, self.graded)


def latest_per_question(records: Sequence[EvalRecord]) -> list[EvalRecord]:
    """The last record of each question (a session error may have been rerun later)."""
    latest: dict[str, EvalRecord] = {}
    for record in records:
        latest[record.id] = record
    return list(latest.values())


def summarize(benchmark: str, records: Sequence[EvalRecord]) -> EvalSummary:
    rows = latest_per_question(records)
    count = {v: sum(r.verdict == v for r in rows)
             for v in ("correct", "incorrect", "not_attempted", "unparseable", "error")}
    answered = [r for r in rows if r.verdict != "error"]

    def mean(field: str) -> float:
        return sum(getattr(r, field) for r in answered) / len(answered) if answered else 0.0

    return EvalSummary(
        benchmark=benchmark, questions=len(rows), correct=count["correct"],
        incorrect=count["incorrect"], not_attempted=count["not_attempted"],
        unparseable=count["unparseable"], errors=count["error"],
        mean_searches=mean("searches"), mean_visits=mean("visits"),
        mean_tool_calls=mean("tool_calls"), wall_seconds=sum(r.wall_seconds for r in rows),
        completion_tokens=sum(r.completion_tokens for r in rows),
        prompt_tokens_evaluated=sum(r.prompt_tokens_evaluated for r in rows))


def markdown_report(summaries: Sequence[EvalSummary], *, model: str = "",
                    judge: str = "") -> str:
    """The model-card table plus the counts behind it."""
    lines = []
    if model or judge:
        lines += [f"Model: {model or '?'}; judge: {judge or '?'}", ""]
    lines += ["| Benchmark | Pass rate % | 95% CI | # search | # visit | # tool used |",
              "|---|---:|---:|---:|---:|---:|"]
    for s in summaries:
        low, high = s.interval
        lines.append(f"| {s.benchmark} | {100 * s.pass_rate:.1f} | {100 * low:.1f}-{100 * high:.1f}"
                     f" | {s.mean_searches:.2f} | {s.mean_visits:.2f} | {s.mean_tool_calls:.2f} |")
    lines += ["", "| Benchmark | questions | correct | incorrect | not attempted | "
              "unparseable verdict | session errors | wall time (s) | tokens generated | "
              "prompt tokens evaluated |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        lines.append(f"| {s.benchmark} | {s.questions} | {s.correct} | {s.incorrect} | "
                     f"{s.not_attempted} | {s.unparseable} | {s.errors} | {s.wall_seconds:.1f} | "
                     f"{s.completion_tokens} | {s.prompt_tokens_evaluated} |")
    lines += ["", "Pass rate = correct / (correct + incorrect + not attempted); unparseable "
              "verdicts and session errors are counted apart. CI: Wilson score interval."]
    return "\n".join(lines) + "\n"
