"""``iisearch ask``: research one question headless and print the cited answer.

Streams the model's reasoning, code, tool results and answer to the terminal, then the answer
with numbered sources. ``--json`` prints only the final event as JSON. Exit codes: 0 answered,
3 no answer, 1 an error (the message says which), 130 cancelled with Ctrl-C. Each run is
recorded in the session history as it goes (``ask_saving``); ``--continue ID`` follows one up.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax

from ..errors import UserFacingError
from ..research import events as ev
from ..research.factory import SAMPLE_SOURCE
from ..research.session import ResearchSession
from ..research.settings import PROTOCOLS

OUTPUT_PREVIEW_LINES = 12  # lines of a tool output shown in the terminal (the model sees all)
EXIT_NO_ANSWER = 3
EXIT_CANCELLED = 130


class NoAnswerError(UserFacingError):
    """The session ended without an answer."""

    exit_code = EXIT_NO_ANSWER


@click.command("ask")
@click.argument("question")
@click.option("--model", "model_name", help="Model name, .gguf file or MLX folder "
              "(default: model.name from the config).")
@click.option("--backend", type=click.Choice(["auto", "llama", "mlx", "openai"]), default=None,
              help="Force a backend (default: backend.name from the config); "
              "'openai' uses the server in [openai] and --model names its model.")
@click.option("--search", "engines", multiple=True, metavar="NAME",
              help="Search engine to use (repeat for a fallback chain; default: search.engines). "
                   f"'{SAMPLE_SOURCE}' uses a few built-in pages, without the network.")
@click.option("--offline", is_flag=True, default=None,
              help="Never touch the network: local engines and the page cache only.")
@click.option("--report/--no-report", default=None,
              help="Also write a structured, cited report (default: research.report).")
@click.option("--json", "as_json", is_flag=True, help="Print only the final result as JSON.")
@click.option("--protocol", type=click.Choice(PROTOCOLS), default=None,
              help="Force the model family (default: from the model registry).")
@click.option("--save/--no-save", default=None,
              help="Record the session in the history (default: sessions.save).")
@click.option("--continue", "continue_id", metavar="ID", default=None,
              help="Ask QUESTION as a follow-up of a stored session (see `iisearch sessions`).")
@click.pass_obj
def command(app, question: str, model_name: str | None, backend: str | None,
            engines: tuple[str, ...], offline: bool | None, report: bool | None, as_json: bool,
            protocol: str | None, save: bool | None, continue_id: str | None) -> None:
    """Research QUESTION with the model and print the answer with its sources."""
    from ..research.factory import ResearchRuntime, plan_session
    from .ask_saving import AskHistory

    plan = plan_session(app.config, model=model_name, backend=backend, protocol=protocol,
                        engines=engines, offline=offline, report=report)
    history = AskHistory.open(save=app.config.get("sessions.save") if save is None else save,
                              continue_id=continue_id)
    try:
        history.check_can_continue(plan.protocol, plan.model_name)
        with ResearchRuntime.open(plan, app.config) as runtime:
            session = history.new_session(runtime)
            try:
                finished = run_ask(session, question, console=Console(stderr=as_json),
                                   as_json=as_json, wrap=lambda events: history.recorded(
                                       events, session=session, question=question,
                                       runtime=runtime))
            finally:
                session.close()
    finally:
        history.close()
    exit_for(finished)


def run_ask(session: ResearchSession, question: str, *, console: Console,
            as_json: bool = False, out: Callable[[str], None] | None = None,
            wrap: Callable[[Iterator[ev.Event]], Iterator[ev.Event]] | None = None) -> ev.Finished:
    """Run the session, render its events, and return the ``Finished`` event.

    ``wrap`` sees the event stream first (``iisearch ask`` records it in the session store).
    """
    view = None if as_json else TerminalView(console)
    finished: ev.Finished | None = None
    with _cancel_on_interrupt(session):
        events = session.run(question)
        for event in (wrap(events) if wrap is not None else events):
            if view is not None:
                view.show(event)
            if isinstance(event, ev.Finished):
                finished = event
    assert finished is not None  # every run ends with Finished
    if as_json:
        (out or click.echo)(json.dumps(finished.to_dict(), ensure_ascii=False, indent=2))
    return finished


def exit_for(finished: ev.Finished) -> None:
    """Turn how the run ended into the exit code (and message) of the command."""
    if finished.reason == "cancelled":
        click.echo("Cancelled.", err=True)
        raise click.exceptions.Exit(EXIT_CANCELLED)
    if finished.reason == "error":
        raise UserFacingError(f"the research stopped: {finished.detail}")
    if not finished.answer:
        raise NoAnswerError(f"the model gave no answer ({finished.detail or finished.reason})",
                            hint="Try again, raise backend.context_size, or use a larger quant.")
    if finished.reason == "length":
        click.echo("Note: the answer was cut at research.answer_max_tokens.", err=True)


class TerminalView:
    """Renders the event stream with rich: reasoning dim, code highlighted, answer plain."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._streaming: str | None = None  # "reasoning" / "answer" while deltas flow
        self._answer = ""  # the answer text streamed so far

    def show(self, event: ev.Event) -> None:
        c = self.console
        if isinstance(event, ev.ReasoningDelta):
            self._stream("reasoning", event.text, "dim")
        elif isinstance(event, ev.AnswerDelta):
            if self._streaming != "answer":
                self._end_stream()
                c.rule("Answer", style="green")
            self._answer += event.text
            self._stream("answer", event.text, "")
        elif isinstance(event, ev.ReportDelta):
            self._stream("report-reasoning" if event.reasoning else "report", event.text,
                         "dim" if event.reasoning else "")
        else:
            self._end_stream()
            self._show_block(event)

    def _show_block(self, event: ev.Event) -> None:
        c = self.console
        if isinstance(event, ev.SessionStarted):
            c.print(f"[bold]{event.question}[/bold]  [dim]({event.model}, {event.protocol})[/dim]")
        elif isinstance(event, ev.CodeBlock):
            c.print(Panel(Syntax(event.code, "python", word_wrap=True), title=f"code {event.index}",
                          title_align="left", border_style="blue"))
        elif isinstance(event, ev.CodeResult):
            style = "red" if event.error else "dim"
            c.print(_preview(event.observation), style=style, markup=False, highlight=False)
        elif isinstance(event, ev.ToolCall):
            args = ", ".join(f"{k}={v!r}" for k, v in event.arguments.items())
            c.print(f"[blue]tool {event.index}[/blue] {event.name}({args})", highlight=False)
        elif isinstance(event, ev.SearchDone):
            c.print(f"[cyan]search[/cyan] {event.query!r}: {len(event.hits)} results "
                    f"[dim]({event.seconds:.1f} s)[/dim]", highlight=False)
        elif isinstance(event, ev.VisitDone):
            what = f"failed: {event.error}" if event.error else (event.title or "(untitled)")
            c.print(f"[cyan]visit[/cyan] {event.url} [dim]{what} ({event.seconds:.1f} s)[/dim]",
                    highlight=False)
        elif isinstance(event, ev.AnswerReset):
            self._answer = ""
            c.print(f"[yellow]({event.reason}; that text was not the answer)[/yellow]")
        elif isinstance(event, ev.Notice):
            c.print(f"[yellow]{event.message}[/yellow]", highlight=False)
        elif isinstance(event, ev.Finished):
            self._show_finished(event)

    def _show_finished(self, event: ev.Finished) -> None:
        c = self.console
        if event.answer and event.answer != self._answer.strip():  # not (all) streamed already
            c.rule("Answer", style="green")
            c.print(event.answer, markup=False, highlight=False)
        if event.sources:
            c.print("\n[bold]Sources[/bold]")
            for source in event.sources:
                flag = "" if source.visited else (" [dim](from search results)[/dim]"
                                                  if source.searched else " [red](not seen)[/red]")
                c.print(f"\\[{source.number}] {escape(source.title)} - {escape(source.url)}{flag}",
                        highlight=False)
                if source.supporting_text:
                    c.print(f"    {source.supporting_text}", style="dim", markup=False)
        if event.report:
            c.rule("Report", style="green")
            c.print(event.report, markup=False, highlight=False)
        s = event.stats
        c.print(f"[dim]{event.reason}{' (forced: ' + event.detail + ')' if event.forced else ''}"
                f" - {s.searches} searches, {s.visits} visits, {s.tool_calls} tool calls, "
                f"{s.completion_tokens} tokens generated, {s.wall_seconds:.1f} s[/dim]",
                highlight=False)

    def _stream(self, kind: str, text: str, style: str) -> None:
        if self._streaming != kind:
            self._end_stream()
            self._streaming = kind
        self.console.print(text, end="", style=style or None, markup=False, highlight=False,
                           soft_wrap=True)

    def _end_stream(self) -> None:
        if self._streaming is not None:
            self.console.print()
            self._streaming = None


def _preview(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= OUTPUT_PREVIEW_LINES:
        return text
    hidden = len(lines) - OUTPUT_PREVIEW_LINES
    return "\n".join(lines[:OUTPUT_PREVIEW_LINES] + [f"... ({hidden} more lines)"])


@contextmanager
def _cancel_on_interrupt(session: ResearchSession) -> Iterator[None]:
    """First Ctrl-C cancels the session cleanly (the trace is kept); a second one aborts."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, previous)
        print("\nCancelling... (Ctrl-C again to abort)", file=sys.stderr)
        session.cancel()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
