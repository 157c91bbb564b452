"""The real ``iisearch-tui`` in a pseudo-terminal, with a real tiny model and an offline index.

The program is started as a user would start it (its console script, a private IISEARCH_HOME
whose config.toml names the tiny GGUF and the local index), a question is typed, and the
screen is read back through a terminal emulator (pyte). The tiny model has random weights, so
what it answers is noise: what must hold is that the research runs to an end on screen, is
stored, and the program quits cleanly.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")
pyte = pytest.importorskip("pyte")

pytestmark = pytest.mark.slow

COLUMNS, LINES = 110, 32
END_MARKS = ("■ answered", "■ no answer", "■ stopped by an error", "■ cancelled")
CONFIG = """\
[model]
name = "{model}"

[backend]
name = "llama"
context_size = 4096

[search]
engines = ["local"]
offline = true

[research]
max_generated_tokens = 60
answer_max_tokens = 20
max_tokens_per_turn = 30
answer_reserve_tokens = 200

[sampling]
seed = 3
"""
DOCUMENT = """# Eiffel Tower

The Eiffel Tower is a wrought-iron lattice tower in Paris. The design came from Maurice
Koechlin and Emile Nouguier, engineers of Gustave Eiffel's company.
"""


class Terminal:
    """A child process on a pty, with a pyte screen fed by everything it writes."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)
        self.child = pexpect.spawn(command, env=env, dimensions=(LINES, COLUMNS), timeout=5)

    def pump(self, seconds: float = 0.1) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=0.05))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                return

    def text(self) -> str:
        # Read the cells ourselves: pyte's `display` fails on a cell holding only a zero-width
        # character, which the random model's text does produce now and then.
        buffer, columns = self.screen.buffer, self.screen.columns
        return "\n".join("".join(buffer[y][x].data for x in range(columns))
                         for y in range(self.screen.lines))

    def wait_for(self, predicate, *, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0.2)
            if predicate(self.text()):
                return self.text()
            if not self.child.isalive():
                break
        raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{self.text()}")


@pytest.fixture
def tui_home(tmp_path, tiny_models):
    pytest.importorskip("llama_cpp")
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "config.toml").write_text(CONFIG.format(model=tiny_models.gguf_q8_0),
                                                 "utf-8")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "eiffel.md").write_text(DOCUMENT, "utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("IISEARCH_")}
    env.update(IISEARCH_HOME=str(home), TERM="xterm-256color", COLUMNS=str(COLUMNS),
               LINES=str(LINES), HF_HUB_OFFLINE="1")
    from iisearch_local.cli import main

    old = os.environ.copy()
    os.environ.update(env)
    try:
        assert main(["index", "add", str(docs)]) == 0
    finally:
        os.environ.clear()
        os.environ.update(old)
    return home, env


def test_the_real_app_researches_a_typed_question_in_a_terminal(tui_home):
    home, env = tui_home
    script = shutil.which("iisearch-tui", path=str(Path(sys.executable).parent))
    assert script is not None, "the iisearch-tui console script is not installed"
    term = Terminal(script, env)
    try:
        shown = term.wait_for(lambda t: "tiny-qwen3-q8_0" in t and "OFFLINE" in t, timeout=30,
                              what="the research screen")
        assert "Ask a question" in shown and "local" in shown
        term.child.send("Who designed the Eiffel Tower?")
        term.wait_for(lambda t: "Who designed the Eiffel Tower?" in t, timeout=10,
                      what="the typed question")
        term.child.send("\r")
        shown = term.wait_for(lambda t: any(mark in t for mark in END_MARKS), timeout=90,
                              what="the end of the research")
        assert "question Who designed the Eiffel Tower?" in shown or "Reasoning" in shown
        assert "Traceback" not in shown
        term.child.sendcontrol("q")
        term.child.expect(pexpect.EOF, timeout=15)
    finally:
        if term.child.isalive():
            term.child.terminate(force=True)
    term.child.close()
    assert term.child.exitstatus == 0
    from iisearch_local.sessions import SessionStore

    with SessionStore(home / "data" / "sessions.db") as store:
        sessions = store.list()
    assert len(sessions) == 1 and sessions[0].question == "Who designed the Eiffel Tower?"
    assert sessions[0].status in ("answered", "length", "no_answer")
    assert sessions[0].model == "tiny-qwen3-q8_0" and sessions[0].offline
