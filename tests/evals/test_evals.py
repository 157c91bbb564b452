"""The benchmark harness: real benchmark files, full research sessions on a scripted model with a
local source, judged through a chat endpoint on 127.0.0.1; the report; resume after a kill."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from evaltest_helpers import (
    answer_for,
    judge_server,
    runtime_factory,
    shared_data,
    write_items,
)

from iisearch_local.evals import (
    GRADERS,
    ChatJudge,
    EvalRecord,
    load_benchmark,
    markdown_report,
    read_records,
    run_eval,
    select,
    summarize,
    wilson_interval,
)
from iisearch_local.evals.datasets import DatasetError, read_items

HERE = Path(__file__).parent


@pytest.mark.parametrize("name", ["simpleqa", "frames", "seal0"])
def test_a_ten_question_slice_of_each_benchmark_is_researched_and_judged(tmp_path, name):
    bench = load_benchmark(name, data_dir=shared_data())
    items = select(bench.items, limit=10)
    assert len(items) == 10 and all(i.question and i.answer for i in items)
    with judge_server() as (url, judged):
        judge = ChatJudge(url, retries=0)
        records = run_eval(items, open_runtime=runtime_factory(items), judge=judge,
                           grader=GRADERS[bench.grader], out_dir=tmp_path)
    assert [r.id for r in records] == [i.id for i in items]
    for item, record in zip(items, records):
        assert record.answer.startswith(answer_for(item))  # the session's cited answer
        assert record.verdict == ("correct" if int(item.id) % 2 == 0 else "incorrect"), record
        assert record.searches == 1 and record.tool_calls == 1 and record.end_reason == "answered"
        assert record.judge_reply
        # The whole trace is kept: the question, the model's search and the answer.
        assert item.question.strip() in record.trace and record.answer in record.trace
        # ... with the ranges the model wrote (the fine-tuning data builder trains on them).
        assert record.generated_spans and all(
            record.trace[a:b] for a, b in record.generated_spans)
        assert record.answer in "".join(record.trace[a:b] for a, b in record.generated_spans)
    assert sum(judged.values()) == 10
    summary = summarize(name, records)
    assert (summary.correct, summary.incorrect, summary.unparseable) == (5, 5, 0)
    assert summary.mean_searches == 1.0
    # Every finished question is already on disk, one JSON line each.
    assert [r.id for r in read_records(tmp_path / "results.jsonl")] == [i.id for i in items]


def test_frames_file_keeps_its_ids_and_the_seeded_sample_is_stable():
    bench = load_benchmark("frames", data_dir=shared_data())
    assert len(bench.items) == 824 and bench.items[0].answer == "Jane Ballou"
    assert not bench.items[0].question.endswith(" ")  # CRLF file with trailing spaces
    first = select(bench.items, sample=5, seed=3)
    assert select(bench.items, sample=5, seed=3) == first
    assert select(bench.items, sample=5, seed=4) != first


def test_a_users_file_needs_question_and_answer_columns(tmp_path):
    """A CSV without an answer column is refused with a message naming the columns found."""
    good = tmp_path / "mine.csv"
    good.write_text("Question,Answer\nWho?,Me\n", encoding="utf-8")
    assert read_items(good)[0].answer == "Me"
    bad = tmp_path / "bad.csv"
    bad.write_text("question,reply\nWho?,Me\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="needs a question and an answer") as caught:
        read_items(bad)
    assert "question, reply" in caught.value.hint
    with pytest.raises(DatasetError, match="--data"):
        load_benchmark("simpleqa", data_dir=None)


@pytest.mark.parametrize("reply,verdict", [
    ("A", "correct"), ("B", "incorrect"), ("C", "not_attempted"), (" A\n", "correct"),
    ("<think>maybe B?</think>\nA", "correct"), ("INCORRECT", "incorrect"),
    ("NOT_ATTEMPTED", "not_attempted"), ("", "unparseable"), ("I refuse.", "unparseable"),
    ("CORRECT or INCORRECT", "unparseable"),
])
def test_abc_grader_replies(reply, verdict):
    assert GRADERS["simpleqa"].parse(reply) == verdict


@pytest.mark.parametrize("reply,verdict", [
    ('Explanation: same.\nDecision: "TRUE"', "correct"), ("Decision: FALSE", "incorrect"),
    ("TRUE", "unparseable"), ('Decision: "TRUE" ... Decision: "FALSE"', "unparseable"),
])
def test_frames_grader_replies(reply, verdict):
    assert GRADERS["frames"].parse(reply) == verdict


def test_an_unparseable_verdict_is_counted_apart_never_as_wrong(tmp_path):
    """The judge rambles for two questions: they are kept with the raw reply, outside the rate."""
    items = select(load_benchmark("seal0", data_dir=shared_data()).items, limit=6)
    junk = [items[0].question, items[3].question]  # one right answer (id 0), one wrong (id 3)
    with judge_server(junk_for=junk) as (url, _):
        records = run_eval(items, open_runtime=runtime_factory(items),
                           judge=ChatJudge(url, retries=0), grader=GRADERS["seal0"],
                           out_dir=tmp_path)
    odd = {r.id: r for r in records}
    assert odd["0"].verdict == odd["3"].verdict == "unparseable"
    assert odd["0"].judge_reply == "I am not sure what you want me to do here."
    summary = summarize("seal0", records)
    assert (summary.correct, summary.incorrect, summary.unparseable) == (2, 2, 2)
    assert summary.pass_rate == 0.5
    assert "| seal0 | 6 | 2 | 2 | 0 | 2 | 0 |" in markdown_report([summary])


def _record(id_: str, verdict: str, **stats) -> EvalRecord:
    values = dict(searches=2, visits=1, tool_calls=3, prompt_tokens_evaluated=100,
                  completion_tokens=50, wall_seconds=1.5) | stats
    return EvalRecord(id=id_, question="q", target="t", answer="a", verdict=verdict,
                      judge_reply="", end_reason="answered", **values)


def test_report_table_matches_the_model_card_shape():
    records = ([_record(str(i), "correct") for i in range(7)]
               + [_record("7", "incorrect", searches=6), _record("8", "not_attempted"),
                  _record("9", "error", searches=0), _record("9", "incorrect")])  # 9 was rerun
    summary = summarize("simpleqa", records)
    assert summary.questions == 10 and summary.graded == 10 and summary.errors == 0
    low, high = wilson_interval(7, 10)
    assert (round(low, 3), round(high, 3)) == (0.397, 0.892)  # textbook Wilson values
    table = markdown_report([summary], model="II-Search-4B", judge="http://judge")
    lines = table.splitlines()
    assert lines[2] == "| Benchmark | Pass rate % | 95% CI | # search | # visit | # tool used |"
    assert lines[4] == "| simpleqa | 70.0 | 39.7-89.2 | 2.40 | 1.00 | 3.00 |"
    assert "| simpleqa | 10 | 7 | 2 | 1 | 0 | 0 | 15.0 | 500 | 1000 |" in table
    assert wilson_interval(0, 0) == (0.0, 0.0)
    assert wilson_interval(10, 10) == (pytest.approx(0.722, abs=1e-3), pytest.approx(1.0))


def test_concurrent_workers_each_get_their_own_runtime(tmp_path):
    items = select(load_benchmark("simpleqa", data_dir=shared_data()).items, limit=8)
    opened: list = []
    with judge_server() as (url, judged):
        records = run_eval(items, open_runtime=runtime_factory(items, opened=opened),
                           judge=ChatJudge(url, retries=0), grader=GRADERS["simpleqa"],
                           out_dir=tmp_path, concurrency=3)
    assert len(opened) == 3 and len({id(r.backend) for r in opened}) == 3
    assert sorted(r.id for r in records) == sorted(i.id for i in items)
    assert summarize("simpleqa", records).correct == 4
    assert set(judged.values()) == {1}


def test_resume_after_kill_judges_no_question_twice(tmp_path):
    """A run killed with SIGKILL mid-way is rerun: finished questions are skipped, none doubled."""
    items = select(load_benchmark("simpleqa", data_dir=shared_data()).items, limit=10)
    data = tmp_path / "slice.jsonl"
    write_items(data, items)
    out = tmp_path / "run"
    results = out / "results.jsonl"
    with judge_server() as (url, judged):
        child = subprocess.Popen([sys.executable, str(HERE / "eval_child.py"), str(data), url,
                                  str(out)], stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while not (results.exists() and results.read_text().count("\n") >= 3):
                assert child.poll() is None, child.stderr.read().decode()
                assert time.monotonic() < deadline, "the child made no progress"
                time.sleep(0.05)
            child.kill()
            child.wait()
        finally:
            child.stderr.close()
        first = [r.id for r in read_records(results)]
        assert 3 <= len(first) < 10, "killed mid-run"
        judged_in_child = dict(judged)
        records = run_eval(read_items(data), open_runtime=runtime_factory(items),
                           judge=ChatJudge(url, retries=0), grader=GRADERS["simpleqa"],
                           out_dir=out)
    ids = [r.id for r in records]
    assert len(ids) == len(set(ids)) == 10
    on_disk = [json.loads(line)["id"] for line in results.read_text().splitlines()]
    assert on_disk == ids
    by_id = {i.id: i.question for i in items}
    for id_ in first:  # recorded before the kill: judged once, never again
        assert judged[by_id[id_]] == 1 == judged_in_child[by_id[id_]]
    assert summarize("simpleqa", records).correct == 5
