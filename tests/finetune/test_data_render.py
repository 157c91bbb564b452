"""Jsonl traces render byte for byte as a live ResearchSession writes them, with the same loss mask.

Each test runs a real session (scripted model, in-memory pages, real code executor for CIR),
writes the same steps as a jsonl trace, and compares the rendered text and trained spans with
the session's ``trace`` and ``generated_spans``. The mask tests tokenize with the real Qwen3
tokenizer of the tiny test model and decode the trained and masked tokens.
"""

from __future__ import annotations

import pytest
from finetunedata_helpers import (  # noqa: F401 - fixtures
    ANSWER,
    CIR_FINAL,
    CIR_FOLLOW,
    CIR_STEPS,
    DATE,
    FOLLOW_ANSWER,
    FOLLOW_UP,
    QUESTION,
    TOOLS_ANSWER,
    TOOLS_FOLLOW_ANSWER,
    TOOLS_FOLLOW_UP,
    TOOLS_QUESTION,
    cir_follow_replies,
    cir_messages,
    cir_replies,
    make_session,
    observations,
    run,
    tokenizer,
    tokenizer_dir,
    tools_messages,
    tools_replies,
    write_jsonl,
)

from iisearch_local.finetune.examples import tokenize_example
from iisearch_local.finetune.render import TraceRenderer, check_trace
from iisearch_local.finetune.traces import read_jsonl_traces
from iisearch_local.research.settings import ResearchSettings


def render(line: dict, *, settings: ResearchSettings | None = None):
    trace = check_trace(line, where="test")
    return TraceRenderer(default_date="Tue, 01 Jan 2030 00:00:00 GMT",
                         settings=settings).render(trace, source="test")


def cir_session_and_line(*, follow_up: bool = True):
    session = make_session(cir_replies() + cir_follow_replies(), "cir")
    seen = observations(run(session, QUESTION))
    if follow_up:
        run(session, FOLLOW_UP)
    session.close()
    line = {"protocol": "cir", "date": DATE, "messages": cir_messages(seen, follow_up=follow_up)}
    return session, line


def tools_session_and_line(*, follow_up: bool = True):
    session = make_session(tools_replies(), "tools")
    seen = observations(run(session, TOOLS_QUESTION))
    if follow_up:
        run(session, TOOLS_FOLLOW_UP)
    session.close()
    line = {"protocol": "tools", "date": DATE,
            "messages": tools_messages(seen, follow_up=follow_up)}
    return session, line


@pytest.mark.parametrize("follow_up", [False, True])
def test_cir_jsonl_renders_as_the_live_session(follow_up):
    session, line = cir_session_and_line(follow_up=follow_up)
    example = render(line)
    assert example.text == session.trace
    assert example.trained_spans() == list(session.generated_spans)
    assert example.protocol == "cir"
    assert example.question == QUESTION
    assert example.answer == (FOLLOW_ANSWER if follow_up else ANSWER)
    assert example.tool_calls == 2  # one web_search( and one web_visit( in the code


@pytest.mark.parametrize("follow_up", [False, True])
def test_tools_jsonl_renders_as_the_live_session(follow_up):
    session, line = tools_session_and_line(follow_up=follow_up)
    example = render(line)
    assert example.text == session.trace
    assert example.trained_spans() == list(session.generated_spans)
    assert example.protocol == "tools"
    assert example.answer == (TOOLS_FOLLOW_ANSWER if follow_up else TOOLS_ANSWER)
    assert example.tool_calls == 2


def test_rendering_uses_the_users_prompt_files(tmp_path):
    """The user's own prompt files (research.prompt_*) are what inference shows: so does rendering."""
    hint = tmp_path / "hint.txt"
    hint.write_text("My own hint: search first.\n\n", encoding="utf-8")
    settings = ResearchSettings(prompt_files={"cir_hint": str(hint)}, search_results=7)
    session = make_session(cir_replies(), "cir", settings=settings)
    seen = observations(run(session, QUESTION))
    session.close()
    example = render({"protocol": "cir", "date": DATE,
                      "messages": cir_messages(seen, follow_up=False)}, settings=settings)
    assert "My own hint: search first." in example.text
    assert "num_result: int = 7" in example.text
    assert example.text == session.trace


def test_missing_date_uses_the_builds_date():
    session, line = cir_session_and_line(follow_up=False)
    del line["date"]
    text = render(line).text
    assert "Tue, 01 Jan 2030 00:00:00 GMT" in text
    assert text == session.trace.replace(DATE, "Tue, 01 Jan 2030 00:00:00 GMT")


def test_read_jsonl_file_renders_every_line(tmp_path):
    _, cir_line = cir_session_and_line()
    _, tools_line = tools_session_and_line()
    path = write_jsonl(tmp_path / "traces.jsonl",
                       [cir_line, {**tools_line, "answer": "physics and chemistry",
                                   "id": "t-2", "meta": {"teacher": "big"}}])
    read = read_jsonl_traces(path, renderer=TraceRenderer(default_date=DATE))
    assert [e.protocol for e in read.examples] == ["cir", "tools"]
    assert [e.source for e in read.examples] == [f"{path}:1", f"{path}:2"]
    assert read.examples[1].gold == "physics and chemistry"
    assert read.examples[1].meta == {"teacher": "big", "id": "t-2",
                                     "follow_ups": [TOOLS_FOLLOW_UP]}
    assert read.skipped == []


def _decoded(tokenizer, tokens, ranges):
    return [tokenizer.decode(tokens[a:b], skip_special_tokens=False) for a, b in ranges]


def _complement(ranges, length):
    out, at = [], 0
    for a, b in ranges:
        if a > at:
            out.append((at, a))
        at = b
    if at < length:
        out.append((at, length))
    return out


@pytest.mark.parametrize("protocol", ["cir", "tools"])
def test_mask_trains_only_what_the_model_wrote(tokenizer, protocol):
    """Decode the trained and the masked token ranges with the real tokenizer: the model's words
    (reasoning, code, tool calls, answers, stop strings, <|im_end|>) are trained; the system
    prompt, questions and observations are masked."""
    session, line = (cir_session_and_line() if protocol == "cir" else tools_session_and_line())
    example = render(line)
    tokenized = tokenize_example(tokenizer, example)
    trained = "".join(_decoded(tokenizer, tokenized.tokens, tokenized.trained))
    masked = "".join(_decoded(tokenizer, tokenized.tokens,
                              _complement(tokenized.trained, len(tokenized))))
    assert tokenizer.decode(tokenized.tokens, skip_special_tokens=False) == example.text
    seen = [m["content"] for m in line["messages"] if m["role"] == "tool"]
    questions = [m["content"] for m in line["messages"] if m["role"] == "user"]
    written = [m.get("reasoning") or "" for m in line["messages"] if m["role"] == "assistant"]
    written += [m["content"] for m in line["messages"]
                if m["role"] == "assistant" and "content" in m]
    if protocol == "cir":
        written += [m["code"] for m in line["messages"] if "code" in m]
        stops = ["<end_code>", "</think>", "<|im_end|>"]
    else:
        stops = ["<tool_call>", "</tool_call>", "</think>", "<|im_end|>"]
    for text in written:
        assert text in trained, text
        assert text not in masked, text
    for stop in stops:  # these also appear in the system prompt, so only: trained here
        assert stop in trained, stop
    for text in questions + seen + ["<|im_start|>system", "Current date", DATE]:
        assert text in masked
        assert text not in trained
    # Token by token: trained exactly when the token starts inside text the model wrote.
    spans = example.trained_spans()
    offsets = tokenizer.encode(example.text, add_special_tokens=False).offsets
    mask = tokenized.mask()
    for position, (start, _end) in enumerate(offsets):
        assert mask[position] == any(a <= start < b for a, b in spans), position
    # Every <|im_end|> the model wrote is trained; the ones closing our turns are not.
    end_id = tokenizer.token_to_id("<|im_end|>")
    ends = [p for p, t in enumerate(tokenized.tokens) if t == end_id]
    trained_ends = [p for p in ends if mask[p]]
    # CIR: the two answers; tools: also the turn of the tool calls. Ours: system, questions,
    # and (tools) the turn of tool responses.
    assert len(trained_ends) == (3 if protocol == "tools" else 2)
    assert len(ends) - len(trained_ends) == (4 if protocol == "tools" else 3)


def test_cir_observation_is_masked_but_its_code_is_trained(tokenizer):
    session, line = cir_session_and_line(follow_up=False)
    example = render(line)
    tokenized = tokenize_example(tokenizer, example)
    offsets = tokenizer.encode(example.text, add_special_tokens=False).offsets
    mask = tokenized.mask()
    text = example.text
    first_code = text.index(CIR_STEPS[0][1])
    output_start = text.index("```output\n") + len("```output\n")
    output_end = text.index("\n```\n", output_start)
    for position, (start, end) in enumerate(offsets):
        if first_code <= start < first_code + len(CIR_STEPS[0][1]):
            assert mask[position]
        if output_start <= start and end <= output_end:
            assert not mask[position]
    assert CIR_FINAL[1] in text and CIR_FOLLOW[1] not in text


def test_the_documented_examples_render_as_documented():
    """docs/finetune-traces.md: both example traces are valid, and the tools one renders as shown."""
    import json
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "finetune-traces.md").read_text("utf-8")
    cir_line, tools_line = (json.loads(block) for block in re.findall(r"```json\n(.*?)```", doc,
                                                                       re.DOTALL))
    shown = doc.split("renders, after the system turn, as:\n\n```\n", 1)[1].split("\n```\n", 1)[0]
    tools = render(tools_line)
    assert tools.text[tools.text.index("<|im_start|>user"):] == shown + "\n"
    cir = render(cir_line)
    assert cir.protocol == "cir" and cir.answer == tools.answer == "She was born in Warsaw."
    assert tools.gold == cir.gold == "Warsaw"
