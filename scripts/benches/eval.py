"""scripts/bench eval: questions per minute with --concurrency 1 vs 4 against a local server.

The server is llama-cpp-python's own OpenAI-compatible server on the tiny Qwen3 GGUF (or --model).
Two figures, measured in the same run:
- server_batch_speedup: throughput of the raw completion requests the sessions make, 4 at once vs
  one at a time (what the server itself gains from concurrency: the reference);
- eval_concurrency_speedup: questions/min of `run_eval` with concurrency 4 vs 1 (ours); target:
  at least 0.8 x the server's own speed-up ("should approach the server's batch speed-up").
llama-cpp-python's server runs one request at a time, so both stay near 1 there; vLLM / SGLang
batch and show the real gain (pass --url to point at such a server).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, say  # noqa: E402

import httpx  # noqa: E402

from iisearch_local.config import load_config  # noqa: E402
from iisearch_local.evals import EvalItem, run_eval  # noqa: E402
from iisearch_local.evals import GRADERS  # noqa: E402
from iisearch_local.research.factory import ResearchRuntime, plan_session  # noqa: E402

QUESTIONS = [f"Which city hosted event number {n} in the sample pages?" for n in range(12)]
LIMITS = ["research.max_tokens_per_turn=48", "research.answer_max_tokens=32",
          "research.max_generated_tokens=160", "research.answer_reserve_tokens=32",
          "openai.context_size=4096", "sessions.save=false"]


class InstantJudge:
    """Says "correct" at once: the bench measures research throughput, not a judge's."""

    def reply(self, prompt: str) -> str:
        return "A"

    def close(self) -> None:
        pass


def server_speedup(url: str, requests: int, concurrency: int) -> float:
    body = {"prompt": "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
            "max_tokens": 48, "temperature": 0.0}

    def one(_: int) -> None:
        httpx.post(f"{url}/v1/completions", json=body, timeout=120).raise_for_status()

    start = time.perf_counter()
    for n in range(requests):
        one(n)
    sequential = time.perf_counter() - start
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(requests)))
    parallel = time.perf_counter() - start
    return sequential / parallel


def questions_per_minute(url: str, concurrency: int, out: Path) -> float:
    config = load_config().with_assignments([*LIMITS, f"openai.base_url={url}"])
    plan = plan_session(config, model=None, backend="openai", engines=("sample",))
    items = [EvalItem(id=str(n), question=q, answer="x") for n, q in enumerate(QUESTIONS)]
    start = time.perf_counter()
    run_eval(items, open_runtime=lambda: ResearchRuntime.open(plan, config), judge=InstantJudge(),
             grader=GRADERS["simpleqa"], out_dir=out, concurrency=concurrency)
    return len(items) / ((time.perf_counter() - start) / 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="an OpenAI-compatible server instead of a local one")
    parser.add_argument("--model", type=Path, help="GGUF for the local server (default: tiny)")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, contextlib.ExitStack() as stack:
        import os
        os.environ["IISEARCH_HOME"] = home
        url = args.url
        if url is None:
            from iisearch_local.testing.servers import llama_cpp_server
            model = args.model
            if model is None:
                from iisearch_local.testing.fixtures import ensure_tiny_models
                model = ensure_tiny_models().gguf_q8_0
            url = stack.enter_context(llama_cpp_server(model, context_size=4096))
        say(f"server {url}")
        reference = server_speedup(url, requests=8, concurrency=args.concurrency)
        say(f"  server: {reference:.2f}x with {args.concurrency} requests at once")
        one = questions_per_minute(url, 1, Path(home) / "c1")
        many = questions_per_minute(url, args.concurrency, Path(home) / f"c{args.concurrency}")
        ours = many / one
        say(f"  eval: {one:.1f} q/min at 1, {many:.1f} q/min at {args.concurrency} ({ours:.2f}x)")
        emit("eval", "server_batch_speedup", ours=round(reference, 3), reference=None,
             ratio=None, target="reference figure", passed=True,
             concurrency=args.concurrency)
        emit("eval", "eval_concurrency_speedup", ours=round(ours, 3),
             reference=round(reference, 3), ratio=round(ours / reference, 3),
             target=">= 0.8 x the server's own speed-up", passed=ours >= 0.8 * reference,
             questions_per_min_c1=round(one, 2), questions_per_min_cN=round(many, 2))


if __name__ == "__main__":
    main()
