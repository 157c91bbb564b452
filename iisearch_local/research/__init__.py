"""The research engine: the II-Search protocols as a loop that streams typed events.

``ResearchSession(backend, tools=..., protocol="cir"|"tools")`` runs a question to a cited
answer; ``events`` holds what it yields; ``local_source`` is a small offline source of pages.
"""

from __future__ import annotations

from .events import Event, Finished, event_from_dict
from .session import ResearchError, ResearchSession
from .settings import PROTOCOLS, ResearchSettings

__all__ = ["PROTOCOLS", "Event", "Finished", "ResearchError", "ResearchSession",
           "ResearchSettings", "event_from_dict"]
