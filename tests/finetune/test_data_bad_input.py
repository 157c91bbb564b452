"""Malformed jsonl traces: each is a clear ``DatasetError`` naming the file and the line.

Every case puts one bad line after a good one (so the error must say "line 2") and states what
was tried in its id.
"""

from __future__ import annotations

import pytest
from finetunedata_helpers import DATE, write_jsonl

from iisearch_local.finetune.examples import DatasetError
from iisearch_local.finetune.render import TraceRenderer
from iisearch_local.finetune.traces import read_jsonl_traces

Q = {"role": "user", "content": "Who designed the Eiffel Tower?"}
CODE = {"role": "assistant", "reasoning": "Search.", "code": "print(web_search(query='x'))"}
OUT = {"role": "tool", "content": "Index: 1"}
ANSWER = {"role": "assistant", "reasoning": "Found it.", "content": "Koechlin."}
CALL = {"role": "assistant", "tool_calls": [{"name": "web_search", "arguments": {"query": "x"}}]}
GOOD = {"protocol": "cir", "messages": [Q, CODE, OUT, ANSWER]}


def cir(*messages, **extra):
    return {"protocol": "cir", "messages": list(messages), **extra}


def tools(*messages, **extra):
    return {"protocol": "tools", "messages": list(messages), **extra}


CASES = {
    "empty line": ("", "the line is empty"),
    "bad JSON": ('{"protocol": "cir", "messages": [', "not valid JSON"),
    "not an object": ("[1, 2]", "expected a JSON object"),
    "unknown protocol": ({**GOOD, "protocol": "chat"}, "unknown protocol 'chat'"),
    "no protocol": ({"messages": GOOD["messages"]}, 'no "protocol"'),
    "unknown key": ({**GOOD, "extra": 1}, "unknown key\\(s\\) 'extra'"),
    "bad date": ({**GOOD, "date": "2025-06-02"}, '"date" must be an HTTP date'),
    "gold not text": ({**GOOD, "answer": 42}, '"answer" \\(the reference answer\\) must be a string'),
    "correct not bool": ({**GOOD, "correct": "yes"}, '"correct" must be true or false'),
    "negative tool_calls": ({**GOOD, "tool_calls": -1}, '"tool_calls" must be a whole number'),
    "no messages": ({"protocol": "cir", "messages": []}, '"messages" must be a non-empty list'),
    "missing question": (cir({"role": "user", "content": "  "}, ANSWER), "the question is missing"),
    "starts with the assistant": (cir(ANSWER), "the first message must be the user's question"),
    "unknown role": (cir(Q, {"role": "system", "content": "x"}, ANSWER),
                     "message 2 has unknown role 'system'"),
    "message not an object": (cir(Q, "hello"), "message 2 is not a JSON object"),
    "empty assistant": (cir(Q, {"role": "assistant"}), "message 2 \\(assistant\\) has nothing in it"),
    "blank assistant": (cir(Q, {"role": "assistant", "reasoning": "", "content": None}),
                        "message 2 \\(assistant\\) has nothing in it"),
    "reasoning only": (cir(Q, {"role": "assistant", "reasoning": "Hmm."}),
                       'message 2: an assistant message needs "code" \\(followed by its result\\) or '
                       '"content"'),
    "content not text": (cir(Q, {"role": "assistant", "content": ["a"]}),
                         'message 2 \\(assistant\\): "content" must be a string'),
    "unknown message key": (cir(Q, {**ANSWER, "thinking": "x"}), "message 2 \\(assistant\\) has unknown key\\(s\\) 'thinking'"),
    "code and answer at once": (cir(Q, {**CODE, "content": "Koechlin."}, OUT),
                                "message 2: an assistant message either acts .* or answers"),
    "empty code": (cir(Q, {"role": "assistant", "code": "  "}, OUT, ANSWER), 'message 2: "code" is empty'),
    "cir with tool calls": (cir(Q, CALL, OUT, ANSWER), 'message 2: "tool_calls" belong to the tools protocol'),
    "tools with code": (tools(Q, CODE, OUT, ANSWER), 'message 2: "code" belongs to the cir protocol'),
    "observation missing": (cir(Q, CODE, ANSWER), "message 3: 1 tool message\\(s\\) missing"),
    "too few tool messages": (tools(Q, {"role": "assistant", "tool_calls": [
        {"name": "web_search", "arguments": {}}, {"name": "web_visit", "arguments": {}}]},
        OUT, ANSWER), "message 4: 1 tool message\\(s\\) missing"),
    "tool message without a call": (cir(Q, OUT, ANSWER), "message 2: a tool message must follow"),
    "tool call without a name": (tools(Q, {"role": "assistant", "tool_calls": [
        {"arguments": {}}]}, OUT, ANSWER), "message 2: tool call 1 must be"),
    "tool call arguments not an object": (tools(Q, {"role": "assistant", "tool_calls": [
        {"name": "web_search", "arguments": "q"}]}, OUT, ANSWER), "message 2: tool call 1 must be"),
    "ends before the output": (cir(Q, CODE), "the trace ends before the result of its last code block"),
    "ends without an answer": (cir(Q, CODE, OUT), "the trace does not end with an answer"),
    "follow-up before the answer": (cir(Q, CODE, OUT, Q, ANSWER),
                                    "message 4: a follow-up question may only come after an answer"),
    "two answers in a row": (cir(Q, ANSWER, ANSWER), "message 3: the assistant already answered"),
}


@pytest.mark.parametrize("bad,message", list(CASES.values()), ids=list(CASES))
def test_bad_line_is_reported_with_its_number(tmp_path, bad, message):
    path = write_jsonl(tmp_path / "traces.jsonl", [GOOD, bad, GOOD])
    with pytest.raises(DatasetError, match=f"^{path}, line 2: {message}"):
        read_jsonl_traces(path, renderer=TraceRenderer(default_date=DATE))


def test_the_good_lines_alone_are_read(tmp_path):
    """The control for the cases above: the same file without the bad line reads fine."""
    path = write_jsonl(tmp_path / "traces.jsonl", [GOOD, GOOD])
    read = read_jsonl_traces(path, renderer=TraceRenderer(default_date=DATE))
    assert len(read.examples) == 2 and read.examples[0].tool_calls == 1


def test_protocol_may_come_from_the_build(tmp_path):
    path = write_jsonl(tmp_path / "traces.jsonl", [{"messages": GOOD["messages"]}])
    read = read_jsonl_traces(path, renderer=TraceRenderer(default_date=DATE),
                             default_protocol="cir")
    assert read.examples[0].protocol == "cir"


def test_unreadable_files(tmp_path):
    """Tried: a missing file, and bytes that are not UTF-8 on line 2."""
    renderer = TraceRenderer(default_date=DATE)
    with pytest.raises(DatasetError, match="cannot read"):
        read_jsonl_traces(tmp_path / "missing.jsonl", renderer=renderer)
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"a": 1}\n\xff\xfe\n')
    with pytest.raises(DatasetError, match="not UTF-8"):
        read_jsonl_traces(path, renderer=renderer)
