"""Tool-call protocol: every kind of bad model output has a defined outcome, and limits hold.

Each test says what the model did wrong and what the loop must do about it.
"""

from __future__ import annotations

import json

import pytest
from researchtest_helpers import answer_stream, finished, of_type, run_all

from iisearch_local.research import events as ev
from iisearch_local.research.toolcalls import CallProblem, ParsedCall, parse_tool_calls


def call(name: str, **arguments) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def think(text: str) -> str:
    return f"<think>\n{text}\n</think>\n\n"


SEARCH = think("Search.") + call("web_search", query="Mount Everest height")
ANSWER = think("Done.") + "8,849 metres ([Mount Everest](https://local.example/mount-everest))."


def history(session) -> str:
    """The trace after the system prompt (which itself mentions the tags)."""
    return session.trace.split("<|im_start|>user\n", 1)[1]


def test_unknown_function_gets_an_error_listing_the_tools(make_session):
    session = make_session([think("Hmm.") + call("google", q="x"), SEARCH, ANSWER], "tools")
    events = run_all(session, "Q?")
    result = of_type(events, ev.ToolResult)[0]
    assert "unknown function 'google'" in result.error
    assert "web_search, web_visit, visit_webpage" in history(session)
    done = finished(events)
    assert done.reason == "answered" and done.stats.format_errors == 1
    assert done.stats.tool_calls == 1  # only the real search counts as a call


def test_two_calls_in_one_block_both_run_and_answer_in_one_turn(make_session):
    both = (think("Both at once.") + "<tool_call>\n"
            + json.dumps({"name": "web_search", "arguments": {"query": "Everest"}}) + "\n"
            + json.dumps({"name": "web_visit", "arguments": {"url": "https://local.example/mount-everest"}})
            + "\n</tool_call>")
    session = make_session([both, ANSWER], "tools")
    events = run_all(session, "Q?")
    assert [c.name for c in of_type(events, ev.ToolCall)] == ["web_search", "web_visit"]
    assert history(session).count("<tool_response>") == 2
    assert "</tool_response>\n<tool_response>" in session.trace  # one user turn, two responses
    assert finished(events).stats.tool_calls == 2


def test_unterminated_tool_call_at_end_of_turn_is_closed_and_run(make_session):
    session = make_session([think("Go.") + '<tool_call>\n{"name": "web_search", "arguments": '
                            '{"query": "Everest"}}', ANSWER], "tools")
    events = run_all(session, "Q?")
    assert "unterminated_tool_call" in [n.code for n in of_type(events, ev.Notice)]
    assert of_type(events, ev.SearchDone)[0].query == "Everest"
    assert '{"query": "Everest"}}\n</tool_call><|im_end|>' in session.trace


@pytest.mark.parametrize("body, problem", [
    ('{"name": "web_search", "arguments": {"query": "x"}', "not valid JSON"),
    ("", "was empty"),
    ('["web_search"]', '"name" is missing'),
    ('{"name": "web_search", "arguments": "not json"}', '"arguments" is not a JSON object'),
    ('{"name": "web_search", "arguments": [1]}', '"arguments" must be an object'),
])
def test_malformed_tool_calls_get_a_correction(make_session, body, problem):
    session = make_session([think("Try.") + f"<tool_call>\n{body}\n</tool_call>", SEARCH, ANSWER],
                           "tools")
    events = run_all(session, "Q?")
    assert problem in history(session)
    assert finished(events).reason == "answered"
    assert finished(events).stats.format_errors == 1


def test_parse_accepts_json_encoded_arguments_and_parameters():
    assert parse_tool_calls('{"name": "a", "arguments": "{\\"x\\": 1}"}') == [ParsedCall("a", {"x": 1})]
    assert parse_tool_calls('{"name": "a", "parameters": {"x": 1}}') == [ParsedCall("a", {"x": 1})]
    assert parse_tool_calls('{"name": "a"}') == [ParsedCall("a", {})]
    assert isinstance(parse_tool_calls("{oops")[0], CallProblem)


def test_bad_arguments_reach_the_model(make_session):
    session = make_session([think("x") + call("web_visit", address="https://x"), ANSWER], "tools")
    events = run_all(session, "Q?")
    result = of_type(events, ev.ToolResult)[0]
    assert "web_visit needs a URL" in result.error
    assert "Error: web_visit needs a URL from the search results" in session.trace


def test_tool_call_limit_forces_the_answer(make_session):
    session = make_session([SEARCH] * 4 + ["The answer."], "tools", max_tool_calls=3)
    events = run_all(session, "Q?")
    done = finished(events)
    assert done.stats.tool_calls == 3 and done.forced and "tool call limit (3)" in done.detail
    assert "limit of 3 tool calls is reached" in session.trace
    assert done.answer == "The answer."
    # The forced answer opens a fresh assistant turn with closed reasoning.
    assert session.trace.endswith("<|im_start|>assistant\n<think>\nI have to stop researching "
                                  "here, so I will now write my final answer from what I have "
                                  "found so far, citing the pages I used.\n</think>\n\n"
                                  "The answer.<|im_end|>\n")


def test_a_tool_call_instead_of_the_forced_answer_is_not_run(make_session):
    session = make_session([SEARCH] * 3, "tools", max_tool_calls=1)
    events = run_all(session, "Q?")
    done = finished(events)
    assert done.reason == "no_answer" and "tool call limit" in done.detail
    assert done.stats.tool_calls == 1
    assert "tool_after_forced_answer" in [n.code for n in of_type(events, ev.Notice)]


def test_turn_without_think_is_the_answer(make_session):
    session = make_session(["Paris is the capital."], "tools")
    events = run_all(session, "Q?")
    done = finished(events)
    assert done.answer == "Paris is the capital." and not done.forced
    assert answer_stream(events) == done.answer


def test_unclosed_think_forces_the_answer(make_session):
    session = make_session(["<think>\nStill thinking", "Paris."], "tools")
    done = finished(run_all(session, "Q?"))
    assert done.forced and done.answer == "Paris."
    assert "Still thinking\n\nI have to stop researching here" in session.trace


def test_text_before_a_tool_call_is_reset_not_the_answer(make_session):
    """The model writes content after </think>, then calls a tool: the streamed text is retracted."""
    session = make_session([think("Hm.") + "Let me check. " + call("web_search", query="Everest"),
                            ANSWER], "tools")
    events = run_all(session, "Q?")
    assert of_type(events, ev.AnswerReset)
    assert answer_stream(events) == finished(events).answer
    assert finished(events).answer.startswith("8,849 metres")


def test_never_ending_turn_is_bounded(make_session):
    session = make_session(["<think>\n" + "loop " * 5000] * 20 + ["Fine."] * 2, "tools",
                           max_tokens_per_turn=200, max_generated_tokens=500, answer_max_tokens=40)
    done = finished(run_all(session, "Q?"))
    assert done.forced and "generation budget" in done.detail
    assert done.stats.completion_tokens <= 540


def test_follow_up_question_in_tools_protocol(make_session):
    session = make_session([SEARCH, ANSWER, think("Same page.") + "Nepal and China."], "tools")
    run_all(session, "How high is Everest?")
    first = session.trace
    done = finished(run_all(session, "Where is it?"))
    assert done.answer == "Nepal and China." and session.trace.startswith(first)
    assert first.endswith("<|im_end|>\n")
    assert session.trace[len(first):].startswith("<|im_start|>user\nWhere is it?<|im_end|>\n")
