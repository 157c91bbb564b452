"""``iisearch-tui``: ask a question, watch the model research, read the cited answer.

Layout: a history sidebar (toggle with Ctrl+B), the transcript, the question box and a status
bar. The model loads and researches in thread workers driven by ``controller.ResearchController``
(no Textual there); the transcript drains the controller's event batches on a timer, so a fast
model never floods the screen and keys are echoed at once.
"""

from __future__ import annotations

import asyncio
import gc
import webbrowser
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Markdown

from iisearch_local import __version__
from iisearch_local.config import Config, load_config
from iisearch_local.errors import ConfigError, UserFacingError

from .controller import ResearchController, RuntimeProvider
from .widgets.history import HistorySidebar
from .widgets.status import StatusBar, status_content
from .widgets.transcript import SourceRequested, Transcript

STATUS_SECONDS = 0.25  # how often the status bar is refreshed
HISTORY_LIMIT = 200  # sessions listed in the sidebar


def open_store() -> Any:
    """The user's session store (``sessions.db`` in the user data folder)."""
    from iisearch_local.sessions import SessionStore

    return SessionStore()


class IISearchApp(App[None]):
    """Deep research on your own machine."""

    CSS_PATH = "app.tcss"
    TITLE = "iisearch-local"
    SUB_TITLE = f"v{__version__}"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+n", "new_session", "New"),
        Binding("ctrl+r", "continue_session", "Continue"),
        Binding("escape", "cancel_research", "Cancel", show=False),
        Binding("ctrl+t", "toggle_reasoning", "Reasoning"),
        Binding("ctrl+y", "copy_answer", "Copy answer"),
        Binding("ctrl+s", "export", "Export"),
        Binding("ctrl+b", "toggle_sidebar", "History"),
        Binding("ctrl+o", "sources", "Sources"),
        Binding("f1", "help", "Help"),
        Binding("f2", "settings", "Settings"),
        Binding("f3", "models", "Models"),
    ]

    def __init__(self, *, config: Config | None = None, provider: RuntimeProvider | None = None,
                 store: Any = None, open_url: Callable[[str], object] | None = None,
                 config_path: Path | None = None) -> None:
        super().__init__()
        self.config_error: UserFacingError | None = None
        if config is None:
            try:
                config = load_config(config_path)
            except ConfigError as exc:  # a broken file must not cost a traceback
                self.config_error = exc
                config = load_config(Path("/nonexistent/iisearch.toml"), environ={})
        self.config_path = config_path
        # store=None opens the user's session store; store=False runs without history.
        self._owns_store = store is None
        self.store = None if store is False else (store if store is not None else self._safe_store())
        self.controller = ResearchController(
            config, provider=provider, store=self.store,
            on_created=lambda _sid: self.call_from_thread(self._history_changed))
        self.open_url = open_url or webbrowser.open
        self._history_query = ""
        # Refreshes take turns: cancelling one mid-way through its mounts (an exclusive worker)
        # could leave the list waiting forever, and two interleaved ones would mix their items.
        self._history_lock = asyncio.Lock()

    def _safe_store(self) -> Any:
        try:
            return open_store()
        except Exception as exc:  # noqa: BLE001 - a broken history must not stop research
            self.config_error = UserFacingError(f"the session history cannot be opened: {exc}")
            return None

    # --- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # Kept as attributes: the timers use them while a dialog screen is on top.
        self.sidebar = HistorySidebar(id="history")
        self.transcript = Transcript(
            id="transcript", code_block_limit=self.controller.config.get("research.max_code_blocks"))
        self.question = Input(placeholder="Ask a question and press Enter  ·  Esc cancels  ·  "
                                          "F1 help", id="question")
        self.status_bar = StatusBar(id="status")
        with Horizontal(id="body"):
            yield self.sidebar
            with Vertical(id="main"):
                yield self.transcript
                yield self.question
        yield self.status_bar
        yield Footer()

    async def on_mount(self) -> None:
        self.transcript.start_pump(self.controller.batcher.drain)
        self.set_interval(STATUS_SECONDS, self.refresh_status)
        self.question.focus()
        self.sidebar.display = self.store is not None
        await self.refresh_history()
        if self.config_error is not None:
            self.notify(str(self.config_error), title="Settings", severity="error", timeout=10)
        self.check_model()
        # Everything loaded so far lives as long as the app: keep it out of the collector's
        # full passes, which otherwise stall the screen for tens of milliseconds.
        gc.freeze()

    def check_model(self) -> bool:
        """Show the welcome screen while there is no model to run; else start loading it."""
        from .screens.welcome import WelcomeScreen

        try:
            self.controller.check()
        except UserFacingError as exc:
            if isinstance(self.screen, WelcomeScreen):
                self.screen.show_problem(exc)
            else:
                self.push_screen(WelcomeScreen(exc))
            return False
        if isinstance(self.screen, WelcomeScreen):
            self.pop_screen()
        self.refresh_status()
        self.load_model()
        return True

    def refresh_status(self) -> None:
        plan, runtime = self.controller.plan, self.controller.runtime
        if plan is None or not self.status_bar.is_mounted:
            return
        backend = runtime.backend_name if runtime is not None else plan.backend
        self.status_bar.show(status_content(
            model=plan.model_name, backend=backend, search=", ".join(plan.engines),
            offline=plan.offline, status=self.controller.status))

    async def refresh_history(self) -> None:
        async with self._history_lock:
            if self.store is None or not self.sidebar.is_mounted:
                return
            summaries = self.store.list(limit=HISTORY_LIMIT, query=self._history_query or None)
            await self.sidebar.show(summaries, current=self.controller.session_id)

    def apply_config(self, config: Config | None) -> None:
        """Switch to new settings (model, engines...): the settings and model screens end here."""
        if config is None:
            return
        try:
            self.controller.reconfigure(config)
        except UserFacingError as exc:
            self.notify(f"Saved; {exc.message}. The new settings apply to the next session.",
                        severity="warning")
            return
        self.transcript.code_block_limit = config.get("research.max_code_blocks")
        self.run_worker(self.transcript.clear())
        self.check_model()

    # --- workers ----------------------------------------------------------------------------

    @work(thread=True, group="model", exclusive=True)
    def load_model(self) -> None:
        try:
            self.controller.load()
        except UserFacingError as exc:
            self.call_from_thread(self.notify, str(exc), title="Model", severity="error",
                                  timeout=10)

    @work(thread=True, group="research")
    def research(self, question: str) -> None:
        self.controller.ask(question)
        self.call_from_thread(self._research_done)

    def _research_done(self) -> None:
        self.refresh_status()
        self._history_changed()

    def _history_changed(self) -> None:
        self.run_worker(self.refresh_history(), group="history")

    # --- events -----------------------------------------------------------------------------

    @on(Input.Submitted, "#question")
    def ask(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        if self.controller.running:
            self.notify("A research is running; Esc cancels it.", severity="warning")
            return
        if self.controller.plan is None and not self.check_model():
            return
        event.input.clear()
        self.research(question)

    @on(HistorySidebar.Opened)
    async def open_session(self, event: HistorySidebar.Opened) -> None:
        await self.show_stored(event.session_id)

    @on(HistorySidebar.FilterChanged)
    async def filter_history(self, event: HistorySidebar.FilterChanged) -> None:
        self._history_query = event.query
        await self.refresh_history()

    async def show_stored(self, session_id: str) -> None:
        """Replay a stored session in the transcript; the next question continues it."""
        if self.controller.running:
            self.notify("Cancel the running research first (Esc).", severity="warning")
            return
        try:
            stored = self.controller.open_stored(session_id)
        except (UserFacingError, KeyError, LookupError) as exc:
            self.notify(f"Cannot open that session: {exc}", severity="error")
            return
        await self.transcript.clear()
        await self.transcript.apply(stored.events)
        self.question.focus()

    @on(SourceRequested)
    def _source_requested(self, event: SourceRequested) -> None:
        self.open_source(event.url)

    @on(Markdown.LinkClicked)
    def _link_clicked(self, event: Markdown.LinkClicked) -> None:
        event.stop()
        self.open_source(event.href)

    def open_source(self, url: str) -> None:
        """Open a cited page: the browser online, the text we have of it when offline."""
        from .screens.sources import SourceTextScreen

        plan = self.controller.plan
        offline = plan.offline if plan is not None else bool(self.controller.config.get("search.offline"))
        if offline or url.startswith(("file:", "zim:")):
            found = self.controller.source_text(url)
            if found is None:
                self.notify(f"No cached text of {url}.", severity="warning")
                return
            self.push_screen(SourceTextScreen(url=url, title=found[0], text=found[1]))
            return
        self.open_url(url)

    # --- actions ----------------------------------------------------------------------------

    async def action_new_session(self) -> None:
        if self.controller.running:
            self.controller.cancel()
            self.notify("Cancelled the running research.")
            return
        self.controller.new_session()
        await self.transcript.clear()
        await self.refresh_history()
        self.question.focus()

    async def action_continue_session(self) -> None:
        """Open the highlighted (else the latest) stored session to ask a follow-up."""
        sidebar = self.sidebar
        target = sidebar.highlighted_id() or next(iter(sidebar.session_ids()), None)
        if target is None:
            self.notify("No stored session to continue yet.")
            return
        await self.show_stored(target)
        await self.refresh_history()

    def action_cancel_research(self) -> None:
        if self.controller.cancel():
            self.notify("Cancelling… the trace so far is kept.")

    def action_toggle_reasoning(self) -> None:
        shown = self.transcript.toggle_reasoning()
        self.notify("Reasoning shown." if shown else "Reasoning hidden.", timeout=2)

    def action_copy_answer(self) -> None:
        answer = next((a for a in reversed(self.transcript.answers) if a), "")
        if not answer:
            self.notify("There is no answer to copy yet.", severity="warning")
            return
        self.copy_to_clipboard(answer)
        self.notify("Answer copied to the clipboard.", timeout=2)

    def action_export(self) -> None:
        from .exporting import export_session

        if self.store is None or self.controller.session_id is None:
            self.notify("Nothing to export yet: ask a question or open a session.",
                        severity="warning")
            return
        try:
            path = export_session(self.store, self.controller.session_id)
        except (UserFacingError, OSError) as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return
        self.notify(f"Exported to {path}", title="Export", timeout=8)

    def action_toggle_sidebar(self) -> None:
        sidebar = self.sidebar
        sidebar.display = not sidebar.display

    def action_sources(self) -> None:
        from .screens.sources import SourcesScreen

        self.push_screen(SourcesScreen(self.controller.events))

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        self.push_screen(HelpScreen(self.BINDINGS))

    def action_settings(self) -> None:
        from .screens.settings import SettingsScreen

        self.push_screen(SettingsScreen(self.controller.config, config_path=self.config_path),
                         callback=self.apply_config)

    def action_models(self) -> None:
        from .screens.models import ModelsScreen

        self.push_screen(ModelsScreen(self.controller.config, config_path=self.config_path),
                         callback=self.apply_config)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("New session", "Start a new research conversation",
                            self.action_new_session)
        yield SystemCommand("Continue session", "Reopen the latest session to ask a follow-up",
                            self.action_continue_session)
        yield SystemCommand("Cancel research", "Stop the running research (keeps the trace)",
                            self.action_cancel_research)
        yield SystemCommand("Toggle reasoning", "Show or hide the model's reasoning",
                            self.action_toggle_reasoning)
        yield SystemCommand("Copy answer", "Copy the last answer to the clipboard",
                            self.action_copy_answer)
        yield SystemCommand("Export session", "Save the session as Markdown", self.action_export)
        yield SystemCommand("Switch model", "Pick another installed model, pull one, or use a "
                            "local file", self.action_models)
        yield SystemCommand("Settings", "Model, backend, search engines, sampling, context",
                            self.action_settings)
        yield SystemCommand("Sources", "The sources of the current session", self.action_sources)
        yield SystemCommand("History", "Show or hide the session history",
                            self.action_toggle_sidebar)
        yield SystemCommand("Key bindings", "Help: every key binding", self.action_help)

    async def on_unmount(self) -> None:
        self.controller.close()
        if self._owns_store and self.store is not None:
            self.store.close()  # marks a research still running as interrupted


def main() -> None:
    """Entry point of the ``iisearch-tui`` console script."""
    IISearchApp().run()
