"""Continuing a stored session, also one interrupted by a crash: same trace, same sources.

The models keep their earlier reasoning in the history, so a follow-up runs on the stored raw
trace. The pages the earlier turns searched and read are given back to the new session's
source book, so a follow-up answer citing them gets its supporting text and "visited" flags.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..research.events import Event, SearchDone, VisitDone
from ..research.session import ResearchSession
from .models import StoredSession, StoreError


class ProtocolMismatchError(StoreError):
    """The stored session was researched with a model of the other protocol."""


def restore_sources(session: ResearchSession, events: Iterable[Event],
                    search_tools: Any = None) -> None:
    """Teach ``session`` (and the search layer, if it can learn) what earlier turns found."""
    remember = getattr(search_tools, "remember_searched", None)
    for event in events:
        if isinstance(event, SearchDone | VisitDone):
            session.sources.record(event)
        if remember is not None and isinstance(event, SearchDone):
            remember([hit.url for hit in event.hits])  # visits of earlier results stay allowed


def resume_session(runtime: Any, stored: StoredSession) -> ResearchSession:
    """A session on ``runtime`` (a ``ResearchRuntime``) that continues ``stored``."""
    plan = runtime.plan
    if stored.summary.protocol != plan.protocol:
        raise ProtocolMismatchError(
            f"session {stored.id} was researched with a {stored.summary.protocol!r} model "
            f"({stored.summary.model}); {plan.model_name} speaks {plan.protocol!r}",
            hint=f"Continue it with --model {stored.summary.model} (or --protocol "
                 f"{stored.summary.protocol}).")
    session = runtime.new_session(trace=stored.trace, generated_spans=stored.generated_spans)
    restore_sources(session, stored.events, getattr(runtime, "search_tools", None))
    return session
