"""``build_dataset`` as a library: the typed report, the split, what the files hold."""

from __future__ import annotations


import pytest
from finetunedata_helpers import (  # noqa: F401 - fixtures
    DATE,
    QUESTION,
    cir_messages,
    cir_replies,
    make_session,
    observations,
    run,
    tokenizer,
    tokenizer_dir,
    write_jsonl,
)

from iisearch_local.finetune.build import (
    EmptyDatasetError,
    build_dataset,
    split_by_question,
)
from iisearch_local.finetune.examples import (
    DatasetError,
    TokenizedExample,
    read_dataset,
    tokenizer_fingerprint,
    tokenize_example,
)
from iisearch_local.finetune.render import TraceRenderer, check_trace


def tokenized(question: str, n: int = 3) -> TokenizedExample:
    return TokenizedExample(tokens=list(range(n)), trained=[(0, n)], meta={"question": question})


def test_split_keeps_each_question_on_one_side():
    examples = [tokenized(f"q{i % 10}") for i in range(40)]  # 10 questions, 4 traces each
    train, valid = split_by_question(examples, valid_fraction=0.2, seed=1)
    assert len(valid) == 8 and len(train) == 32
    assert not {e.meta["question"] for e in train} & {e.meta["question"] for e in valid}
    assert split_by_question(examples, valid_fraction=0.2, seed=1) == (train, valid)
    assert split_by_question(examples, valid_fraction=0.2, seed=2) != (train, valid)
    assert split_by_question(examples, valid_fraction=0, seed=1) == (examples, [])


def test_split_never_empties_training():
    same = [tokenized("only question") for _ in range(5)]
    assert split_by_question(same, valid_fraction=0.5, seed=0) == (same, [])
    two = [tokenized("a"), tokenized("b")]
    train, valid = split_by_question(two, valid_fraction=0.01, seed=0)
    assert (len(train), len(valid)) == (1, 1)


def test_built_file_holds_the_rendered_trace_and_its_mask(tokenizer_dir, tokenizer, tmp_path):
    session = make_session(cir_replies(), "cir")
    seen = observations(run(session, QUESTION))
    session.close()
    line = {"protocol": "cir", "date": DATE, "answer": "Koechlin", "tool_calls": 5,
            "messages": cir_messages(seen, follow_up=False)}
    path = write_jsonl(tmp_path / "t.jsonl", [line])
    report = build_dataset(tokenizer=tokenizer_dir, out=tmp_path / "ds", jsonl=[path],
                           decontaminate=False)
    assert (report.protocol, report.train.examples, report.valid.examples) == ("cir", 1, 0)
    assert report.tokenizer == tokenizer_fingerprint(tokenizer_dir)
    assert [f.name for f in report.filters] == [
        "protocol cir", "correct answer", "at least 5 tool calls", "de-duplication",
        "at most 26000 tokens"]
    (written,) = read_dataset(tmp_path / "ds" / "train.jsonl", vocab_size=151936)
    expected = tokenize_example(tokenizer, TraceRenderer(default_date=DATE).render(
        check_trace(line, where="t"), source="t"))
    assert written.tokens == expected.tokens and written.trained == expected.trained
    assert tokenizer.decode(written.tokens, skip_special_tokens=False) == session.trace
    assert report.train.tokens == len(written) and report.train.trained_tokens == written.trained_tokens


def test_empty_result_carries_the_report(tokenizer_dir, tmp_path):
    line = {"protocol": "tools", "answer": "yes", "messages": [
        {"role": "user", "content": "Is it?"}, {"role": "assistant", "content": "No."}]}
    path = write_jsonl(tmp_path / "t.jsonl", [line])
    with pytest.raises(EmptyDatasetError) as caught:
        build_dataset(tokenizer=tokenizer_dir, out=tmp_path / "ds", jsonl=[path],
                      decontaminate=False)
    report = caught.value.report
    assert report.filters[1].name == "correct answer" and report.filters[1].dropped == 1
    assert not (tmp_path / "ds").exists()


def test_bad_options_are_refused_before_any_work(tokenizer_dir, tmp_path):
    """Tried: an unknown protocol, a validation fraction of 1, a date that is no HTTP date."""
    path = write_jsonl(tmp_path / "t.jsonl", [])
    for options, message in (({"protocol": "chat"}, "unknown protocol"),
                             ({"valid_fraction": 1.0}, "validation fraction"),
                             ({"date": "2025-06-02"}, "not an HTTP date")):
        with pytest.raises(DatasetError, match=message):
            build_dataset(tokenizer=tokenizer_dir, out=tmp_path / "ds", jsonl=[path],
                          decontaminate=False, **options)
