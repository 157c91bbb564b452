"""The dataset filters: rejection sampling, decontamination, de-duplication, max length.

Decontamination runs against the real benchmark files in the shared data folder
(``$IISEARCH_SHARED/data``): a real SimpleQA question, an 8-gram overlap, a 91%-similar
paraphrase without any 8-gram in common, and questions that must not match.
"""

from __future__ import annotations

import os
from difflib import SequenceMatcher
from pathlib import Path

import pytest
from finetunedata_helpers import QueueJudge

from iisearch_local.evals.judge import GRADERS
from iisearch_local.finetune.decontam import (
    FUZZY_HIT,
    NGRAM_HIT,
    DecontaminationFilter,
    load_benchmarks,
)
from iisearch_local.finetune.examples import DatasetError, Segment, TokenizedExample, TraceExample
from iisearch_local.finetune.filters import (
    INCORRECT,
    NO_GOLD,
    OTHER_PROTOCOL,
    SAME_QA,
    SAME_TEXT,
    TOO_FEW_CALLS,
    TOO_LONG,
    UNPARSEABLE,
    CorrectnessFilter,
    DedupFilter,
    MaxLengthFilter,
    MinToolCallsFilter,
    ProtocolFilter,
    answer_matches,
    normalize_answer,
)

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("IISEARCH_SHARED", REPO.parent / "shared")) / "data"
SIMPLEQA = "simpleqa_test.csv"
# Real SimpleQA questions (checked to be in the file below).
KOREA = ("What were the month, date, and year when the South Korean Supreme Court legalized "
         "conscientious objection as a basis for rejecting compulsory military service?")
DAEMON = ("What did Daemon Targaryen say to Rhaenyra about living life in fear in Episode 4, "
          "Season 1 of House of the Dragon?")
# Three small edits (two words left out, one respelled): no 8 words in a row left in common.
KOREA_PARAPHRASE = ("What were the month, date, and year the South Korean Supreme Court legalised "
                    "conscientious objection as basis for rejecting compulsory military service?")
KOREA_NEAR_MISS = ("What were the month, date, and year the South Korean Supreme Court legalised "
                   "conscientious objection as basis for rejecting compulsory army service?")
# Eight words of DAEMON in a row inside an otherwise different question.
DAEMON_OVERLAP = ("In the books, what does Viserys say to Rhaenyra about living life in fear "
                  "before he dies?")
UNRELATED = "Which river flows through the capital of the fictional country in my novel?"


def example(question: str = "Q?", answer: str = "A", *, gold: str | None = None,
            correct: bool | None = None, calls: int = 5, protocol: str = "cir",
            text: str | None = None) -> TraceExample:
    body = text if text is not None else f"{question} -> {answer}"
    return TraceExample(protocol=protocol, segments=[Segment("prompt ", False), Segment(body, True)],
                        question=question, answer=answer, tool_calls=calls, source="test",
                        gold=gold, correct=correct)


@pytest.fixture(scope="module")
def benchmarks():
    if not (SHARED_DATA / SIMPLEQA).is_file():
        pytest.skip(f"benchmark data not found in {SHARED_DATA} (set IISEARCH_SHARED)")
    return load_benchmarks(SHARED_DATA)


def test_answer_normalisation():
    assert normalize_answer("The  Eiffel-Tower!") == "eiffel tower"
    assert answer_matches("It was Michio Sugeno.", "Michio Sugeno")
    assert answer_matches("MICHIO SUGENO", "michio sugeno")
    assert answer_matches("An apple", "apple")
    assert not answer_matches("Michio", "Michio Sugeno")
    assert not answer_matches("1,903", "1903 and 1911")
    assert not answer_matches("anything", "")
    assert not answer_matches("Sugenomichio", "Sugeno")  # whole words only


def test_correctness_by_match_and_by_verdict():
    items = [example("q1", "Paris is the capital.", gold="Paris"),
             example("q2", "Lyon", gold="Paris"),
             example("q3", "anything", correct=True),
             example("q4", "anything", correct=False, gold="anything"),  # the verdict decides
             example("q5", "no gold here")]
    result = CorrectnessFilter()(items)
    assert [e.question for e in result.kept] == ["q1", "q3"]
    assert (result.report.seen, result.report.dropped, result.report.kept) == (5, 3, 2)
    assert result.report.reasons == {INCORRECT: 2, NO_GOLD: 1}
    assert result.report.notes == {"checked by": {"match": 2, "verdict": 2}}


def test_correctness_by_an_llm_judge():
    judge = QueueJudge(["A", "B", "I cannot tell"])
    items = [example("Who?", "Koechlin", gold="Maurice Koechlin"),
             example("When?", "1890", gold="1889"),
             example("Where?", "Paris", gold="Paris"),
             example("What?", "x", correct=True)]  # no gold: the verdict decides, no judge call
    result = CorrectnessFilter(judge=judge, grader=GRADERS["simpleqa"])(items)
    assert [e.question for e in result.kept] == ["Who?", "What?"]
    assert result.report.reasons == {INCORRECT: 1, UNPARSEABLE: 1}
    assert len(judge.prompts) == 3
    assert "Maurice Koechlin" in judge.prompts[0] and "Koechlin" in judge.prompts[0]


def test_min_tool_calls_and_protocol():
    items = [example(calls=5), example(calls=4), example(calls=12, protocol="tools")]
    calls = MinToolCallsFilter(5)(items)
    assert [e.tool_calls for e in calls.kept] == [5, 12]
    assert calls.report.reasons == {TOO_FEW_CALLS: 1}
    assert calls.report.name == "at least 5 tool calls"
    protocol = ProtocolFilter("cir")(items)
    assert protocol.report.reasons == {OTHER_PROTOCOL: 1} and len(protocol.kept) == 2


def test_decontamination_hits_real_benchmark_questions(benchmarks):
    assert benchmarks.files[SIMPLEQA] > 4000
    assert "seal0_selection_keys.tsv" in benchmarks.skipped  # no question column: not read
    index = benchmarks.index
    questions = {q for _, q in index.questions}
    assert KOREA in questions and DAEMON in questions

    exact = index.check(KOREA)
    assert exact.kind == "ngram" and exact.benchmark == SIMPLEQA
    overlap = index.check(DAEMON_OVERLAP)
    assert overlap.kind == "ngram" and overlap.question == DAEMON
    assert SequenceMatcher(None, DAEMON_OVERLAP.split(), DAEMON.split()).ratio() < 0.9
    fuzzy = index.check(KOREA_PARAPHRASE)
    assert fuzzy.kind == "fuzzy" and fuzzy.question == KOREA and 0.9 <= fuzzy.similarity < 0.95
    assert index.check(KOREA_NEAR_MISS) is None  # 87% similar: below the threshold
    assert index.check(UNRELATED) is None

    result = DecontaminationFilter(index)([example(q) for q in (
        KOREA, DAEMON_OVERLAP, KOREA_PARAPHRASE, KOREA_NEAR_MISS, UNRELATED)])
    assert [e.question for e in result.kept] == [KOREA_NEAR_MISS, UNRELATED]
    assert result.report.reasons == {NGRAM_HIT: 2, FUZZY_HIT: 1}
    assert result.report.notes["hits per benchmark"] == {SIMPLEQA: 3}


def test_decontamination_checks_follow_up_questions_too(benchmarks):
    clean_first = example(UNRELATED)
    clean_first.meta["follow_ups"] = ["And the river's length?", DAEMON]
    result = DecontaminationFilter(benchmarks.index)([clean_first, example(UNRELATED)])
    assert result.report.reasons == {NGRAM_HIT: 1} and result.kept[0].meta == {}


def test_benchmark_folder_without_questions_is_a_clear_error(tmp_path):
    """Tried: a folder that does not exist, and one with no benchmark file in it."""
    with pytest.raises(DatasetError, match="does not exist"):
        load_benchmarks(tmp_path / "nowhere")
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="no benchmark questions found"):
        load_benchmarks(tmp_path)


def test_dedup_keeps_the_first_of_each():
    items = [example("Who built it?", "Eiffel", text="trace one"),
             example("who built  it", "eiffel.", text="trace two"),  # same question and answer
             example("Who built it?", "Koechlin", text="trace one"),  # same text
             example("Who built it?", "Koechlin", text="trace three")]
    result = DedupFilter()(items)
    assert [e.segments[1].text for e in result.kept] == ["trace one", "trace three"]
    assert result.report.reasons == {SAME_QA: 1, SAME_TEXT: 1}


def test_max_length_drops_and_counts():
    items = [TokenizedExample(tokens=list(range(n)), trained=[(0, n)]) for n in (10, 11, 12)]
    result = MaxLengthFilter(11)(items)
    assert [len(e) for e in result.kept] == [10, 11]
    assert result.report.reasons == {TOO_LONG: 1}
    assert result.report.to_dict() == {"name": "at most 11 tokens", "in": 3, "dropped": 1,
                                       "kept": 2, "reasons": {TOO_LONG: 1}}
