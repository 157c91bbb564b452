r"""Reading research traces as ``TraceExample``s: the session store, exports, eval runs, jsonl.

Every reader returns a ``SourceRead``: the examples, and the traces it skipped with the reason
(counted in the build report). A file that cannot be read is a ``DatasetError`` naming the file
and, for jsonl, the line.

* **Session store** (``read_store``): one example per stored session, its whole trace (every
  turn) cut into trained / masked segments by the ranges the model generated. Skipped: sessions
  recorded before those ranges were kept, and sessions whose last turn did not end with an
  answer. Question = the first turn's; answer = the last answer; tool calls = the function calls
  of every turn (each search and visit, also those made from CIR code).
* **Session export** (``read_export``): a file written by ``iisearch sessions export --format
  json``; read like a stored session.
* **Eval results** (``read_eval_results``): an ``iisearch eval`` ``results.jsonl``; the gold
  answer and the judge's verdict come along (``correct`` is true for the verdict "correct").
* **Jsonl traces** (``read_jsonl_traces``), our own format for traces from anywhere else (a
  teacher model, a converted dataset). One JSON object per line::

    {"protocol": "cir",
     "date": "Mon, 02 Jun 2025 14:03:00 GMT",
     "answer": "Maurice Koechlin and Emile Nouguier",
     "messages": [
       {"role": "user", "content": "Who designed the Eiffel Tower?"},
       {"role": "assistant", "reasoning": "I should search.",
        "code": "print(web_search(query=\"Eiffel Tower design\"))"},
       {"role": "tool", "content": "Index: 1\nURL: https://...\nTitle: ...\nPreview: ..."},
       {"role": "assistant", "reasoning": "The page names them.",
        "content": "Maurice Koechlin and Emile Nouguier."}]}

  Keys: ``protocol`` ("cir" or "tools"; may be left out when the build is given
  ``--protocol``), ``messages`` (required), ``date`` (optional HTTP date shown in the system
  prompt; default: the build's ``--date``, else the time of the build), ``answer`` (optional
  reference answer), ``correct`` (optional true/false verdict), ``tool_calls`` (optional count
  replacing the counted one), ``id`` and ``meta`` (optional, copied to the example's
  metadata). Any other key is an error.

  Messages: the first is the ``user`` question. Then ``assistant`` steps, each either *acting*
  or *answering*. For ``cir`` an acting step has ``code`` (Python calling ``web_search`` /
  ``web_visit``) and is followed by exactly one ``tool`` message holding what the code printed;
  for ``tools`` it has ``tool_calls`` (``[{"name": "web_search", "arguments": {"query":
  "..."}}]``) and is followed by one ``tool`` message per call, in order. The answering step
  has ``content`` (the final answer). Any assistant step may carry ``reasoning``. A ``user``
  message after an answer is a follow-up question. The trace must end with an answer.

  Rendering, exactly as a live session writes the trace (R = the reasoning, followed by a
  newline unless it ends with one; code loses leading and trailing blank lines):

  - opening: the research engine's own system turn (tools, date), the user turn, and
    ``<|im_start|>assistant\n``; for CIR also ``<think>\n`` and the hint;
  - CIR acting step: ``R<start_code>\n```python\n{code}\n```\n<end_code>``, then the
    output as ``\n```output\n{output}\n```\n``;
  - CIR answer: ``R</think>\n\n{content}<|im_end|>`` then ``\n``;
  - tools acting step: ``<think>\nR</think>\n\n`` (only with reasoning), then
    ``<tool_call>\n`` + one JSON object ``{"name": ..., "arguments": ...}`` per call, one per
    line + ``\n</tool_call><|im_end|>`` (generation stops at ``</tool_call>``, so several
    calls share one block), then ``\n``, a user turn holding one
    ``<tool_response>\n{result}\n</tool_response>`` per call (joined by newlines), and
    ``<|im_start|>assistant\n``;
  - tools answer: ``<think>\nR</think>\n\n`` (only with reasoning), ``{content}<|im_end|>``
    then ``\n``;
  - follow-up: ``<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n`` (CIR: then
    ``<think>\n`` and the hint again).

  Trained: what the model wrote (reasoning, code through ``<end_code>``, tool calls through
  ``</tool_call>``, ``</think>``, answers, and each ``<|im_end|>`` ending a model turn).
  Masked: the opening, questions, observations and the newlines after ``<|im_end|>``. Tool
  calls are counted as the calls listed (tools) or as each ``web_search(`` / ``web_visit(`` /
  ``visit_webpage(`` written in the code (CIR). docs/finetune-traces.md has the same, with a
  tools example.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserFacingError
from ..research.events import Finished
from ..research.prompting import IM_START
from ..sessions.models import StoredSession
from ..sessions.store import SessionStore
from .examples import DatasetError, Segment, TraceExample
from .render import FOLLOW_UPS, TraceRenderer, check_trace

ALL_SESSIONS = 2**62  # the store's list() takes a limit; this means "every session"

# Why a trace was skipped (the build report counts them by these texts).
NO_SPANS = "no record of what the model generated (made before this was kept)"
NOT_ANSWERED = "did not end with an answer"
NO_TRACE = "no trace"
FAILED = "the research failed"


@dataclass(frozen=True, kw_only=True)
class Skip:
    """A trace a reader did not turn into an example, and why."""

    source: str
    reason: str


@dataclass(kw_only=True)
class SourceRead:
    """What one source gave: its examples and what it skipped."""

    name: str
    examples: list[TraceExample] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    def add(self, item: TraceExample | Skip) -> None:
        if isinstance(item, Skip):
            self.skipped.append(item)
        else:
            self.examples.append(item)

    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(skip.reason for skip in self.skipped))


def segments_from_spans(trace: str, spans: Iterable[Sequence[int]]) -> list[Segment]:
    """Cut ``trace`` into segments: trained inside the ``[start, end)`` spans, masked elsewhere."""
    segments: list[Segment] = []
    at = 0
    for raw in spans:
        start, end = int(raw[0]), int(raw[1])
        if not at <= start < end <= len(trace):
            raise ValueError(f"generated span [{start}, {end}] is outside the trace or out of "
                             "order")
        if start > at:
            segments.append(Segment(trace[at:start], False))
        segments.append(Segment(trace[start:end], True))
        at = end
    if at < len(trace):
        segments.append(Segment(trace[at:], False))
    return segments


def detect_protocol(trace: str, spans: Sequence[Sequence[int]]) -> str:
    """CIR or tools, from a trace's shape: only CIR puts text of ours (``<think>`` and the hint)
    between the first assistant turn's start and the model's first words."""
    head = f"{IM_START}assistant\n"
    at = trace.find(head)
    if at == -1 or not spans:
        return "cir"
    return "tools" if int(spans[0][0]) == at + len(head) else "cir"


# --- the session store and its exports --------------------------------------------------------


def example_from_stored(stored: StoredSession, *, source: str) -> TraceExample | Skip:
    """One example from a whole stored session, or why there is none."""
    if stored.generated_spans is None:
        return Skip(source=source, reason=NO_SPANS)
    last = stored.turns[-1] if stored.turns else None
    finished = stored.finished()
    if last is None or last.status != "answered" or finished is None or not finished.answer.strip():
        return Skip(source=source, reason=NOT_ANSWERED)
    if not stored.trace or not stored.generated_spans:
        return Skip(source=source, reason=NO_TRACE)
    calls = sum(e.stats.tool_calls for e in stored.events if isinstance(e, Finished))
    return TraceExample(
        protocol=stored.summary.protocol,
        segments=segments_from_spans(stored.trace, stored.generated_spans),
        question=stored.turns[0].question.strip(), answer=finished.answer.strip(),
        tool_calls=calls, source=source,
        meta={"session": stored.id, "model": stored.summary.model, "turns": len(stored.turns),
              **_follow_ups([turn.question for turn in stored.turns[1:]])})


def _follow_ups(questions: Sequence[str]) -> dict[str, Any]:
    """Follow-up questions go into the metadata (decontamination checks them too)."""
    return {FOLLOW_UPS: [q.strip() for q in questions]} if questions else {}


def read_store(store: SessionStore, *, session_ids: Sequence[str] = ()) -> SourceRead:
    """Every stored session, or those named (ids or unique id prefixes)."""
    ids = ([store.resolve(prefix) for prefix in session_ids] if session_ids
           else [summary.id for summary in reversed(store.list(limit=ALL_SESSIONS))])
    read = SourceRead(name="session store")
    for sid in dict.fromkeys(ids):  # a session named twice is read once
        read.add(example_from_stored(store.get(sid), source=f"store:{sid}"))
    return read


def read_export(path: Path) -> SourceRead:
    """A session exported with ``iisearch sessions export --format json``."""
    from ..sessions.export import from_json_dict

    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not a JSON session export ({exc})") from None
    try:
        stored = from_json_dict(data)
    except UserFacingError as exc:
        raise DatasetError(f"{path}: {exc.message}", hint=exc.hint) from None
    read = SourceRead(name=f"export {path}")
    read.add(example_from_stored(stored, source=f"export:{path}"))
    return read


# --- eval results -----------------------------------------------------------------------------


def read_eval_results(path: Path) -> SourceRead:
    """The questions of an ``iisearch eval`` results.jsonl, with gold answers and verdicts."""
    read = SourceRead(name=f"eval {path}")
    for number, data in _json_lines(path):
        where = f"{path}, line {number}"
        source = f"eval:{path}:{number}"
        try:
            question, gold, answer = (str(data[k]) for k in ("question", "target", "answer"))
            verdict, end_reason = str(data["verdict"]), str(data.get("end_reason", "answered"))
            trace, spans = data.get("trace") or "", data.get("generated_spans")
            calls = int(data.get("tool_calls", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{where}: not an eval result record ({type(exc).__name__}: "
                               f"{exc})", hint="Give the results.jsonl an `iisearch eval` "
                               "run wrote.") from None
        if verdict == "error":
            read.add(Skip(source=source, reason=FAILED))
        elif not trace:
            read.add(Skip(source=source, reason=NO_TRACE))
        elif spans is None:
            read.add(Skip(source=source, reason=NO_SPANS))
        elif end_reason != "answered" or not answer.strip():
            read.add(Skip(source=source, reason=NOT_ANSWERED))
        else:
            try:
                segments = segments_from_spans(trace, spans)
            except (ValueError, TypeError, IndexError) as exc:
                raise DatasetError(f"{where}: bad \"generated_spans\" ({exc})") from None
            read.add(TraceExample(
                protocol=detect_protocol(trace, spans), segments=segments,
                question=question.strip(), answer=answer.strip(), tool_calls=calls,
                source=source, gold=gold.strip() or None,
                correct={"correct": True, "incorrect": False,
                         "not_attempted": False}.get(verdict),
                meta={"eval_id": str(data.get("id", number)), "verdict": verdict}))
    return read


# --- jsonl traces -----------------------------------------------------------------------------


def read_jsonl_traces(path: Path, *, renderer: TraceRenderer,
                      default_protocol: str | None = None) -> SourceRead:
    """Traces in our jsonl format (the module docstring), rendered as at inference."""
    read = SourceRead(name=f"jsonl {path}")
    for number, data in _json_lines(path):
        trace = check_trace(data, where=f"{path}, line {number}",
                            default_protocol=default_protocol)
        read.add(renderer.render(trace, source=f"{path}:{number}"))
    return read


def _json_lines(path: Path) -> Iterable[tuple[int, Any]]:
    """(line number, parsed JSON) of each line; empty lines and bad JSON are errors."""
    try:
        handle = Path(path).open(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        number = 0
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    raise DatasetError(f"{path}, line {number}: the line is empty",
                                       hint="Each line holds one trace; remove blank lines.")
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}, line {number}: not valid JSON ({exc.msg} at "
                                       f"column {exc.colno})") from None
                if not isinstance(data, dict):
                    raise DatasetError(f"{path}, line {number}: expected a JSON object")
                yield number, data
        except UnicodeDecodeError:
            raise DatasetError(f"{path}, line {number + 1}: not UTF-8 text") from None
