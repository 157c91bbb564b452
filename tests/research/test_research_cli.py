"""``iisearch ask``: rendering, JSON output and exit codes, on a scripted and a real tiny model."""

from __future__ import annotations

import io
import json

import click
import pytest
from rich.console import Console
from test_research_golden import CIR_REPLIES, QUESTION, TOWER

from iisearch_local.cli import main
from iisearch_local.cli.ask import EXIT_NO_ANSWER, NoAnswerError, exit_for, run_ask
from iisearch_local.errors import UserFacingError
from iisearch_local.research import events as ev


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("IISEARCH_HOME", str(tmp_path))
    for name in ("IISEARCH_BACKEND_NAME", "IISEARCH_MODEL_NAME", "IISEARCH_MODEL_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_terminal_view_streams_the_research_then_numbered_sources(make_session):
    console = Console(file=io.StringIO(), width=120, color_system=None)
    done = run_ask(make_session(CIR_REPLIES), QUESTION, console=console)
    shown = console.file.getvalue()
    assert done.reason == "answered"
    assert QUESTION in shown and "code 1" in shown and "first_url" in shown
    assert "search 'Eiffel Tower design engineers': 3 results" in shown
    assert f"visit {TOWER} Eiffel Tower" in shown
    assert shown.count("The Eiffel Tower was designed by Maurice Koechlin") == 1  # streamed once
    assert f"[1] Eiffel Tower - {TOWER}" in shown
    assert "The design came from Maurice Koechlin and Emile Nouguier" in shown
    assert "1 searches, 1 visits, 2 tool calls" in shown


def test_json_output_is_the_finished_event(make_session):
    console = Console(file=io.StringIO())
    printed: list[str] = []
    run_ask(make_session(CIR_REPLIES), QUESTION, console=console, as_json=True, out=printed.append)
    assert console.file.getvalue() == ""  # nothing but the JSON
    data = json.loads(printed[0])
    again = ev.event_from_dict(data)
    assert isinstance(again, ev.Finished) and again.sources[0].url == TOWER


def finished_with(reason, answer="", detail=""):
    return ev.Finished(reason=reason, answer=answer, detail=detail)


def test_exit_codes():
    exit_for(finished_with("answered", "yes"))  # 0: returns normally
    exit_for(finished_with("length", "cut sho"))
    with pytest.raises(NoAnswerError, match="no answer") as no_answer:
        exit_for(finished_with("no_answer", detail="the model wrote no answer"))
    assert no_answer.value.exit_code == EXIT_NO_ANSWER
    with pytest.raises(UserFacingError, match="stopped: engine died") as error:
        exit_for(finished_with("error", detail="engine died"))
    assert error.value.exit_code == 1
    with pytest.raises(click.exceptions.Exit) as cancelled:
        exit_for(finished_with("cancelled"))
    assert cancelled.value.exit_code == 130


def test_ask_with_a_missing_model_is_a_clear_error(capsys, tmp_path):
    assert main(["ask", "--model", str(tmp_path / "none.gguf"), "--search", "sample", "Q?"]) == 1
    err = capsys.readouterr().err
    assert "none.gguf" in err and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["cir", "tools"])
def test_ask_end_to_end_on_a_tiny_model(tiny_models, capsys, protocol):
    """The whole command: real llama.cpp model, the sample pages, JSON out; random text ends cleanly."""
    pytest.importorskip("llama_cpp")
    code = main(["--set", "backend.context_size=4096", "--set", "sampling.seed=3",
                 "--set", "research.max_generated_tokens=60", "--set", "research.answer_max_tokens=20",
                 "--set", "research.max_tokens_per_turn=30", "--set", "research.answer_reserve_tokens=200",
                 "ask", "--model", str(tiny_models.gguf_f16), "--backend", "llama",
                 "--search", "sample", "--protocol", protocol, "--json", QUESTION])
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["type"] == "finished" and data["reason"] in ("answered", "length", "no_answer")
    assert data["stats"]["completion_tokens"] <= 80
    assert code == (EXIT_NO_ANSWER if not data["answer"] else 0)
    assert "Traceback" not in err
