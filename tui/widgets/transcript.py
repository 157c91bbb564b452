"""The transcript: a research conversation drawn from its event stream, live or replayed.

Each question opens a turn: the model's reasoning (streamed, collapsible, collapsed once the
answer starts), each code block highlighted with its output below and the searches and visits
it made inside it, then the answer as markdown with numbered citations and the sources list.
The same ``apply`` draws a live run (batches from the controller) and a stored session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Collapsible, Markdown, Static

from iisearch_local.research import events as ev

from ..sources import numbered_answer, sources_markdown

PUMP_SECONDS = 0.04  # how often queued events are drawn: at most 25 screen updates a second
REASONING_PIECE_CHARS = 400  # reasoning is drawn in pieces of about this size (see ReasoningView)
OUTPUT_PREVIEW_LINES = 14  # lines of a code output shown (the model saw all of it)
SEARCH_FUNCTIONS = {"web_search", "web_visit", "visit_webpage"}  # drawn from their own events
END_TEXT = {
    "answered": "answered",
    "length": "answered (cut at the answer length limit)",
    "no_answer": "no answer",
    "cancelled": "cancelled: the trace so far is kept; ask a follow-up to continue",
    "error": "stopped by an error",
}


class SourceRequested(Message):
    """The user asked to open a source (a citation, a visit line, the sources list)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url


class ReasoningView(Collapsible):
    """The model's thinking of one stretch of a turn, streamed as plain text.

    While it streams it is a "live" window of a few lines that scrolls by itself, so the
    transcript around it keeps still and each update repaints only that window; once the
    stretch ends (``settle``) the whole text is shown. The text is kept in pieces of about
    ``REASONING_PIECE_CHARS``: only the last piece is redrawn as tokens arrive.
    """

    def __init__(self) -> None:
        self.body = Static("", classes="reasoning-text", markup=False)
        self._quiet = False
        super().__init__(self.body, title="Thinking…", collapsed=False, classes="reasoning -live")
        self.text = ""
        self._tail_start = 0  # where the text of the last piece (``body``) starts

    def on_mount(self) -> None:
        self.query_one(Collapsible.Contents).anchor()

    async def append(self, text: str) -> None:
        self.text += text
        tail = self.text[self._tail_start:]
        cut = tail.rfind("\n", 0, len(tail) - 1)
        if len(tail) > REASONING_PIECE_CHARS and cut > 0:
            self.body.update(tail[:cut].strip("\n"))
            self._tail_start += cut + 1
            self.body = Static("", classes="reasoning-text", markup=False)
            await self.query_one(Collapsible.Contents).mount(self.body)
            tail = self.text[self._tail_start:]
        self.body.update(tail.strip("\n") if self._tail_start == 0 else tail.rstrip("\n"))

    def fold(self, collapsed: bool) -> None:
        """Collapse or open without scrolling to it (the reader stays where they are)."""
        self._quiet = True
        try:
            self.collapsed = collapsed
        finally:
            self._quiet = False

    def _watch_collapsed(self, collapsed: bool) -> None:
        if self._quiet:
            self._update_collapsed(collapsed)
        else:
            super()._watch_collapsed(collapsed)

    def settle(self) -> None:
        words = len(self.text.split())
        self.title = f"Reasoning ({words} words)"
        self.remove_class("-live")


class ToolLine(Static):
    """One search or visit (or other function call) as a compact line; a click opens its URL."""

    def __init__(self, content: Content, *, url: str | None = None, error: bool = False) -> None:
        super().__init__(content, classes="tool-line" + (" error" if error else ""))
        self.url = url

    def on_click(self) -> None:
        if self.url:
            self.post_message(SourceRequested(self.url))


def tool_line(event: ev.Event) -> ToolLine | None:
    """The line drawn for a search, visit or other function event (None for others)."""
    if isinstance(event, ev.SearchDone):
        if event.error:
            return ToolLine(Content.assemble(("search ", "bold $text-secondary"), f"“{event.query}” ",
                                             (f"failed: {event.error}", "$text-error")), error=True)
        first = f" · {event.hits[0].url}" if event.hits else ""
        return ToolLine(Content.assemble(("search ", "bold $text-secondary"), f"“{event.query}” ",
                                         (f"· {len(event.hits)} results{first}", "dim")),
                        url=event.hits[0].url if event.hits else None)
    if isinstance(event, ev.VisitDone):
        what = (f"failed: {event.error}", "$text-error") if event.error else \
            (f"· {event.title or '(untitled)'}", "dim")
        return ToolLine(Content.assemble(("visit ", "bold $text-secondary"),
                                         (event.url, "underline"), " ", what),
                        url=None if event.error else event.url, error=bool(event.error))
    if isinstance(event, ev.FunctionDone):
        args = ", ".join(f"{k}={v!r}" for k, v in event.arguments.items())
        result = event.error or (event.output.strip().splitlines() or [""])[0][:80]
        return ToolLine(Content.assemble((f"{event.name}", "bold $text-secondary"), f"({args}) ",
                                         (f"→ {result}", "dim")), error=bool(event.error))
    return None


class CodeView(Vertical):
    """A code block the model wrote, its searches and visits, then what it printed."""

    def __init__(self, event: ev.CodeBlock, *, limit: int) -> None:
        super().__init__(classes="code-block")
        self.index = event.index
        self.border_title = f"code block {event.index} of {limit}"
        self.code = Static(highlight(event.code, language="python"), classes="code")
        self.calls = Vertical(classes="code-calls")
        self.output = Static(Content.styled("running…", "dim italic"), classes="code-output")

    def compose(self) -> Iterable[Widget]:
        yield self.code
        yield self.calls
        yield self.output

    def show_result(self, event: ev.CodeResult) -> None:
        text = event.observation.strip() or "(no output)"
        lines = text.splitlines()
        if len(lines) > OUTPUT_PREVIEW_LINES:
            text = "\n".join(lines[:OUTPUT_PREVIEW_LINES] +
                             [f"… ({len(lines) - OUTPUT_PREVIEW_LINES} more lines)"])
        self.output.update(Content(text))
        self.output.set_class(bool(event.error), "error")
        self.border_subtitle = f"{event.seconds:.1f} s"


class Transcript(VerticalScroll):
    """The whole conversation; ``apply`` draws events, ``start_pump`` drains a live source."""

    def __init__(self, *, id: str | None = None, code_block_limit: int = 32) -> None:
        super().__init__(id=id)
        self.code_block_limit = code_block_limit
        self.answers: list[str] = []  # final answer of each turn, as the model wrote it
        self._reset_turn()

    def _reset_turn(self) -> None:
        self._reasoning: ReasoningView | None = None
        self._turn_reasoning: list[ReasoningView] = []
        self._answer: Markdown | None = None
        self._answer_text = ""
        self._report: Markdown | None = None
        self._code: CodeView | None = None

    def on_mount(self) -> None:
        self.anchor()

    def start_pump(self, drain: Callable[[], list[ev.Event]]) -> None:
        """Draw what ``drain`` returns every ``PUMP_SECONDS`` (coalesced by the caller)."""

        async def pump() -> None:
            events = drain()
            if events:
                await self.apply(events)

        self.set_interval(PUMP_SECONDS, pump)

    async def clear(self) -> None:
        self.answers = []
        self._reset_turn()
        await self.remove_children()

    def toggle_reasoning(self) -> bool:
        """Collapse every reasoning view if any is open, else open them all; returns 'open'."""
        views = list(self.query(ReasoningView))
        open_now = not any(not v.collapsed for v in views)
        for view in views:
            view.fold(not open_now)
        return open_now

    async def apply(self, events: Iterable[ev.Event]) -> None:
        """Draw ``events`` in order (text deltas may be pre-merged)."""
        for event in events:
            await self._apply_one(event)

    async def _apply_one(self, event: ev.Event) -> None:
        if isinstance(event, ev.ReasoningDelta):
            if self._reasoning is None:
                self._reasoning = ReasoningView()
                self._turn_reasoning.append(self._reasoning)
                await self.mount(self._reasoning)
            await self._reasoning.append(event.text)
            return
        self._end_reasoning()
        if isinstance(event, ev.SessionStarted):
            self._reset_turn()
            label = "follow-up" if event.follow_up else "question"
            await self.mount(Static(Content.assemble((f"{label} ", "dim"), (event.question, "bold")),
                                    classes="question"))
        elif isinstance(event, ev.AnswerDelta):
            if self._answer is None:
                for view in self._turn_reasoning:  # the answer is what matters now
                    view.fold(True)
                self._answer = Markdown("", classes="answer", open_links=False)
                await self.mount(self._answer)
            self._answer_text += event.text
            await self._answer.append(event.text)
        elif isinstance(event, ev.AnswerReset):
            self._answer_text = ""
            if self._answer is not None:
                await self._answer.remove()
                self._answer = None
            await self.mount(Static(Content.styled(f"({event.reason}; the model went on researching)",
                                                   "dim italic"), classes="notice"))
        elif isinstance(event, ev.CodeBlock):
            self._code = CodeView(event, limit=self.code_block_limit)
            await self.mount(self._code)
        elif isinstance(event, ev.CodeResult):
            if self._code is not None and self._code.index == event.index:
                self._code.show_result(event)
            self._code = None
        elif isinstance(event, ev.SearchDone | ev.VisitDone | ev.FunctionDone):
            line = tool_line(event)
            if line is not None:
                await (self._code.calls.mount(line) if self._code is not None else self.mount(line))
        elif isinstance(event, ev.ToolResult):
            if event.error and event.name not in SEARCH_FUNCTIONS:
                await self.mount(ToolLine(Content.styled(f"{event.name} failed: {event.error}",
                                                         "$text-error"), error=True))
        elif isinstance(event, ev.Notice):
            await self.mount(Static(Content.styled(event.message, "$text-warning"), classes="notice"))
        elif isinstance(event, ev.ReportDelta):
            await self._report_delta(event)
        elif isinstance(event, ev.Finished):
            await self._finish(event)

    def _end_reasoning(self) -> None:
        if self._reasoning is not None:
            self._reasoning.settle()
            self._reasoning = None

    async def _report_delta(self, event: ev.ReportDelta) -> None:
        if event.reasoning:
            view = ReasoningView()
            view.fold(True)
            await self.mount(view)
            await view.append(event.text)
            view.settle()
            return
        if self._report is None:
            self._report = Markdown("", classes="report", open_links=False)
            self._report.border_title = "Report"
            await self.mount(self._report)
        await self._report.append(event.text)

    async def _finish(self, event: ev.Finished) -> None:
        for view in self._turn_reasoning:
            view.settle()
        self.answers.append(event.answer)
        if event.answer:
            if self._answer is None:
                for view in self._turn_reasoning:
                    view.fold(True)
                self._answer = Markdown("", classes="answer", open_links=False)
                await self.mount(self._answer)
            await self._answer.update(numbered_answer(event.answer, event.sources))
        elif self._answer is not None:
            await self._answer.remove()
        if event.sources:
            sources = Markdown(sources_markdown(event.sources), classes="sources", open_links=False)
            sources.border_title = "Sources"
            await self.mount(sources)
        await self.mount(Static(end_line(event), classes=f"end-line {event.reason}"))
        self._reset_turn()


def end_line(event: ev.Finished) -> Content:
    """The line closing a turn: how it ended and what it cost."""
    s = event.stats
    what = END_TEXT.get(event.reason, event.reason)
    if event.detail and event.reason not in ("answered", "cancelled"):
        what += f": {event.detail}"
    elif event.forced:
        what += f" (forced: {event.detail})"
    parts = [f"{s.searches} searches", f"{s.visits} visits"]
    if s.code_blocks:
        parts.append(f"{s.code_blocks} code blocks")
    parts.append(f"{s.completion_tokens} tokens")
    style = "$text-success" if event.reason == "answered" else (
        "$text-error" if event.reason == "error" else "$text-warning")
    return Content.assemble((f"■ {what}", style), (f"  ·  {' · '.join(parts)}", "dim"))
