"""Golden tests: the rendered prompts and whole traces of both protocols, byte for byte.

Regenerate after an intended change with ``IISEARCH_UPDATE_GOLDEN=1 pytest tests/research -q``
and review the diff of ``tests/research/golden/`` before committing it.
"""

from __future__ import annotations

from researchtest_helpers import (
    answer_stream,
    check_golden,
    check_golden_json,
    finished,
    of_type,
    run_all,
    stable_events,
)

from iisearch_local.research import events as ev

TOWER = "https://local.example/eiffel-tower"

CIR_REPLIES = [
    # 1: a search
    "The question asks who designed the tower. I will search first.\n<start_code>\n```python\n"
    "results = web_search(query=\"Eiffel Tower design engineers\", num_result=3)\nprint(results)\n"
    "```\n<end_code>",
    # 2: a code error (an undefined name) the model has to recover from
    "The first result looks right. Let me read it.\n<start_code>\n```python\n"
    "print(web_visit(url=first_url))\n```\n<end_code>",
    # 3: the recovery, through the demo's alias
    "I forgot to define the URL. Trying again.\n<start_code>\n```python\n"
    f"page = visit_webpage(\"{TOWER}\")\nprint(page)\n```\n<end_code>",
    # 4: the answer with a citation
    "The page says the design came from Maurice Koechlin and Emile Nouguier.\n</think>\n\n"
    "The Eiffel Tower was designed by Maurice Koechlin and Emile Nouguier, engineers of "
    f"Gustave Eiffel's company ([Eiffel Tower]({TOWER})).",
]

TOOLS_REPLIES = [
    "<think>\nI need to find who designed it. Search first.\n</think>\n\n<tool_call>\n"
    "{\"name\": \"web_search\", \"arguments\": {\"query\": \"Eiffel Tower designers\", "
    "\"num_result\": 3}}\n</tool_call>",
    # broken JSON (a missing brace): the model gets an error response and tries again
    "<think>\nThe first hit is the tower page. I will read it.\n</think>\n\n<tool_call>\n"
    f"{{\"name\": \"web_visit\", \"arguments\": {{\"url\": \"{TOWER}\"}}\n</tool_call>",
    "<think>\nMy call was not valid JSON. Again.\n</think>\n\n<tool_call>\n"
    f"{{\"name\": \"visit_webpage\", \"arguments\": {{\"url\": \"{TOWER}\"}}}}\n</tool_call>",
    "<think>\nThe page names both engineers.\n</think>\n\n"
    f"Maurice Koechlin and Emile Nouguier designed it ([Eiffel Tower]({TOWER})).",
]

QUESTION = "Who designed the Eiffel Tower?"


def test_cir_prompt_is_pinned(make_session):
    session = make_session([], "cir")
    run_all(session, QUESTION)
    check_golden("cir_prompt.txt", session.backend.prompts[0])


def test_tools_prompt_is_pinned(make_session):
    session = make_session([], "tools")
    run_all(session, QUESTION)
    check_golden("tools_prompt.txt", session.backend.prompts[0])


def test_cir_session_trace_and_events(make_session, source):
    session = make_session(CIR_REPLIES, "cir")
    events = run_all(session, QUESTION)
    check_golden("cir_trace.txt", session.trace)
    check_golden_json("cir_events.json", stable_events(events))

    done = finished(events)
    assert done.reason == "answered" and not done.forced
    assert done.answer.startswith("The Eiffel Tower was designed by Maurice Koechlin")
    assert answer_stream(events).strip() == done.answer
    assert [(s.url, s.visited, s.searched) for s in done.sources] == [(TOWER, True, True)]
    assert "Maurice Koechlin and Emile Nouguier" in done.sources[0].supporting_text
    results = of_type(events, ev.CodeResult)
    assert [r.error is None for r in results] == [True, False, True]
    assert "first_url" in results[1].error  # the real error reaches the model
    assert "first_url" in results[1].observation
    assert done.stats.searches == 1 and done.stats.visits == 1 and done.stats.tool_calls == 2
    assert done.stats.code_blocks == 3 and done.stats.generations == 4
    assert source.searches == ["Eiffel Tower design engineers"] and source.visits == [TOWER]
    # Each generation continued the previous trace: the model only ever saw a growing prefix.
    prompts = session.backend.prompts
    assert all(b.startswith(a) for a, b in zip(prompts, prompts[1:]))
    assert session.trace.startswith(prompts[-1])


def test_tools_session_trace_and_events(make_session, source):
    session = make_session(TOOLS_REPLIES, "tools")
    events = run_all(session, QUESTION)
    check_golden("tools_trace.txt", session.trace)
    check_golden_json("tools_events.json", stable_events(events))

    done = finished(events)
    assert done.reason == "answered"
    assert done.answer == f"Maurice Koechlin and Emile Nouguier designed it ([Eiffel Tower]({TOWER}))."
    assert answer_stream(events).strip() == done.answer
    assert done.stats.format_errors == 1 and done.stats.tool_calls == 2
    assert [c.name for c in of_type(events, ev.ToolCall)] == ["web_search", "visit_webpage"]
    history = session.trace.split("<|im_start|>user", 1)[1]
    assert history.count("<tool_response>") == 3  # two results and one correction
    assert "not valid JSON" in session.trace
    # Earlier turns' reasoning stays in the history (the II-Search template keeps it).
    assert "I need to find who designed it." in session.backend.prompts[-1]
    prompts = session.backend.prompts
    assert all(b.startswith(a) for a, b in zip(prompts, prompts[1:]))
