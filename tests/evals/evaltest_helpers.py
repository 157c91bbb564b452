"""Helpers of the eval tests: a scripted research model that answers benchmark questions from a
local source, runtimes built on it, and a scripted judge endpoint (http.server on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from iisearch_local.backends.base import GenerationOptions
from iisearch_local.backends.scripted import ScriptedBackend
from iisearch_local.evals.datasets import EvalItem
from iisearch_local.research import ResearchSettings
from iisearch_local.research.factory import ResearchRuntime, SessionPlan
from iisearch_local.research.local_source import Document, InMemorySource

REPO = Path(__file__).resolve().parents[2]
# The backends' test servers (llama-cpp-python's real server, the scripted http.server).
sys.path.insert(0, str(REPO / "tests" / "backends"))

from openai_servers import scripted_server  # noqa: E402


def shared_data() -> Path:
    return Path(os.environ.get("IISEARCH_SHARED", REPO.parent / "shared")) / "data"


def answer_for(item: EvalItem) -> str:
    """Even ids get the right answer, odd ids a wrong one: the judge must tell them apart."""
    return item.answer if int(item.id) % 2 == 0 else "Nobody knows"


class QuestionAwareBackend(ScriptedBackend):
    """A scripted CIR model: for each new question it searches once, then answers.

    The question is read from the prompt, so one backend serves every question of a run.
    """

    def __init__(self, items: Sequence[EvalItem], *, delay: float = 0.0) -> None:
        super().__init__()
        self.items = list(items)
        self.delay = delay  # seconds per question, so a subprocess can be killed mid-run

    def generate(self, prompt: str, options: GenerationOptions = GenerationOptions(), *,
                 cancel=None):
        if not self._replies:
            item = next(i for i in self.items if i.question in prompt)
            time.sleep(self.delay)
            self.queue(f"Search.\n<start_code>\n```python\nprint(web_search(query=\"q{item.id}\"))"
                       "\n```\n<end_code>",
                       f"\n</think>\n\n{answer_for(item)} ([source](https://local.example/q{item.id}))")
        return super().generate(prompt, options, cancel=cancel)


def source_for(items: Sequence[EvalItem]) -> InMemorySource:
    return InMemorySource([Document(url=f"https://local.example/q{i.id}", title=f"q{i.id}",
                                    text=f"q{i.id}: {i.answer}.") for i in items])


def runtime_factory(items: Sequence[EvalItem], *, delay: float = 0.0, opened: list | None = None):
    """``open_runtime`` for ``run_eval``: a fresh scripted model and local source per worker."""
    plan = SessionPlan(model_name="scripted", model_path=Path("scripted"), backend="scripted",
                       protocol="cir", engines=("local",), offline=True,
                       settings=ResearchSettings())

    def open_runtime() -> ResearchRuntime:
        source = source_for(items)
        runtime = ResearchRuntime(plan, backend=QuestionAwareBackend(items, delay=delay),
                                  functions=source.functions())
        if opened is not None:
            opened.append(runtime)
        return runtime

    return open_runtime


_GOLD_RE = re.compile(r"(?:Gold target|Ground Truth Answer): (.*)")
_PREDICTED_RE = re.compile(r"Predicted [Aa]nswer: (.*)")
_QUESTION_RE = re.compile(r"Question: (.*)")


@contextmanager
def judge_server(*, junk_for: Sequence[str] = ()) -> Iterator[tuple[str, Counter]]:
    """A chat endpoint that grades like a perfect judge (gold text in the answer = correct).

    Replies junk for questions containing any of ``junk_for``. Yields the URL and a Counter of
    the questions it judged.
    """
    judged: Counter = Counter()

    def handle(method, path, body):
        if path != "/v1/chat/completions":
            return 404, {"error": "not found"}
        prompt = body["messages"][-1]["content"]
        # The grader templates carry worked examples: the real fields are the last ones.
        question = _QUESTION_RE.findall(prompt)[-1].strip()
        judged[question] += 1
        gold = _GOLD_RE.findall(prompt)[-1].strip()
        predicted = _PREDICTED_RE.findall(prompt)[-1].strip()
        right = gold.lower() in predicted.lower()
        if any(junk in question for junk in junk_for):
            reply = "I am not sure what you want me to do here."
        elif "Decision:" in prompt:  # the FRAMES auto-rater
            reply = f'Explanation: compared.\nDecision: "{"TRUE" if right else "FALSE"}"'
        else:
            reply = "A" if right else "B"
        return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}

    with scripted_server(handle) as (url, _):
        yield url, judged


def write_items(path: Path, items: Sequence[EvalItem]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps({"id": item.id, "question": item.question,
                                     "answer": item.answer}) + "\n")
