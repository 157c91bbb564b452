"""``record``: pass a research session's events on, each one stored before it is seen.

    for event in record(store, sid, session.run(question), session=session):
        show(event)

Every event is committed before it is yielded, so whatever a consumer has shown is on disk.
With ``session`` given, the raw trace is saved together with every event that is not a streamed
delta (only the text added since the last save is written), so after a crash a follow-up
continues from the last completed step. If the stream raises, the turn is marked "error"; if the
consumer stops early (``close()``, ``break``, Ctrl-C), "cancelled". Either way what was recorded
stays, and the trace keeps what the session had written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from ..research.events import AnswerDelta, Event, Finished, ReasoningDelta, ReportDelta
from .store import SessionStore

_DELTAS = (ReasoningDelta, AnswerDelta, ReportDelta)  # the trace does not change between these


class HasTrace(Protocol):
    @property
    def trace(self) -> str: ...


def record(store: SessionStore, session_id: str, events: Iterable[Event], *,
           session: HasTrace | None = None) -> Iterator[Event]:
    """Yield ``events`` unchanged, storing each one (and the trace) first."""
    stream = iter(events)
    ended = False  # a Finished was stored: the turn has its status
    failing = False  # an exception is on its way out: do not hide it behind a store error
    outcome, detail = "cancelled", "stopped before the end"
    try:
        for event in stream:
            if session is None or isinstance(event, _DELTAS):
                store.append_event(session_id, event)
            else:
                store.append_event(session_id, event, trace=session.trace,
                                   spans=getattr(session, "generated_spans", None))
            ended = ended or isinstance(event, Finished)
            yield event
    except GeneratorExit:
        raise
    except KeyboardInterrupt:
        failing, detail = True, "interrupted with Ctrl-C"
        raise
    except BaseException as exc:
        failing, outcome, detail = True, "error", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # let the session put the text of an unfinished generation into its trace
        try:
            if session is not None:
                store.set_trace(session_id, session.trace,
                                spans=getattr(session, "generated_spans", None))
            if not ended:
                store.end_turn(session_id, outcome, detail)
        except Exception:
            if not failing:
                raise
