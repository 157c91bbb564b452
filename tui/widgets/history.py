"""The history sidebar: every stored session, newest first, filtered by what you type."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Input, Label, ListItem, ListView

TITLE_CHARS = 60  # a session's title is cut to this in the list


def summary_title(summary: Any) -> str:
    title = (getattr(summary, "title", None) or getattr(summary, "question", "") or "(untitled)")
    title = " ".join(str(title).split())
    return title if len(title) <= TITLE_CHARS else title[: TITLE_CHARS - 1] + "…"


def summary_when(summary: Any) -> str:
    """The session's last activity as ``YYYY-MM-DD HH:MM`` (local time)."""
    value = getattr(summary, "updated_at", None) or getattr(summary, "created_at", None)
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value)
    elif isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value[:16]
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone()
        return value.strftime("%Y-%m-%d %H:%M")
    return ""


class SessionItem(ListItem):
    """One stored session in the list."""

    def __init__(self, summary: Any) -> None:
        self.session_id = str(summary.id)
        status = str(getattr(summary, "status", "") or "")
        meta = " · ".join(p for p in (summary_when(summary), status,
                                      str(getattr(summary, "model", "") or "")) if p)
        super().__init__(Label(summary_title(summary), classes="session-title"),
                         Label(Content.styled(meta, "dim"), classes="session-meta"))


class HistorySidebar(Vertical):
    """Filter box and session list; posts ``Opened`` when a session is chosen."""

    class Opened(Message):
        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    class FilterChanged(Message):
        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter history…", id="history-filter")
        yield ListView(id="history-list")

    @property
    def query_text(self) -> str:
        return self.query_one("#history-filter", Input).value.strip()

    async def show(self, summaries: Sequence[Any], *, current: str | None = None) -> None:
        """Replace the list with ``summaries``, keeping ``current`` highlighted."""
        view = self.query_one("#history-list", ListView)
        await view.clear()
        items = [SessionItem(s) for s in summaries]
        if items:
            await view.extend(items)
        ids = [item.session_id for item in items]
        view.index = ids.index(current) if current in ids else (0 if ids else None)

    def session_ids(self) -> Iterable[str]:
        return (item.session_id for item in self.query(SessionItem))

    def highlighted_id(self) -> str | None:
        item = self.query_one("#history-list", ListView).highlighted_child
        return item.session_id if isinstance(item, SessionItem) else None

    @on(Input.Changed, "#history-filter")
    def _filter(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.FilterChanged(event.value.strip()))

    @on(Input.Submitted, "#history-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#history-list", ListView).focus()

    @on(ListView.Selected, "#history-list")
    def _selected(self, event: ListView.Selected) -> None:
        event.stop()
        if isinstance(event.item, SessionItem):
            self.post_message(self.Opened(event.item.session_id))
