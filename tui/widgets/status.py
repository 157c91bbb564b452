"""The status bar: model, backend, search engines (or OFFLINE), speed, context, code blocks."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from ..controller import LiveStatus

PHASE_TEXT = {"idle": "", "loading": "loading model…", "researching": "researching",
              "cancelling": "cancelling…"}


def _tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def status_content(*, model: str, backend: str, search: str, offline: bool,
                   status: LiveStatus) -> Content:
    """One line of status text; empty parts are left out."""
    parts: list[tuple[str, str] | str] = [(f" {model} ", "bold"), (f"· {backend} ", "dim")]
    if offline:
        parts.append((" OFFLINE ", "bold reverse $text-warning"))
    parts.append((f" · {search} " if offline else f"· {search} ", "dim" if offline else ""))
    if status.tokens_per_second:
        parts.append((f"· {status.tokens_per_second:.1f} tok/s ", ""))
    if status.context_used is not None and status.context_size:
        share = 100 * status.context_used / status.context_size
        parts.append((f"· ctx {_tokens(status.context_used)}/{_tokens(status.context_size)} "
                      f"({share:.0f}%) ", ""))
    if status.max_steps:
        parts.append((f"· {status.step_kind} {status.steps} of {status.max_steps} ", ""))
    phase = PHASE_TEXT.get(status.phase, status.phase)
    if phase:
        parts.append((f"· {phase}", "italic $text-accent"))
    return Content.assemble(*parts)


class StatusBar(Static):
    """Redrawn by the screen on its timer; only when the text changes."""

    def show(self, content: Content) -> None:
        if content.plain != getattr(self, "_shown", None):
            self._shown = content.plain
            self.update(content)
