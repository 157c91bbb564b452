"""First run without a model: what is missing and the two ways to get one."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Static

from iisearch_local.errors import UserFacingError

from ..user_config import save_settings

INTRO = ("iisearch-local researches your questions with a small search-reasoning model "
         "running on this machine. It needs the model's weights first.")


def local_model_error(text: str) -> str | None:
    """Why ``text`` is not a usable local model (None when it looks fine)."""
    if not text:
        return "Type the path of a .gguf file or an MLX model folder."
    path = Path(text).expanduser()
    if not path.exists():
        return f"{path} does not exist."
    if path.is_file() and path.suffix.lower() != ".gguf":
        return f"{path.name} is not a .gguf file."
    if path.is_dir() and not any(path.glob("*.safetensors")) and not any(path.glob("*.gguf")):
        return f"{path} holds no .safetensors or .gguf weights."
    return None


class WelcomeScreen(Screen[None]):
    """Shown instead of the research screen while no model can be loaded."""

    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit", priority=True),
                Binding("f3", "models", "Models")]

    def __init__(self, problem: UserFacingError) -> None:
        super().__init__(id="welcome")
        self.problem = problem

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="welcome-body"):
            yield Static(Content.styled("Welcome to iisearch-local", "bold $text-primary"),
                         id="welcome-title")
            yield Static(INTRO, classes="welcome-text")
            yield Static(Content.assemble(("Missing: ", "bold $text-warning"), self.problem.message),
                         id="welcome-problem")
            if self.problem.hint:
                yield Static(Content.styled(self.problem.hint, "dim"), classes="welcome-text")
            yield Static(Content.styled("1. Download a model", "bold"), classes="welcome-step")
            yield Static("II-Search-CIR-4B (Q4_K_M, about 2.5 GB) is the default. The model "
                         "manager pulls it with a progress bar and lists what is installed.",
                         classes="welcome-text")
            yield Button("Open the model manager (F3)", id="open-models", variant="primary")
            yield Static(Content.styled("2. Or use weights you already have", "bold"),
                         classes="welcome-step")
            yield Static("A .gguf file (llama.cpp) or an MLX model folder (Apple Silicon).",
                         classes="welcome-text")
            with Horizontal(id="local-row"):
                yield Input(placeholder="/path/to/model.gguf or /path/to/mlx-folder",
                            id="local-path")
                yield Button("Use this model", id="use-local")
            yield Static("", id="welcome-error")
            with Vertical(id="welcome-quit"):
                yield Button("Quit", id="quit", variant="default")
        yield Footer()

    def show_problem(self, problem: UserFacingError) -> None:
        """The model is still missing after a change: say what is wrong now."""
        self.problem = problem
        self.query_one("#welcome-problem", Static).update(
            Content.assemble(("Missing: ", "bold $text-warning"), problem.message))
        self.query_one("#welcome-error", Static).update(
            Content.styled(problem.hint or "", "$text-error"))

    def action_models(self) -> None:
        self.app.action_models()  # type: ignore[attr-defined]

    @on(Button.Pressed, "#open-models")
    def _open_models(self) -> None:
        self.action_models()

    @on(Button.Pressed, "#quit")
    def _quit(self) -> None:
        self.app.exit()

    @on(Input.Submitted, "#local-path")
    @on(Button.Pressed, "#use-local")
    def use_local(self) -> None:
        text = self.query_one("#local-path", Input).value.strip()
        problem = local_model_error(text)
        error = self.query_one("#welcome-error", Static)
        if problem is not None:
            error.update(Content.styled(problem, "$text-error"))
            return
        try:
            config = save_settings({"model.name": str(Path(text).expanduser())},
                                   path=self.app.config_path)  # type: ignore[attr-defined]
        except UserFacingError as exc:
            error.update(Content.styled(str(exc), "$text-error"))
            return
        error.update("")
        self.app.apply_config(config)  # type: ignore[attr-defined]
