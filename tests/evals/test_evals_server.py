"""The harness against llama-cpp-python's real OpenAI-compatible server (tiny random model): as the
judge, and as the researched model behind ``iisearch eval --backend openai``.

The model's words are noise, so the verdicts are junk: the tests only check that every reply was
read into a verdict or counted unparseable, and that the whole command runs and reports.
"""

from __future__ import annotations

import json

import pytest
from evaltest_helpers import judge_server, runtime_factory, shared_data, write_items
from openai_servers import llama_cpp_server

from iisearch_local.cli import main
from iisearch_local.evals import GRADERS, ChatJudge, load_benchmark, run_eval, select, summarize

VERDICTS = {"correct", "incorrect", "not_attempted", "unparseable"}


@pytest.fixture(scope="module")
def server_url(tiny_models):
    with llama_cpp_server(tiny_models.gguf_q8_0, context_size=4096) as url:
        yield url


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("IISEARCH_HOME", str(tmp_path / "home"))
    for name in ("IISEARCH_BACKEND_NAME", "IISEARCH_MODEL_NAME", "IISEARCH_MODEL_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)


def test_a_real_chat_server_as_judge(tmp_path, server_url):
    items = select(load_benchmark("frames", data_dir=shared_data()).items, limit=2)
    judge = ChatJudge(server_url, retries=0, max_tokens=64)  # random text: keep it short
    try:
        records = run_eval(items, open_runtime=runtime_factory(items), judge=judge,
                           grader=GRADERS["frames"], out_dir=tmp_path)
    finally:
        judge.close()
    assert len(records) == 2
    for record in records:
        assert record.verdict in VERDICTS
        assert record.judge_reply  # the raw reply is kept whatever it says
    summary = summarize("frames", records)
    assert summary.graded + summary.unparseable == 2


def test_eval_command_on_the_openai_backend_resumes_and_reports(tmp_path, server_url, capsys):
    """``iisearch eval FILE --backend openai --search sample``: research on the served model."""
    items = select(load_benchmark("seal0", data_dir=shared_data()).items, limit=2)
    data = tmp_path / "two.jsonl"
    write_items(data, items)
    out = tmp_path / "run"
    limits = ["--set", "research.max_tokens_per_turn=48", "--set", "research.answer_max_tokens=32",
              "--set", "research.max_generated_tokens=160", "--set", "research.answer_reserve_tokens=32",
              "--set", f"openai.base_url={server_url}", "--set", "openai.context_size=4096",
              "--set", "sessions.save=false"]
    with judge_server() as (judge_url, judged):
        args = [*limits, "eval", str(data), "--backend", "openai", "--search", "sample",
                "--judge", judge_url, "--out", str(out), "--grader", "seal0"]
        assert main(args) == 0
        assert main(args) == 0  # everything already judged: nothing runs again
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == [item.id for item in items]
    assert all(line["verdict"] in VERDICTS for line in lines), lines  # sessions ran, judged
    assert sum(judged.values()) == sum(line["verdict"] != "error" for line in lines)
    report = (out / "report.md").read_text()
    assert "| Benchmark | Pass rate % | 95% CI | # search | # visit | # tool used |" in report
    assert report in capsys.readouterr().out


@pytest.mark.parametrize("backend_name", ["llama"])  # MLX on a Linux CPU: minutes per reply
def test_a_local_model_as_judge(tiny_models, backend_name):
    """``--judge`` naming a local model: the grader prompt runs on a real backend; its (random)
    reply is read into a verdict or counted unparseable, and the raw reply is kept."""
    from iisearch_local.backends.base import LoadOptions
    from iisearch_local.backends.registry import load_backend
    from iisearch_local.evals.judge import BackendJudge, grade

    path = tiny_models.gguf_q8_0 if backend_name == "llama" else tiny_models.mlx_q4
    judge = BackendJudge(load_backend(backend_name, path, LoadOptions(context_size=4096)))
    try:
        verdict, raw = grade(judge, GRADERS["simpleqa"], question="Who wrote Hamlet?",
                             target="William Shakespeare", answer="Shakespeare")
    finally:
        judge.close()
    assert verdict in VERDICTS
    assert isinstance(raw, str) and raw
