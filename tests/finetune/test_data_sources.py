"""Reading traces from the session store, session exports and eval results.

Sessions are recorded for real (scripted model, real SQLite store through ``recorder.record``)
and eval records are made by the real eval runner; the examples must hold each trace exactly,
cut by the ranges the model generated.
"""

from __future__ import annotations

import json

import pytest
from finetunedata_helpers import (
    ANSWER,
    FOLLOW_ANSWER,
    FOLLOW_UP,
    QUESTION,
    TOOLS_ANSWER,
    TOOLS_QUESTION,
    QueueJudge,
    cir_follow_replies,
    cir_replies,
    record_session,
    scripted_runtime,
    tools_replies,
)

from iisearch_local.evals.datasets import EvalItem
from iisearch_local.evals.judge import GRADERS
from iisearch_local.evals.runner import ResultsLog, evaluate_one
from iisearch_local.finetune.examples import DatasetError
from iisearch_local.finetune.traces import (
    FAILED,
    NO_SPANS,
    NOT_ANSWERED,
    detect_protocol,
    read_eval_results,
    read_export,
    read_store,
)
from iisearch_local.sessions import SessionStore
from iisearch_local.sessions.export import import_session, to_json, to_json_dict


@pytest.fixture
def store(tmp_path):
    opened = SessionStore(tmp_path / "sessions.db")
    yield opened
    opened.close()


def legacy_copy(store, sid: str) -> str:
    """Store a copy of session ``sid`` as if recorded before generated spans were kept."""
    data = to_json_dict(store.get(sid))
    data["generated_spans"] = None
    data["session"]["id"] = "0" * 12
    return import_session(store, data)


def test_store_sessions_become_whole_trace_examples(store):
    cir_id, cir = record_session(store, cir_replies() + cir_follow_replies(), "cir",
                                 [QUESTION, FOLLOW_UP])
    tools_id, tools = record_session(store, tools_replies()[:2], "tools", [TOOLS_QUESTION])
    legacy_copy(store, tools_id)
    # A model that writes nothing: the run ends without an answer.
    record_session(store, [], "cir", ["What is the answer to nothing?"])

    read = read_store(store)
    by_id = {e.meta["session"]: e for e in read.examples}
    assert sorted(by_id) == sorted([cir_id, tools_id])
    assert read.skipped_by_reason() == {NO_SPANS: 1, NOT_ANSWERED: 1}

    first = by_id[cir_id]
    assert first.text == cir.trace
    assert first.trained_spans() == list(cir.generated_spans)
    assert (first.protocol, first.question, first.answer) == ("cir", QUESTION, FOLLOW_ANSWER)
    assert first.tool_calls == 2  # a search and a visit, made from code in turn 1
    assert first.meta["turns"] == 2 and first.source == f"store:{cir_id}"
    assert first.meta["follow_ups"] == [FOLLOW_UP]
    second = by_id[tools_id]
    assert second.text == tools.trace
    assert second.trained_spans() == list(tools.generated_spans)
    assert (second.protocol, second.answer, second.tool_calls) == ("tools", TOOLS_ANSWER, 2)


def test_store_reads_only_the_named_sessions_by_id_prefix(store):
    cir_id, _ = record_session(store, cir_replies(), "cir", [QUESTION])
    record_session(store, tools_replies()[:2], "tools", [TOOLS_QUESTION])
    read = read_store(store, session_ids=[cir_id[:6], cir_id])
    assert [e.meta["session"] for e in read.examples] == [cir_id]
    assert read.examples[0].answer == ANSWER


def test_exported_session_reads_like_the_stored_one(store, tmp_path):
    sid, session = record_session(store, cir_replies(), "cir", [QUESTION])
    path = tmp_path / "session.json"
    path.write_text(to_json(store.get(sid)), encoding="utf-8")
    read = read_export(path)
    (example,) = read.examples
    assert example.text == session.trace
    assert example.trained_spans() == list(session.generated_spans)
    assert example.answer == ANSWER and example.source == f"export:{path}"
    # Exported before spans were kept: skipped and counted.
    data = json.loads(path.read_text("utf-8"))
    del data["generated_spans"]
    path.write_text(json.dumps(data), encoding="utf-8")
    assert read_export(path).skipped_by_reason() == {NO_SPANS: 1}


def test_bad_export_files_name_the_file(tmp_path):
    """Tried: not JSON, JSON that is no session export, a missing file."""
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"broken\.json: not a JSON session export"):
        read_export(broken)
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"other\.json: this is not an iisearch session export"):
        read_export(other)
    with pytest.raises(DatasetError, match="cannot read"):
        read_export(tmp_path / "missing.json")


def _eval_results(tmp_path, protocol: str, replies: list[str], question: str, target: str,
                  verdict_reply: str):
    runtime = scripted_runtime(replies, protocol)
    record = evaluate_one(runtime, QueueJudge([verdict_reply]), GRADERS["simpleqa"],
                          EvalItem(id="q1", question=question, answer=target))
    log = ResultsLog(tmp_path / protocol / "results.jsonl")
    log.append(record)
    return log.path, record


def test_eval_results_carry_gold_and_verdict(tmp_path):
    path, record = _eval_results(tmp_path, "cir", cir_replies(), QUESTION,
                                 "Maurice Koechlin and Emile Nouguier", "A")
    read = read_eval_results(path)
    (example,) = read.examples
    assert example.text == record.trace
    assert example.trained_spans() == [tuple(s) for s in record.generated_spans]
    assert example.protocol == "cir"
    assert example.gold == "Maurice Koechlin and Emile Nouguier"
    assert example.correct is True and example.answer == ANSWER
    assert example.tool_calls == 2 and example.meta["verdict"] == "correct"

    tools_path, _ = _eval_results(tmp_path, "tools", tools_replies()[:2], TOOLS_QUESTION,
                                  "Physics and chemistry", "B")
    (tools_example,) = read_eval_results(tools_path).examples
    assert tools_example.protocol == "tools" and tools_example.correct is False


def test_eval_records_without_a_usable_trace_are_skipped(tmp_path):
    path, record = _eval_results(tmp_path, "cir", cir_replies(), QUESTION, "Koechlin", "A")
    old = {**record.__dict__, "id": "old", "generated_spans": None}
    failed = {**record.__dict__, "id": "failed", "verdict": "error", "trace": "",
              "generated_spans": None, "answer": ""}
    cut = {**record.__dict__, "id": "cut", "end_reason": "length"}
    with path.open("a", encoding="utf-8") as handle:
        for data in (old, failed, cut):
            handle.write(json.dumps(data) + "\n")
    read = read_eval_results(path)
    assert len(read.examples) == 1
    assert read.skipped_by_reason() == {NO_SPANS: 1, FAILED: 1, NOT_ANSWERED: 1}


def test_bad_eval_lines_name_the_line(tmp_path):
    """Tried: a blank line, broken JSON, a record without its fields, spans outside the trace."""
    path, record = _eval_results(tmp_path, "cir", cir_replies(), QUESTION, "Koechlin", "A")
    good = path.read_text("utf-8")
    cases = {
        "\n": "line 2: the line is empty",
        "{oops\n": "line 2: not valid JSON",
        '{"question": "q"}\n': "line 2: not an eval result record",
        json.dumps({**record.__dict__, "generated_spans": [[0, 10**9]]}) + "\n":
            'line 2: bad "generated_spans"',
    }
    for extra, message in cases.items():
        path.write_text(good + extra, encoding="utf-8")
        with pytest.raises(DatasetError, match=message):
            read_eval_results(path)


def test_protocol_detection_from_the_trace_shape():
    cir_trace = "<|im_start|>system\nS<|im_end|>\n<|im_start|>assistant\n<think>\nhint\nI think"
    assert detect_protocol(cir_trace, [[cir_trace.index("I think"), len(cir_trace)]]) == "cir"
    tools_trace = "<|im_start|>system\nS<|im_end|>\n<|im_start|>assistant\n<think>\nSearch"
    assert detect_protocol(tools_trace, [[tools_trace.index("<think>"), len(tools_trace)]]) == "tools"
