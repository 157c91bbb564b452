"""The sources of the current conversation, and the cached text of one page (offline)."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from iisearch_local.research import events as ev

from ..sources import all_sources


def source_prompt(source: ev.Source) -> Content:
    how = "read" if source.visited else ("search result" if source.searched else "not seen")
    parts: list[tuple[str, str] | str] = [(f"[{source.number}] ", "bold"), (source.title, "bold"),
                                          (f"  ({how})\n", "dim"), (source.url, "underline")]
    if source.supporting_text:
        parts.append((f"\n“{source.supporting_text}”", "italic dim"))
    return Content.assemble(*parts)


class SourcesScreen(ModalScreen[None]):
    """Every source the answers cited; Enter opens one."""

    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def __init__(self, events: Sequence[ev.Event]) -> None:
        super().__init__()
        self.sources = all_sources(events)

    def compose(self) -> ComposeResult:
        with Vertical(id="sources-dialog", classes="dialog"):
            yield Static(Content.styled("Sources", "bold"), classes="dialog-title")
            if self.sources:
                yield OptionList(*[Option(source_prompt(s), id=str(i))
                                   for i, s in enumerate(self.sources)], id="sources-list")
                yield Static(Content.styled("Enter opens the page (its cached text when offline).",
                                            "dim"))
            else:
                yield Static("No sources yet: the answer of this session cites none.",
                             id="sources-empty")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close")

    @on(OptionList.OptionSelected, "#sources-list")
    def _open(self, event: OptionList.OptionSelected) -> None:
        source = self.sources[int(event.option_id or 0)]
        self.app.open_source(source.url)  # type: ignore[attr-defined]

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)


class SourceTextScreen(ModalScreen[None]):
    """The text we have of a page: what the model read, or the page cache's copy."""

    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def __init__(self, *, url: str, title: str, text: str) -> None:
        super().__init__()
        self.url, self.page_title, self.text = url, title, text

    def compose(self) -> ComposeResult:
        with Vertical(id="source-text-dialog", classes="dialog"):
            yield Static(Content.styled(self.page_title, "bold"), classes="dialog-title")
            yield Static(Content.styled(self.url, "underline dim"), id="source-url")
            with VerticalScroll(id="source-text-scroll"):
                yield Static(Content(self.text), id="source-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close")

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)
