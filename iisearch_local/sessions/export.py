"""Exporting stored sessions as Markdown or JSON, and importing the JSON back.

* ``to_markdown(stored, trace=False)``: each question with its answer and numbered references
  (with URLs); ``trace=True`` adds the research itself: reasoning, code and its output, tool
  calls, searches and visits.
* ``to_json(stored)``: the metadata, the turns, every event with its turn and time, and the raw
  trace. ``import_session(store, text)`` stores it again; exporting the import gives the same
  JSON back, byte for byte.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..research import events as ev
from .models import EventRecord, SessionSummary, StoredSession, StoreError, Turn
from .store import SessionStore

FORMAT = "iisearch-session"
FORMAT_VERSION = 1
_BACKTICKS = re.compile(r"`{3,}")
_TURN_FIELDS = ("number", "question", "status", "answer", "detail", "started_at", "finished_at")
_SESSION_FIELDS = ("id", "question", "model", "backend", "protocol", "offline", "status",
                   "detail", "answer", "created_at", "updated_at")


class ImportFormatError(StoreError):
    """The file is not a session export this version can read."""


# --- JSON -------------------------------------------------------------------------------------


def to_json_dict(stored: StoredSession) -> dict[str, Any]:
    """The whole session as plain JSON-ready data."""
    s = stored.summary
    session = {name: getattr(s, name) for name in _SESSION_FIELDS}
    session["title"] = s.title if s.renamed else None
    return {
        "format": FORMAT, "version": FORMAT_VERSION, "session": session,
        "turns": [{name: getattr(t, name) for name in _TURN_FIELDS} for t in stored.turns],
        "events": [{"seq": r.seq, "turn": r.turn, "at": r.at, "event": r.event.to_dict()}
                   for r in stored.records],
        "trace": stored.trace,
        # Added within version 1 (readers without it ignore it): the model-written ranges.
        "generated_spans": (None if stored.generated_spans is None
                            else [[a, b] for a, b in stored.generated_spans]),
    }


def to_json(stored: StoredSession, *, indent: int | None = 1) -> str:
    return json.dumps(to_json_dict(stored), ensure_ascii=False, indent=indent) + "\n"


def from_json_dict(data: Any) -> StoredSession:
    """Rebuild a ``StoredSession`` from ``to_json_dict`` output; clear errors for anything else."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ImportFormatError("this is not an iisearch session export",
                                hint=f'Export files have "format": "{FORMAT}".')
    if data.get("version") != FORMAT_VERSION:
        raise ImportFormatError(f"unsupported export version {data.get('version')!r}",
                                hint="It was written by a newer iisearch-local; update it.")
    try:
        raw = data["session"]
        title = raw.get("title")
        summary = SessionSummary(
            **{name: raw[name] for name in _SESSION_FIELDS}, title=title or raw["question"],
            renamed=title is not None, turns=len(data["turns"]), events=len(data["events"]))
        turns = tuple(Turn(**{name: t[name] for name in _TURN_FIELDS}) for t in data["turns"])
        records = tuple(EventRecord(seq=r["seq"], turn=r["turn"], at=r["at"],
                                    event=ev.event_from_dict(r["event"]))
                        for r in data["events"])
        trace = data["trace"]
        if not isinstance(trace, str):
            raise TypeError("the trace is not text")
        spans = _spans(data.get("generated_spans"), len(trace))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ImportFormatError(f"the session export is damaged ({type(exc).__name__}: {exc})") \
            from None
    return StoredSession(summary=summary, turns=turns, records=records, trace=trace,
                         generated_spans=spans)


def _spans(value: Any, length: int) -> tuple[tuple[int, int], ...] | None:
    """Validated generated spans: increasing ``[start, end)`` pairs inside the trace."""
    if value is None:
        return None
    spans: list[tuple[int, int]] = []
    for item in value:
        start, end = (int(v) for v in item)
        if not 0 <= start < end <= length or (spans and start < spans[-1][1]):
            raise ValueError(f"generated span {item!r} is outside the trace or out of order")
        spans.append((start, end))
    return tuple(spans)


def import_session(store: SessionStore, source: str | bytes | Path | dict[str, Any], *,
                   keep_id: bool = True) -> str:
    """Store an exported session (JSON text, a file path, or parsed data); returns its id."""
    if isinstance(source, Path):
        source = source.read_bytes()
    if isinstance(source, str | bytes):
        try:
            source = json.loads(source)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ImportFormatError(f"the file is not valid JSON ({exc})") from None
    return store.insert(from_json_dict(source), keep_id=keep_id)


# --- Markdown ---------------------------------------------------------------------------------


def to_markdown(stored: StoredSession, *, trace: bool = False) -> str:
    """A readable document: questions, answers and numbered references (``trace``: the research)."""
    s = stored.summary
    where = ", ".join(p for p in (f"{s.protocol} protocol", f"{s.backend} backend",
                                  "offline" if s.offline else "") if p)
    parts = [f"# {_one_line(s.title)}", "",
             f"- Session: `{s.id}`", f"- Model: {s.model} ({where})",
             f"- Created: {utc_time(s.created_at)}", f"- Status: {s.status}", ""]
    several = len(stored.turns) > 1
    for turn in stored.turns:
        parts += _turn_markdown(stored, turn, several=several, trace=trace)
    return "\n".join(parts).rstrip("\n") + "\n"


def _turn_markdown(stored: StoredSession, turn: Turn, *, several: bool,
                   trace: bool) -> list[str]:
    label = f" {turn.number}" if several else ""
    follow = " (follow-up)" if turn.number > 1 else ""
    out = [f"## Question{label}{follow}", "", turn.question.strip(), ""]
    finished = stored.finished(turn.number)
    out += [f"## Answer{label}", ""]
    if turn.answer.strip():
        out += [turn.answer.strip(), ""]
    if turn.status != "answered":
        why = f": {turn.detail}" if turn.detail else ""
        out += [f"_{'No answer' if not turn.answer.strip() else 'Ended'} ({turn.status}{why})_", ""]
    if finished is not None and finished.sources:
        out += ["### References", ""]
        for source in finished.sources:
            out.append(f"{source.number}. {_one_line(source.title or source.url)}: <{source.url}>")
            if source.supporting_text:
                out.append(f"   > {_one_line(source.supporting_text)}")
        out.append("")
    if finished is not None and finished.report:
        out += [f"## Report{label}", "", finished.report.strip(), ""]
    if trace:
        out += [f"### Research{label}", ""]
        out += trace_markdown(stored.turn_events(turn.number))
    return out


def trace_markdown(events: list[ev.Event]) -> list[str]:
    """The research steps of one turn as Markdown lines (deltas of one kind joined)."""
    out: list[str] = []
    reasoning = ""
    for event in events + [ev.Notice(code="", message="")]:  # a sentinel flushes the reasoning
        if isinstance(event, ev.ReasoningDelta):
            reasoning += event.text
            continue
        if reasoning.strip():
            out += [f"> {line}" if line else ">" for line in reasoning.strip().splitlines()]
            out.append("")
        reasoning = ""
        out += _step_markdown(event)
    return out


def _step_markdown(event: ev.Event) -> list[str]:
    if isinstance(event, ev.CodeBlock):
        return [f"**Code {event.index}**", "", *_fence(event.code, "python"), ""]
    if isinstance(event, ev.CodeResult):
        return [*_fence(event.observation, "output"), ""]
    if isinstance(event, ev.ToolCall):
        arguments = json.dumps(event.arguments, ensure_ascii=False, indent=1)
        return [f"**Tool call {event.index}: {event.name}**", "", *_fence(arguments, "json"), ""]
    if isinstance(event, ev.ToolResult):
        text = event.output if event.error is None else f"{event.output}\n{event.error}".strip()
        return [*_fence(text, "output"), ""]
    if isinstance(event, ev.SearchDone):
        head = f"- Search `{_one_line(event.query)}`: " + (
            f"failed ({event.error})" if event.error else f"{len(event.hits)} results")
        return [head, *(f"  {hit.index}. [{_link_text(hit.title or hit.url)}](<{hit.url}>)"
                        for hit in event.hits), ""]
    if isinstance(event, ev.VisitDone):
        what = f"failed ({event.error})" if event.error else _link_text(event.title or event.url)
        return [f"- Visit <{event.url}>: {what}", ""]
    if isinstance(event, ev.FunctionDone):
        args = ", ".join(f"{k}={v!r}" for k, v in event.arguments.items())
        return [f"- Called `{event.name}({args})`" + (f": failed ({event.error})"
                                                      if event.error else ""), ""]
    if isinstance(event, ev.Notice) and event.message:
        return [f"_Note: {event.message}_", ""]
    if isinstance(event, ev.AnswerReset):
        return [f"_The text before this was not the answer ({event.reason})._", ""]
    if isinstance(event, ev.Finished):
        st = event.stats
        return [f"_Finished: {event.reason} - {st.searches} searches, {st.visits} visits, "
                f"{st.tool_calls} tool calls, {st.completion_tokens} tokens generated, "
                f"{st.wall_seconds:.1f} s_", ""]
    return []  # answer and report text are shown in their own sections


def _fence(text: str, language: str) -> list[str]:
    """A code fence longer than any run of backticks inside ``text``."""
    longest = max((len(m.group()) for m in _BACKTICKS.finditer(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", text.rstrip("\n"), fence]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _link_text(text: str) -> str:
    return _one_line(text).replace("[", "\\[").replace("]", "\\]")


def utc_time(stamp: float) -> str:
    """``2025-06-02 14:03 UTC``: how exports write times (the same on every machine)."""
    return datetime.fromtimestamp(stamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
