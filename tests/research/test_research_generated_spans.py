"""The session knows which parts of its trace the model wrote (what fine-tuning trains on).

A scripted model writes known replies; the generated spans must cover exactly those replies plus
the stop strings put back and the end of turn the model itself wrote, and nothing we injected
(prompts, observations, corrections, forced-answer notes, a turn end we forced).
"""

from __future__ import annotations

import json

from researchtest_helpers import finished, run_all

from iisearch_local.research.prompting import IM_END

SEARCH_BLOCK = "Let me search.\n<start_code>\n```python\nprint(web_search(query=\"Marie Curie\"))\n```\n"
ANSWER = "\n</think>\n\nShe won two Nobel Prizes."


def pieces(session, *, trained: bool) -> list[str]:
    """The trace cut at the span boundaries: the generated pieces, or the injected ones."""
    spans = session.generated_spans
    assert spans is not None
    out, at = [], 0
    for start, end in spans:
        if not trained and start > at:
            out.append(session.trace[at:start])
        if trained:
            out.append(session.trace[start:end])
        at = end
    if not trained and at < len(session.trace):
        out.append(session.trace[at:])
    return out


def test_cir_spans_are_the_model_text_the_stop_string_and_its_end_of_turn(make_session):
    session = make_session([SEARCH_BLOCK + "<end_code>", ANSWER])
    events = run_all(session, "Q?")
    assert finished(events).reason == "answered"
    # The model's first reply ends with the stop string the engine stripped and we put back;
    # its second reply ends with EOS, which is the <|im_end|> closing the turn.
    assert pieces(session, trained=True) == [SEARCH_BLOCK + "<end_code>", ANSWER + IM_END]
    injected = pieces(session, trained=False)
    assert injected[0].startswith("<|im_start|>system\n")
    assert injected[0].endswith("<|im_start|>assistant\n<think>\n" + session.prompts.raw("cir_hint"))
    assert injected[1].startswith("\n```output\n") and "Index: 1" in injected[1]
    assert injected[2] == "\n"


def test_a_block_we_had_to_close_and_the_forced_answer_note_are_not_trained(make_session):
    """The model ends inside its code (we close the fence and <end_code>), then never answers."""
    session = make_session(["<start_code>\n```python\nprint(1 + 1)", "More thinking.", "Done."])
    run_all(session, "Q?")
    trained = "".join(pieces(session, trained=True))
    assert "<start_code>\n```python\nprint(1 + 1)" in trained
    assert "<end_code>" not in trained  # we closed it: the model did not write it
    injected = "".join(pieces(session, trained=False))
    assert "```\n<end_code>\n```output\n2\n```\n" in injected
    assert "</think>" in injected  # the forced-answer note closes the reasoning for the model


def test_tool_call_spans_include_the_call_close_and_the_turn_end(make_session):
    call = '<think>\nSearch.\n</think>\n\n<tool_call>\n' + json.dumps(
        {"name": "web_search", "arguments": {"query": "Everest"}}) + "\n"
    answer = "<think>\nDone.\n</think>\n\n8,849 metres."
    session = make_session([call + "</tool_call>", answer], protocol="tools")
    run_all(session, "Q?")
    assert pieces(session, trained=True) == [call + "</tool_call>" + IM_END, answer + IM_END]
    injected = pieces(session, trained=False)
    assert injected[1].startswith("\n<|im_start|>user\n<tool_response>\n")
    assert injected[1].endswith("</tool_response><|im_end|>\n<|im_start|>assistant\n")


def test_a_follow_up_keeps_the_earlier_spans_and_adds_its_own(make_session):
    session = make_session([SEARCH_BLOCK + "<end_code>", ANSWER, ANSWER])
    run_all(session, "Q?")
    first = session.generated_spans
    run_all(session, "And then?")
    assert session.generated_spans[: len(first)] == first
    assert pieces(session, trained=True)[-1] == ANSWER + IM_END
    assert "And then?" in pieces(session, trained=False)[-2]


def test_a_session_continuing_a_trace_without_spans_reports_them_unknown(make_session):
    from iisearch_local.backends.scripted import ScriptedBackend
    from iisearch_local.research import ResearchSession

    session = ResearchSession(ScriptedBackend([ANSWER]), tools={}, trace="<|im_start|>user\nold")
    assert session.generated_spans is None
    given = ResearchSession(ScriptedBackend([]), tools={}, trace="abc", generated_spans=[(1, 2)])
    assert given.generated_spans == ((1, 2),)
