"""``iisearch ask`` records its session, ``--no-save`` does not, ``--continue ID`` follows up.

The command runs for real except for the model: ``plan_session`` and ``ResearchRuntime.open``
hand out a scripted model on the built-in sample pages.
"""

from __future__ import annotations

import json

import pytest
from sessionstest_helpers import (
    CIR_FOLLOW_UP,
    CIR_REPLIES,
    FOLLOW_UP,
    QUESTION,
    TOOLS_REPLIES,
    TOWER,
    scripted_plan,
    scripted_runtime,
)

from iisearch_local.backends.scripted import ScriptedBackend
from iisearch_local.cli import main
from iisearch_local.research import factory
from iisearch_local.sessions import SessionStore


@pytest.fixture
def model(home, monkeypatch):
    """Queue replies of the scripted model ``iisearch ask`` will load; records what it saw."""
    state = {"protocol": "cir", "replies": [], "backends": []}

    def plan(config, **options):
        return scripted_plan(options.get("protocol") or state["protocol"])

    def open_runtime(plan, config):
        backend = ScriptedBackend(state["replies"])
        state["backends"].append(backend)
        return scripted_runtime([], plan.protocol, backend=backend)

    monkeypatch.setattr(factory, "plan_session", plan)
    monkeypatch.setattr(factory.ResearchRuntime, "open", staticmethod(open_runtime))
    return state


def stored_sessions():
    store = SessionStore()
    try:
        return [store.get(s.id) for s in store.list()]
    finally:
        store.close()


def test_ask_saves_the_session_as_it_runs(model, capsys):
    model["replies"] = CIR_REPLIES
    assert main(["ask", "--json", QUESTION]) == 0
    out, err = capsys.readouterr()
    (stored,) = stored_sessions()
    assert json.loads(out) == stored.events[-1].to_dict()  # the printed result is the stored one
    assert stored.status == "answered" and stored.summary.model == "scripted-cir"
    assert stored.summary.backend == "scripted" and stored.summary.offline
    assert stored.trace == model["backends"][0].prompts[-1] + model["backends"][0].results[-1].text \
        + "<|im_end|>\n"
    assert f"Saved as session {stored.id}" in err


def test_no_save_records_nothing(model, capsys, home):
    model["replies"] = CIR_REPLIES
    assert main(["ask", "--no-save", QUESTION]) == 0
    assert stored_sessions() == []
    assert "Saved as session" not in capsys.readouterr().err


def test_the_setting_turns_saving_off(model, capsys):
    model["replies"] = CIR_REPLIES
    assert main(["--set", "sessions.save=false", "ask", QUESTION]) == 0
    assert stored_sessions() == []


def test_continue_asks_a_follow_up_on_the_stored_trace(model, capsys):
    model["replies"] = CIR_REPLIES
    assert main(["ask", QUESTION]) == 0
    (first,) = stored_sessions()
    model["replies"] = CIR_FOLLOW_UP
    assert main(["ask", "--continue", first.id[:6], FOLLOW_UP]) == 0
    out = capsys.readouterr().out
    assert "It is about 330 metres tall" in out and f"[1] Eiffel Tower - {TOWER}" in out
    (again,) = stored_sessions()
    assert again.id == first.id
    assert [(t.question, t.status) for t in again.turns] == [(QUESTION, "answered"),
                                                            (FOLLOW_UP, "answered")]
    assert model["backends"][1].prompts[0].startswith(first.trace)
    assert again.records[: len(first.records)] == first.records


def test_continue_with_the_other_protocol_fails_before_loading_the_model(model, capsys):
    model["replies"] = CIR_REPLIES
    assert main(["ask", QUESTION]) == 0
    (first,) = stored_sessions()
    capsys.readouterr()
    model["replies"] = TOOLS_REPLIES
    assert main(["ask", "--protocol", "tools", "--continue", first.id, FOLLOW_UP]) == 1
    err = capsys.readouterr().err
    assert "was researched with a 'cir' model (scripted-cir)" in err
    assert "--model scripted-cir" in err
    assert len(model["backends"]) == 1  # no model was loaded for the refused follow-up
    (again,) = stored_sessions()
    assert again.records == first.records


def test_continue_with_an_unknown_id_is_a_clear_error(model, capsys):
    assert main(["ask", "--continue", "abcdef", FOLLOW_UP]) == 1
    assert "no stored session 'abcdef'" in capsys.readouterr().err
    assert model["backends"] == []


def test_a_broken_history_file_does_not_stop_the_research(model, capsys, home):
    """The history is damaged: ask still answers, says it is not saving, and leaves the file."""
    path = home / "data" / "sessions.db"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 50)
    model["replies"] = CIR_REPLIES
    assert main(["ask", QUESTION]) == 0
    out, err = capsys.readouterr()
    assert "Maurice Koechlin" in out
    assert "Warning: this session will not be saved" in err
    assert path.read_bytes() == b"garbage" * 50


def test_continue_refuses_a_session_running_in_another_process(model, capsys):
    holder = SessionStore()  # stands for a TUI recording the session right now
    try:
        sid = holder.create(question=QUESTION, model="scripted-cir", backend="scripted",
                            protocol="cir")
        assert main(["ask", "--continue", sid, FOLLOW_UP]) == 1
        assert f"session {sid} is being recorded by another process" in capsys.readouterr().err
        assert model["backends"] == []
        assert holder.summary(sid).status == "running"
    finally:
        holder.close()


@pytest.mark.slow
def test_ask_on_a_real_tiny_model_is_saved_and_continued(tiny_models, home, capsys):
    """The whole command on llama.cpp (random weights): saved, then continued after a restart."""
    pytest.importorskip("llama_cpp")
    limits = ["--set", "backend.context_size=4096", "--set", "sampling.seed=3",
              "--set", "research.max_generated_tokens=60",
              "--set", "research.answer_max_tokens=20", "--set", "research.max_tokens_per_turn=30",
              "--set", "research.answer_reserve_tokens=200"]
    model = ["--model", str(tiny_models.gguf_f16), "--backend", "llama", "--search", "sample",
             "--protocol", "cir", "--json"]
    main([*limits, "ask", *model, QUESTION])
    (first,) = stored_sessions()
    assert first.summary.backend == "llama" and first.events[0].question == QUESTION
    assert first.status in ("answered", "length", "no_answer")
    main([*limits, "ask", *model, "--continue", first.id, FOLLOW_UP])
    assert "Traceback" not in capsys.readouterr().err
    (again,) = stored_sessions()
    assert [t.question for t in again.turns] == [QUESTION, FOLLOW_UP]
    assert again.trace.startswith(first.trace) and len(again.trace) > len(first.trace)
