"""Settings: model, backend, search engines and keys, offline, sampling, context size.

Saving writes only the changed keys to the user's ``config.toml`` (checked before it replaces
the file); a value of the wrong type is shown next to the form and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Switch

from iisearch_local.config import Config
from iisearch_local.errors import UserFacingError

from ..user_config import config_path, save_settings

Kind = Literal["text", "int", "float", "bool", "list", "secret", "choice"]


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    kind: Kind = "text"
    choices: tuple[str, ...] = ()


FIELDS: tuple[tuple[str, tuple[Field, ...]], ...] = (
    ("Model", (
        Field("model.name", "Model (name, .gguf file or MLX folder)"),
        Field("model.quant", "GGUF quantization"),
        Field("backend.name", "Backend", "choice", ("auto", "llama", "mlx")),
        Field("backend.context_size", "Context size (tokens)", "int"),
    )),
    ("Search", (
        Field("search.engines", "Search engines, in order (comma separated)", "list"),
        Field("search.offline", "Offline: local engines and the page cache only", "bool"),
        Field("search.searxng.url", "SearXNG URL"),
        Field("search.serper.api_key", "Serper API key", "secret"),
        Field("search.brave.api_key", "Brave Search API key", "secret"),
        Field("search.tavily.api_key", "Tavily API key", "secret"),
    )),
    ("Sampling", (
        Field("sampling.temperature", "Temperature", "float"),
        Field("sampling.top_p", "Top-p", "float"),
        Field("sampling.top_k", "Top-k", "int"),
        Field("sampling.seed", "Seed (-1 = random)", "int"),
    )),
    ("Research", (
        Field("research.report", "Write a cited report after the answer", "bool"),
    )),
)


def field_id(key: str) -> str:
    return "setting-" + key.replace(".", "-").replace("_", "-")


def shown_value(value: Any, kind: Kind) -> str:
    if kind == "list":
        return ", ".join(str(v) for v in value)
    return str(value)


def parse_value(text: str, field: Field) -> Any:
    """The typed value of a form entry; ``ValueError`` with a readable message when it is not."""
    text = text.strip()
    if field.kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{field.label}: {text!r} is not a whole number") from None
    if field.kind == "float":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{field.label}: {text!r} is not a number") from None
    if field.kind == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


class SettingsScreen(ModalScreen[Config | None]):
    """Edit and save the most used settings; dismisses with the new config (None: unchanged)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close"),
                Binding("ctrl+s", "save", "Save", priority=True)]

    def __init__(self, config: Config, *, config_path: Path | None = None) -> None:
        super().__init__()
        self.config = config
        self.path = config_path

    def compose(self) -> ComposeResult:
        with Vertical(id="settings-dialog", classes="dialog"):
            yield Static(Content.styled("Settings", "bold"), classes="dialog-title")
            yield Static(Content.styled(f"Saved to {self.path or config_path()}", "dim"),
                         id="settings-path")
            with VerticalScroll(id="settings-form"):
                for section, fields in FIELDS:
                    yield Static(Content.styled(section, "bold $text-primary"), classes="form-section")
                    for field in fields:
                        yield from self._row(field)
            yield Static("", id="settings-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="save", variant="primary")
                yield Button("Cancel", id="cancel")

    def _row(self, field: Field) -> ComposeResult:
        value = self.config.get(field.key)
        with Horizontal(classes="form-row"):
            yield Label(field.label, classes="form-label")
            if field.kind == "bool":
                yield Switch(value=bool(value), id=field_id(field.key))
            elif field.kind == "choice":
                yield Select([(c, c) for c in field.choices], value=value, allow_blank=False,
                             id=field_id(field.key), compact=True)
            else:
                yield Input(shown_value(value, field.kind), password=field.kind == "secret",
                            id=field_id(field.key), classes="form-input", compact=True)

    def changes(self) -> dict[str, Any]:
        """The settings that differ from the current config; ``ValueError`` on a bad entry."""
        changed: dict[str, Any] = {}
        for _section, fields in FIELDS:
            for field in fields:
                widget = self.query_one(f"#{field_id(field.key)}")
                if isinstance(widget, Switch):
                    value: Any = widget.value
                elif isinstance(widget, Select):
                    value = widget.value
                else:
                    value = parse_value(widget.value, field)  # type: ignore[attr-defined]
                current = self.config.get(field.key)
                if field.kind == "list":
                    current = list(current)
                if value != current:
                    changed[field.key] = value
        return changed

    def action_save(self) -> None:
        error = self.query_one("#settings-error", Static)
        try:
            changed = self.changes()
            if not changed:
                self.dismiss(None)
                return
            config = save_settings(changed, path=self.path)
        except (ValueError, UserFacingError) as exc:
            error.update(Content.styled(str(exc), "$text-error"))
            return
        self.app.notify(f"Saved {len(changed)} setting(s).", timeout=3)
        self.dismiss(config)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)
