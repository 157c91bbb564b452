"""The ``iisearch-tui`` application (placeholder screen until the TUI issue lands)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static

from iisearch_local import __version__


class IISearchApp(App[None]):
    """Deep research on your own machine."""

    CSS_PATH = "app.tcss"
    TITLE = "iisearch-local"
    SUB_TITLE = f"v{__version__}"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit", priority=True), Binding("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            "Welcome to iisearch-local.\n\n"
            "The research screen is on its way. Meanwhile, from a terminal:\n"
            "  iisearch models list\n"
            "  iisearch generate --model PATH.gguf \"Hello\"\n",
            id="welcome",
        )
        yield Footer()


def main() -> None:
    """Entry point of the ``iisearch-tui`` console script."""
    IISearchApp().run()
