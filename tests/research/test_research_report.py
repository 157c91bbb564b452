"""The optional report pass (PROTOCOL.md §9): a second generation over the research trace."""

from __future__ import annotations

from researchtest_helpers import check_golden, finished, of_type, run_all
from test_research_golden import CIR_REPLIES, QUESTION

from iisearch_local.research import events as ev
from iisearch_local.research.report import research_notes

REPORT = ("# Who designed the Eiffel Tower\n\nMaurice Koechlin and Emile Nouguier [1].\n\n"
          "| person | role |\n|---|---|\n| Maurice Koechlin | engineer |\n\n"
          "## References\n1. https://local.example/eiffel-tower")


def test_report_pass_writes_a_cited_report(make_session):
    session = make_session(CIR_REPLIES + ["<think>\nOne table, one reference.\n</think>\n\n" + REPORT],
                           report=True)
    events = run_all(session, QUESTION)
    done = finished(events)
    assert done.reason == "answered" and done.report == REPORT
    assert done.answer.startswith("The Eiffel Tower was designed by")  # the answer stands
    deltas = of_type(events, ev.ReportDelta)
    assert "".join(d.text for d in deltas if not d.reasoning).strip() == REPORT
    assert "".join(d.text for d in deltas if d.reasoning).strip() == "One table, one reference."
    prompt = session.backend.prompts[-1]
    check_golden("report_prompt.txt", prompt)
    # The notes are the trace without our system prompt, then the question.
    assert research_notes(session.trace) in prompt
    assert "You are a careful research assistant" not in prompt
    assert prompt.count("<|im_start|>") == 3  # system, user, assistant: no nested turns
    assert "[user]\nWho designed the Eiffel Tower?\n\n[assistant]\n<think>\n" in prompt
    assert prompt.endswith(f"Question: {QUESTION}<|im_end|>\n<|im_start|>assistant\n")
    assert done.stats.generations == 5


def test_report_notes_are_cut_in_the_middle_to_fit(make_session):
    session = make_session(CIR_REPLIES + ["<think>\nok\n</think>\n\nShort report."], report=True,
                           context_size=2600, report_max_tokens=1200, answer_reserve_tokens=200)
    done = finished(run_all(session, QUESTION))
    prompt = session.backend.prompts[-1]
    assert "[... middle part left out ...]" in prompt
    assert session.backend.count_tokens(prompt) + 1200 <= 2600
    assert done.report == "Short report."


def test_report_without_closing_think_is_dropped_but_the_answer_stays(make_session):
    session = make_session(CIR_REPLIES + ["<think>\nI never finish"], report=True)
    events = run_all(session, QUESTION)
    done = finished(events)
    assert done.reason == "answered" and done.report is None
    assert "report_failed" in [n.code for n in of_type(events, ev.Notice)]


def test_no_report_without_an_answer(make_session):
    session = make_session(["Done.\n</think>\n\n", "unused"], report=True)
    done = finished(run_all(session, QUESTION))
    assert done.reason == "no_answer" and done.report is None
    assert len(session.backend.prompts) == 1
