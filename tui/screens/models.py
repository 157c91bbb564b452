"""Model manager: installed models, pulling one with progress, or using a local file.

Choosing a model writes ``model.name`` (and its quantization) to the user's config and
dismisses with the new config, which makes the app switch to it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, ProgressBar, Select, Static

from iisearch_local.config import Config
from iisearch_local.errors import UserFacingError
from iisearch_local.models.cache import installed_gguf_quants, installed_mlx_quants
from iisearch_local.models.registry import MODELS, spec_with_config

from ..user_config import save_settings
from .welcome import local_model_error

PROGRESS_SECONDS = 0.1  # how often the progress bar is redrawn during a pull


@dataclass(frozen=True)
class InstalledModel:
    name: str
    fmt: str  # "gguf" / "mlx"
    quant: str


def installed_models(config: Config) -> list[InstalledModel]:
    """Every fully downloaded quantization of every registry model."""
    found = []
    for spec in MODELS.values():
        spec = spec_with_config(spec, config)
        found += [InstalledModel(spec.name, "gguf", q) for q in installed_gguf_quants(spec)]
        found += [InstalledModel(spec.name, "mlx", q) for q in installed_mlx_quants(spec)]
    return found


class PullProgress:
    """A ``TransferProgress`` the download thread updates and the screen's timer reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.label = ""
        self.total: int | None = None
        self.done = 0

    def start(self, label: str, *, total: int | None, completed: int) -> None:
        with self._lock:
            self.label, self.total, self.done = label, total, completed

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self.done += nbytes

    def finish(self) -> None:
        pass

    def snapshot(self) -> tuple[str, int | None, int]:
        with self._lock:
            return self.label, self.total, self.done


class ModelsScreen(ModalScreen[Config | None]):
    """Installed models, a pull form with a progress bar, and a local-file field."""

    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, config: Config, *, config_path: Path | None = None) -> None:
        super().__init__()
        self.config = config
        self.path = config_path
        self.progress = PullProgress()
        self.pulling = False
        self._rows: list[InstalledModel] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="models-dialog", classes="dialog"):
            yield Static(Content.styled("Models", "bold"), classes="dialog-title")
            yield Static(Content.assemble(("In use: ", "dim"), str(self.config.get("model.name"))),
                         id="model-current")
            yield DataTable(id="installed", cursor_type="row", zebra_stripes=True)
            yield Static(Content.styled("Nothing downloaded yet: pull a model below, or use a "
                                        "local file.", "dim"), id="installed-empty")
            yield Button("Use the selected model", id="use-installed", variant="primary")
            yield Static(Content.styled("Pull a model", "bold $text-primary"), classes="form-section")
            with Horizontal(classes="form-row"):
                yield Select([(name, name) for name in MODELS], value=self.config.get("model.name")
                             if self.config.get("model.name") in MODELS else next(iter(MODELS)),
                             allow_blank=False, id="pull-model")
                yield Select([("GGUF (llama.cpp)", "gguf"), ("MLX (Apple Silicon)", "mlx")],
                             value="gguf", allow_blank=False, id="pull-format")
                yield Input(self.config.get("model.quant"), placeholder="quant", id="pull-quant")
                yield Button("Pull", id="pull")
            yield ProgressBar(id="pull-progress", show_eta=False)
            yield Static("", id="pull-status")
            yield Static(Content.styled("Use a local file", "bold $text-primary"), classes="form-section")
            with Horizontal(classes="form-row"):
                yield Input(placeholder="/path/to/model.gguf or MLX folder", id="models-local-path")
                yield Button("Use file", id="use-local")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        table = self.query_one("#installed", DataTable)
        table.add_column("model", width=28)
        table.add_column("format", width=8)
        table.add_column("quantization", width=14)
        self.refresh_installed()
        self.query_one("#pull-progress", ProgressBar).display = False

    def refresh_installed(self) -> None:
        table = self.query_one("#installed", DataTable)
        table.clear()
        self._rows = installed_models(self.config)
        for row in self._rows:
            table.add_row(row.name, row.fmt, row.quant)
        table.display = bool(self._rows)
        self.query_one("#installed-empty", Static).display = not self._rows

    # --- choosing ---------------------------------------------------------------------------

    def _choose(self, changes: dict[str, Any]) -> None:
        try:
            config = save_settings(changes, path=self.path)
        except UserFacingError as exc:
            self._status(str(exc), error=True)
            return
        self.dismiss(config)

    @on(Button.Pressed, "#use-installed")
    def use_installed(self) -> None:
        table = self.query_one("#installed", DataTable)
        if not self._rows or table.cursor_row is None or table.cursor_row >= len(self._rows):
            self._status("Pick an installed model first, or pull one.", error=True)
            return
        row = self._rows[table.cursor_row]
        quant_key = "model.quant" if row.fmt == "gguf" else "model.mlx_quant"
        backend = "llama" if row.fmt == "gguf" else "mlx"
        self._choose({"model.name": row.name, quant_key: row.quant, "backend.name": backend})

    @on(Input.Submitted, "#models-local-path")
    @on(Button.Pressed, "#use-local")
    def use_local(self) -> None:
        text = self.query_one("#models-local-path", Input).value.strip()
        problem = local_model_error(text)
        if problem is not None:
            self._status(problem, error=True)
            return
        self._choose({"model.name": str(Path(text).expanduser())})

    # --- pulling ----------------------------------------------------------------------------

    @on(Button.Pressed, "#pull")
    def start_pull(self) -> None:
        if self.pulling:
            return
        name = str(self.query_one("#pull-model", Select).value)
        fmt = str(self.query_one("#pull-format", Select).value)
        quant = self.query_one("#pull-quant", Input).value.strip() or None
        if fmt == "mlx" and quant == self.config.get("model.quant"):
            quant = None  # the GGUF default does not apply to MLX: use model.mlx_quant
        self.pulling = True
        self.query_one("#pull", Button).disabled = True
        bar = self.query_one("#pull-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self._status(f"Pulling {name} ({fmt})…")
        self._timer = self.set_interval(PROGRESS_SECONDS, self._show_progress)
        self.pull(name, fmt, quant)

    @work(thread=True, group="pull", exclusive=True)
    def pull(self, name: str, fmt: str, quant: str | None) -> None:
        from iisearch_local.models.pull import pull_model

        try:
            result = pull_model(name, quant=quant, fmt=fmt,  # type: ignore[arg-type]
                                config=self.config, progress=self.progress)
        except UserFacingError as exc:
            self.app.call_from_thread(self._pull_done, None, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
            self.app.call_from_thread(self._pull_done, None, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._pull_done, result, None)

    def _show_progress(self) -> None:
        label, total, done = self.progress.snapshot()
        bar = self.query_one("#pull-progress", ProgressBar)
        bar.update(total=total, progress=done)
        if label:
            self._status(f"{label}: {done / 1e6:.1f} of "
                         f"{(total or 0) / 1e6:.1f} MB" if total else f"{label}: {done / 1e6:.1f} MB")

    def _pull_done(self, result: Any, error: str | None) -> None:
        self._timer.stop()
        self.pulling = False
        self.query_one("#pull", Button).disabled = False
        if error is not None:
            self.query_one("#pull-progress", ProgressBar).display = False
            self._status(error, error=True)
            return
        self._show_progress()
        what = "was already there" if result.already_present else "downloaded"
        self._status(f"{result.spec.name} {result.fmt.upper()} {result.quant} {what}: {result.path}")
        self.refresh_installed()

    def _status(self, text: str, *, error: bool = False) -> None:
        self.query_one("#pull-status", Static).update(
            Content.styled(text, "$text-error") if error else Content(text))

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        if self.pulling:
            self._status("A download is running; it goes on until it ends.", error=True)
            return
        self.dismiss(None)
