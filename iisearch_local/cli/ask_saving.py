"""How ``iisearch ask`` keeps its sessions: recorded in the session store, continued from it.

``--continue ID`` reopens a stored session (also one a crash interrupted) and asks the question
as a follow-up on its trace; ``--no-save`` (or ``sessions.save = false``) records nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click

from ..research.events import Event
from ..research.session import ResearchSession
from ..sessions import SessionBusyError, SessionStore, StoredSession, StoreError
from ..sessions.resume import ProtocolMismatchError, resume_session


@dataclass
class AskHistory:
    """The store ``ask`` records into (None: not saving) and the session it continues."""

    store: SessionStore | None
    stored: StoredSession | None = None
    session_id: str | None = None

    @classmethod
    def open(cls, *, save: bool, continue_id: str | None) -> AskHistory:
        """Open the history; without ``--continue`` a broken store only costs the recording."""
        if continue_id is not None:
            store = SessionStore()
            try:
                stored = store.get(store.resolve(continue_id))
            except BaseException:
                store.close()
                raise
            if not save:
                store.close()
            return cls(store if save else None, stored, stored.id if save else None)
        if not save:
            return cls(None)
        try:
            return cls(SessionStore())
        except StoreError as exc:
            click.secho(f"Warning: this session will not be saved: {exc.message}", err=True,
                        fg="yellow")
            return cls(None)

    def check_can_continue(self, protocol: str, model_name: str) -> None:
        """Refuse before the model loads: a session running elsewhere, or of the other protocol."""
        if self.stored is None:
            return
        s = self.stored.summary
        if s.status == "running":  # opening the store marked dead processes' runs interrupted
            raise SessionBusyError(f"session {s.id} is being recorded by another process",
                                   hint="Wait for it to finish, or cancel it there.")
        if s.protocol != protocol:
            raise ProtocolMismatchError(
                f"session {s.id} was researched with a {s.protocol!r} model ({s.model}); "
                f"{model_name} speaks {protocol!r}",
                hint=f"Continue it with --model {s.model} (or --protocol {s.protocol}).")

    def new_session(self, runtime: Any) -> ResearchSession:
        """A fresh session, or one continuing the stored trace and sources."""
        if self.stored is not None:
            return resume_session(runtime, self.stored)
        return runtime.new_session()

    def recorded(self, events: Iterator[Event], *, session: ResearchSession, question: str,
                 runtime: Any) -> Iterator[Event]:
        """``events``, each stored before it is shown (unchanged when not saving)."""
        if self.store is None:
            return events
        from ..sessions.recorder import record

        if self.session_id is None:
            plan = runtime.plan
            self.session_id = self.store.create(
                question=question, model=plan.model_name, backend=runtime.backend_name,
                protocol=plan.protocol, offline=plan.offline)
        return record(self.store, self.session_id, events, session=session)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            if self.session_id is not None:
                click.echo(f"Saved as session {self.session_id} (continue it with: iisearch ask "
                           f"--continue {self.session_id} \"...\").", err=True)
