"""Running a benchmark: one full research session per question, judged, appended as it finishes.

Each finished question is one line of ``results.jsonl`` in the output folder (answer, verdict,
raw judge reply, stats), written and flushed at once, so an interrupted run resumes where it
stopped: questions already judged are skipped, never judged twice. ``concurrency`` workers run
at once, each with its own runtime (backend connection, search tools).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..research import events as ev
from .datasets import EvalItem
from .judge import Grader, Judge, grade

RESULTS_FILE = "results.jsonl"


@dataclass(frozen=True, kw_only=True)
class EvalRecord:
    """One question's outcome, as stored in ``results.jsonl``."""

    id: str
    question: str
    target: str
    answer: str
    verdict: str  # correct / incorrect / not_attempted / unparseable / error
    judge_reply: str
    end_reason: str
    searches: int
    visits: int
    tool_calls: int
    prompt_tokens_evaluated: int
    completion_tokens: int
    wall_seconds: float
    error: str = ""
    trace: str = ""  # the whole raw research trace, reasoning and observations included
    # [start, end) character ranges of ``trace`` the model generated (for fine-tuning data).
    generated_spans: list[list[int]] | None = None

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)


def read_records(path: Path) -> list[EvalRecord]:
    """The records already in ``path``; a line cut by a kill is dropped (and cut from the file)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        # A kill in mid-write left half a line: drop it so the next append starts clean.
        data = data[: data.rfind(b"\n") + 1]
        with path.open("r+b") as handle:
            handle.truncate(len(data))
    records = []
    for line in data.decode("utf-8").splitlines():
        try:
            records.append(EvalRecord(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return records


class ResultsLog:
    """Append-only, thread-safe ``results.jsonl``; each line is flushed and fsynced."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.records = read_records(path)
        self._lock = threading.Lock()

    def done_ids(self) -> set[str]:
        """Questions with a judge verdict (session errors are run again)."""
        return {r.id for r in self.records if r.verdict != "error"}

    def append(self, record: EvalRecord) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(record.to_json() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
            self.records.append(record)


def research(runtime: Any, question: str) -> tuple[ev.Finished, str, list[list[int]] | None]:
    """Run one full research session (the same engine as ``iisearch ask``).

    Returns the result, the trace and the model-written ranges of the trace.
    """
    session = runtime.new_session()
    try:
        finished = None
        for event in session.run(question):
            if isinstance(event, ev.Finished):
                finished = event
        assert finished is not None  # every run ends with Finished
        spans = session.generated_spans
        return finished, session.trace, None if spans is None else [[a, b] for a, b in spans]
    finally:
        session.close()


def evaluate_one(runtime: Any, judge: Judge, grader: Grader, item: EvalItem) -> EvalRecord:
    """Research ``item``, judge the answer, and return the record (never raises for the model)."""
    started = time.perf_counter()
    try:
        finished, trace, spans = research(runtime, item.question)
    except Exception as exc:  # a failing session is recorded, and retried on resume
        return EvalRecord(id=item.id, question=item.question, target=item.answer, answer="",
                          verdict="error", judge_reply="", end_reason="exception", searches=0,
                          visits=0, tool_calls=0, prompt_tokens_evaluated=0, completion_tokens=0,
                          wall_seconds=time.perf_counter() - started, error=str(exc))
    verdict, raw = grade(judge, grader, question=item.question, target=item.answer,
                         answer=finished.answer)
    s = finished.stats
    return EvalRecord(id=item.id, question=item.question, target=item.answer,
                      answer=finished.answer, verdict=verdict, judge_reply=raw,
                      end_reason=finished.reason, searches=s.searches, visits=s.visits,
                      tool_calls=s.tool_calls, prompt_tokens_evaluated=s.prompt_tokens_evaluated,
                      completion_tokens=s.completion_tokens, wall_seconds=s.wall_seconds,
                      error=finished.detail if finished.reason == "error" else "", trace=trace,
                      generated_spans=spans)


def run_eval(items: Iterable[EvalItem], *, open_runtime: Callable[[], Any], judge: Judge,
             grader: Grader, out_dir: Path, concurrency: int = 1,
             on_record: Callable[[EvalRecord], None] | None = None) -> list[EvalRecord]:
    """Run every question not yet judged in ``out_dir``; return all records of the run folder."""
    log = ResultsLog(out_dir / RESULTS_FILE)
    done = log.done_ids()
    todo: queue.Queue[EvalItem] = queue.Queue()
    for item in items:
        if item.id not in done:
            todo.put(item)
    judge_lock = threading.Lock()  # one judge connection / model, shared by the workers
    failures: list[BaseException] = []

    class LockedJudge:
        def reply(self, prompt: str) -> str:
            with judge_lock:
                return judge.reply(prompt)

        def close(self) -> None:
            pass

    def work() -> None:
        try:
            runtime = open_runtime()
        except BaseException as exc:
            failures.append(exc)
            return
        try:
            while not failures:
                try:
                    item = todo.get_nowait()
                except queue.Empty:
                    return
                record = evaluate_one(runtime, LockedJudge(), grader, item)
                log.append(record)
                if on_record is not None:
                    on_record(record)
        except BaseException as exc:  # the judge failing stops every worker
            failures.append(exc)
        finally:
            runtime.close()

    workers = [threading.Thread(target=work, name=f"eval-{n}", daemon=True)
               for n in range(max(1, min(concurrency, todo.qsize())))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise failures[0]
    return log.records
