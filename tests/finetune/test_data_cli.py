"""``iisearch finetune data build``: exact output, the files it writes, and its errors.

Sessions are recorded for real in the user's (temporary) session store; jsonl traces come from
a file; the tokenizer is the tiny test model's real Qwen3 tokenizer.
"""

from __future__ import annotations

import json

import pytest
from finetunedata_helpers import (  # noqa: F401 - fixtures
    ANSWER,
    QUESTION,
    TOOLS_QUESTION,
    cir_replies,
    record_session,
    tokenizer,
    tokenizer_dir,
    tools_replies,
    write_jsonl,
)

from iisearch_local.cli import main
from iisearch_local.finetune.examples import read_dataset, tokenizer_fingerprint
from iisearch_local.sessions import SessionStore
from iisearch_local.sessions.export import import_session, to_json_dict

VOCAB = 151936
CONTAMINATED = "Which engineer's company built the internal frame of the Statue of Liberty in New York?"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("IISEARCH_HOME", str(tmp_path / "home"))
    for name in ("IISEARCH_EVAL_DATA", "IISEARCH_SHARED", "IISEARCH_MODEL_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def trace(question: str, answer: str, *, gold: str | None = None, searches: int = 2,
          protocol: str = "cir") -> dict:
    code = "\n".join(f"print(web_search(query='part {n}'))" for n in range(searches))
    line = {"protocol": protocol, "messages": [
        {"role": "user", "content": question},
        {"role": "assistant", "reasoning": "Let me search.", "code": code},
        {"role": "tool", "content": "Index: 1\nURL: https://local.example/x\nTitle: X\nPreview: x"},
        {"role": "assistant", "reasoning": "That settles it.", "content": answer}]}
    return {**line, "answer": gold} if gold is not None else line


@pytest.fixture
def inputs(home, tmp_path):
    """A history with CIR, tools and old sessions; a jsonl file; gold answers; a benchmark."""
    with SessionStore() as store:
        record_session(store, cir_replies(), "cir", [QUESTION])
        tools_id, _ = record_session(store, tools_replies()[:2], "tools", [TOOLS_QUESTION])
        old = to_json_dict(store.get(tools_id))
        old["generated_spans"], old["session"]["id"] = None, "0" * 12
        import_session(store, old)
    jsonl = write_jsonl(tmp_path / "traces.jsonl", [
        trace("Where was Marie Curie born?", "In Warsaw.", gold="Warsaw"),
        trace("Where was Marie Curie born?", "In Warsaw.", gold="Warsaw"),  # a duplicate
        trace("How tall is Mount Everest?", "About 9,000 metres.", gold="8,849 metres"),
        trace(CONTAMINATED, "Gustave Eiffel's company.", gold="Gustave Eiffel"),
        trace("When did Python 3.0 come out?", "In December 2008.", gold="December 2008",
              searches=1),
        trace("Who first reached the summit of Everest?", "Tenzing Norgay and Edmund Hillary.",
              gold="Tenzing Norgay and Edmund Hillary")])
    gold = tmp_path / "gold.csv"
    gold.write_text(f"question,answer\n{QUESTION},Maurice Koechlin and Emile Nouguier\n",
                    encoding="utf-8")
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "mini.csv").write_text(
        "question,answer\n\"Whose company built the internal frame of the Statue of Liberty in "
        "New York?\",Eiffel\n", encoding="utf-8")
    return {"jsonl": jsonl, "gold": gold, "bench": bench}


def build(tokenizer_dir, out, *args) -> int:
    return main(["finetune", "data", "build", "--tokenizer", str(tokenizer_dir), "--out",
                 str(out), *map(str, args)])


def test_build_prints_the_counts_and_writes_the_dataset(inputs, tokenizer_dir, tmp_path, capsys):
    out = tmp_path / "dataset"
    code = build(tokenizer_dir, out, "--from-store", "--from-jsonl", inputs["jsonl"],
                 "--protocol", "cir", "--gold", inputs["gold"], "--min-tool-calls", 2,
                 "--benchmarks", inputs["bench"], "--valid-fraction", 0.34, "--seed", 0)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    jsonl = inputs["jsonl"]
    assert captured.err == "\n".join([
        "Sources:",
        "  session store: 2 read, 1 skipped",
        "    - no record of what the model generated (made before this was kept): 1",
        f"  jsonl {jsonl}: 6 read, 0 skipped",
        "",
        "  step                       in  dropped    kept",
        "  protocol cir                8        1       7",
        "    - other protocol: 1",
        "  correct answer              7        1       6",
        "    - answer judged incorrect: 1",
        "  at least 2 tool calls       6        1       5",
        "    - too few tool calls: 1",
        "  decontamination             5        1       4",
        "    - 8-gram overlap with a benchmark question: 1",
        "  de-duplication              4        1       3",
        "    - same question and answer as an earlier example: 1",
        "  at most 26000 tokens        3        0       3",
    ]) + "\n"
    train = list(read_dataset(out / "train.jsonl", vocab_size=VOCAB))
    valid = list(read_dataset(out / "valid.jsonl", vocab_size=VOCAB))
    assert (len(train), len(valid)) == (2, 1)
    every = train + valid
    tokens = sum(len(e) for e in every)
    trained = sum(e.trained_tokens for e in every)
    assert captured.out == (f"Wrote 2 training and 1 validation examples ({tokens} tokens, "
                            f"{trained} trained) to {out}\n")
    questions = sorted(e.meta["question"] for e in every)
    assert questions == sorted([QUESTION, "Where was Marie Curie born?",
                                "Who first reached the summit of Everest?"])
    stored = next(e for e in every if e.meta["question"] == QUESTION)
    assert stored.meta["answer"] == ANSWER and stored.meta["tool_calls"] == 2
    report = json.loads((out / "build.json").read_text("utf-8"))
    # the fingerprint training checks the base model against (by behaviour, not file bytes)
    assert report["tokenizer"] == tokenizer_fingerprint(tokenizer_dir) and report["protocol"] == "cir"
    assert report["train"] == {"examples": 2, "tokens": sum(len(e) for e in train),
                               "trained_tokens": sum(e.trained_tokens for e in train)}
    assert report["options"]["min_tool_calls"] == 2 and report["options"]["seed"] == 0
    assert report["benchmarks"]["files"] == {"mini.csv": 1}
    assert [f["name"] for f in report["filters"]][-1] == "at most 26000 tokens"
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(".")) == []


def test_the_same_seed_gives_the_same_split(inputs, tokenizer_dir, tmp_path, capsys):
    args = ("--from-jsonl", inputs["jsonl"], "--no-decontaminate", "--min-tool-calls", 1,
            "--valid-fraction", 0.5, "--date", "Mon, 02 Jun 2025 14:03:00 GMT")
    assert build(tokenizer_dir, tmp_path / "a", *args, "--seed", 3) == 0
    assert build(tokenizer_dir, tmp_path / "b", *args, "--seed", 3) == 0
    for name in ("train.jsonl", "valid.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "valid.jsonl").read_bytes()
    report = json.loads((tmp_path / "a" / "build.json").read_text("utf-8"))
    assert report["options"]["default_date"] == "Mon, 02 Jun 2025 14:03:00 GMT"
    assert build(tokenizer_dir, tmp_path / "c", *args, "--seed", 4) == 0
    assert (tmp_path / "a" / "valid.jsonl").read_bytes() != (tmp_path / "c" / "valid.jsonl").read_bytes()
    capsys.readouterr()


def test_nothing_left_is_an_error_that_shows_where_they_went(inputs, tokenizer_dir, tmp_path,
                                                               capsys):
    out = tmp_path / "dataset"
    code = build(tokenizer_dir, out, "--from-jsonl", inputs["jsonl"], "--no-rejection",
                 "--no-decontaminate", "--no-dedup", "--max-length", 100)
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == "\n".join([
        "Sources:",
        f"  jsonl {inputs['jsonl']}: 6 read, 0 skipped",
        "",
        "  step                    in  dropped    kept",
        "  protocol cir             6        0       6",
        "  at most 100 tokens       6        6       0",
        "    - longer than the max length: 6",
        "Error: no examples are left to train on",
        "The step 'at most 100 tokens' dropped 6 of 6; see the counts above.\n"])
    assert captured.out == "" and not out.exists()


def test_a_failed_build_keeps_the_earlier_dataset(inputs, tokenizer_dir, tmp_path, capsys):
    """Tried: rebuilding into a finished dataset from a file whose second line is broken."""
    out = tmp_path / "dataset"
    assert build(tokenizer_dir, out, "--from-jsonl", inputs["jsonl"], "--no-decontaminate",
                 "--min-tool-calls", 1) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = write_jsonl(tmp_path / "broken.jsonl", [trace("Q?", "A."), "{oops"])
    capsys.readouterr()
    assert build(tokenizer_dir, out, "--from-jsonl", broken, "--no-decontaminate") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Error: {broken}, line 2: not valid JSON")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_folder_that_is_not_a_dataset_is_not_overwritten(inputs, tokenizer_dir, tmp_path,
                                                              capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    assert build(tokenizer_dir, out, "--from-jsonl", inputs["jsonl"], "--no-decontaminate") == 1
    assert capsys.readouterr().err.startswith(f"Error: {out} is not empty and holds no dataset")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_benchmarks_come_from_the_eval_data_folder(inputs, tokenizer_dir, tmp_path, capsys,
                                                   monkeypatch):
    out = tmp_path / "dataset"
    args = ("--from-jsonl", inputs["jsonl"], "--min-tool-calls", 1)
    assert build(tokenizer_dir, out, *args) == 1
    err = capsys.readouterr().err
    assert err == ("Error: where are the benchmark files to decontaminate against?\n"
                   "Pass --benchmarks DIR (or set IISEARCH_EVAL_DATA), or --no-decontaminate.\n")
    monkeypatch.setenv("IISEARCH_EVAL_DATA", str(inputs["bench"]))
    assert build(tokenizer_dir, out, *args) == 0
    report = json.loads((out / "build.json").read_text("utf-8"))
    assert report["benchmarks"]["folder"] == str(inputs["bench"])
    decontamination = next(f for f in report["filters"] if f["name"] == "decontamination")
    assert decontamination["dropped"] == 1


def test_input_errors_are_clear(inputs, tokenizer_dir, tmp_path, capsys):
    """Tried: no sources, a folder without tokenizer.json, traces of both protocols."""
    out = tmp_path / "dataset"
    assert build(tokenizer_dir, out, "--no-decontaminate") == 1
    assert capsys.readouterr().err == ("Error: no traces to build from\nGive --from-store, "
                                       "--from-export, --from-jsonl or --from-eval.\n")
    assert build(tmp_path, out, "--from-jsonl", inputs["jsonl"], "--no-decontaminate") == 1
    assert capsys.readouterr().err.startswith(f"Error: no tokenizer.json in {tmp_path}\n")
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [
        trace("Q1?", "A."), {"protocol": "tools", "messages": [
            {"role": "user", "content": "Q2?"}, {"role": "assistant", "content": "A."}]}])
    assert build(tokenizer_dir, out, "--from-jsonl", mixed, "--no-decontaminate") == 1
    assert capsys.readouterr().err == (
        "Error: the traces use both protocols (cir, tools)\n"
        "Pass --protocol cir or --protocol tools: a dataset trains one model.\n")
    assert not out.exists()


def test_exports_and_eval_results_as_sources(home, tokenizer_dir, tmp_path, capsys):
    from finetunedata_helpers import QueueJudge, scripted_runtime

    from iisearch_local.evals.datasets import EvalItem
    from iisearch_local.evals.judge import GRADERS
    from iisearch_local.evals.runner import ResultsLog, evaluate_one
    from iisearch_local.sessions.export import to_json

    with SessionStore(tmp_path / "elsewhere.db") as store:
        sid, _ = record_session(store, cir_replies(), "cir", [QUESTION])
        export = tmp_path / "session.json"
        export.write_text(to_json(store.get(sid)), encoding="utf-8")
    record = evaluate_one(scripted_runtime(tools_replies()[:2], "tools"), QueueJudge(["A"]),
                          GRADERS["simpleqa"], EvalItem(id="1", question=TOOLS_QUESTION,
                                                        answer="physics and chemistry"))
    results = ResultsLog(tmp_path / "run" / "results.jsonl")
    results.append(record)
    out = tmp_path / "dataset"
    assert build(tokenizer_dir, out, "--from-export", export, "--from-eval", results.path,
                 "--protocol", "tools", "--no-decontaminate", "--min-tool-calls", 2) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("\n".join([
        "Sources:", f"  export {export}: 1 read, 0 skipped",
        f"  eval {results.path}: 1 read, 0 skipped", "",
        "  step                       in  dropped    kept",
        "  protocol tools              2        1       1",
        "    - other protocol: 1",
        "  correct answer              1        0       1",  # the eval's verdict
    ]))
    (example,) = read_dataset(out / "train.jsonl")
    assert example.meta["verdict"] == "correct" and example.meta["protocol"] == "tools"
