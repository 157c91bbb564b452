"""Help: every key binding, and where to find the rest."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

ACTION_HELP = {
    "quit": "Quit",
    "new_session": "New session (cancels a running research first)",
    "continue_session": "Continue: reopen the highlighted or latest session for a follow-up",
    "cancel_research": "Cancel the running research (the trace so far is kept)",
    "toggle_reasoning": "Show or hide the model's reasoning",
    "copy_answer": "Copy the last answer to the clipboard",
    "export": "Export the session as Markdown",
    "toggle_sidebar": "Show or hide the history",
    "sources": "Sources of the current session",
    "help": "This help",
    "settings": "Settings: model, backend, search engines and keys, offline, sampling",
    "models": "Models: installed ones, pull one, use a local file (switch model)",
}
EXTRA_KEYS = (
    ("Enter", "Ask the question (a follow-up when a session is open)"),
    ("Ctrl+P", "Command palette: every action by name"),
    ("Click a citation", "Open the source (its cached text when offline)"),
)
TIPS = ("Sessions are saved as they run; pick one in the history (Ctrl+B) to read it again "
        "or to ask a follow-up. Offline mode (F2) searches only your local index and the page "
        "cache.")


def key_label(key: str) -> str:
    """``ctrl+n,f5`` -> ``Ctrl+N / F5``."""
    names = {"escape": "Esc", "ctrl": "Ctrl", "shift": "Shift", "alt": "Alt"}

    def one(combo: str) -> str:
        return "+".join(names.get(part, part.upper() if len(part) <= 3 else part.title())
                        for part in combo.split("+"))

    return " / ".join(one(part.strip()) for part in key.split(","))


def bindings_content(bindings: Sequence[Binding | tuple[str, ...]]) -> Content:
    """Two aligned columns: the key, and what it does (the action's long help when known)."""
    rows = [(key_label(b.key), ACTION_HELP.get(b.action, b.description or b.action))
            for b in bindings if isinstance(b, Binding)]
    rows += list(EXTRA_KEYS)
    width = max(len(key) for key, _ in rows) + 2
    parts: list[tuple[str, str] | str] = []
    for key, what in rows:
        parts += [(key.ljust(width), "bold $text-accent"), what + "\n"]
    return Content.assemble(*parts).rstrip()


class HelpScreen(ModalScreen[None]):
    """The key bindings of the research screen."""

    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, bindings: Sequence[Binding | tuple[str, ...]]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog", classes="dialog"):
            yield Static(Content.styled("Key bindings", "bold"), classes="dialog-title")
            yield Static(bindings_content(self.bindings), id="help-keys")
            yield Static(Content.styled(TIPS, "dim"), id="help-tips")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close")

    def on_button_pressed(self) -> None:
        self.dismiss(None)
