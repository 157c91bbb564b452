"""Helpers of the dataset-building tests (imported by name; pytest puts this folder on sys.path).

Scripted model replies of our own for both protocols, the same steps as jsonl trace messages,
and runs of a real ``ResearchSession`` (scripted model, in-memory pages, real code executor).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from iisearch_local.backends.scripted import ScriptedBackend
from iisearch_local.research import events as ev
from iisearch_local.research.local_source import InMemorySource
from iisearch_local.research.prompting import http_date
from iisearch_local.research.session import ResearchSession
from iisearch_local.research.settings import ResearchSettings

FIXED_NOW = datetime(2025, 6, 2, 14, 3, 0, tzinfo=timezone.utc)
DATE = http_date(FIXED_NOW)  # "Mon, 02 Jun 2025 14:03:00 GMT"
TOWER = "https://local.example/eiffel-tower"
CURIE = "https://local.example/marie-curie"
EVEREST = "https://local.example/mount-everest"
QUESTION = "Who designed the Eiffel Tower?"
FOLLOW_UP = "And how tall is it?"
ANSWER = f"Maurice Koechlin and Emile Nouguier designed it ([Eiffel Tower]({TOWER}))."
FOLLOW_ANSWER = f"It is about 330 metres tall ([Eiffel Tower]({TOWER}))."

# CIR: what the model writes in each generation, and the same steps as jsonl messages.
CIR_STEPS = [
    ("I should look this up.", 'print(web_search(query="Eiffel Tower design", num_result=3))'),
    ("Reading the tower page.", f'print(web_visit(url="{TOWER}"))'),
]
CIR_FINAL = ("Koechlin and Nouguier made the design.", ANSWER)
CIR_FOLLOW = ("The page I read said about 330 metres.", FOLLOW_ANSWER)


def cir_replies() -> list[str]:
    replies = [f"{r}\n<start_code>\n```python\n{c}\n```\n<end_code>" for r, c in CIR_STEPS]
    replies.append(f"{CIR_FINAL[0]}\n</think>\n\n{CIR_FINAL[1]}")
    return replies


def cir_follow_replies() -> list[str]:
    return [f"{CIR_FOLLOW[0]}\n</think>\n\n{CIR_FOLLOW[1]}"]


# Tools: two calls in one <tool_call> block (generation stops at its end), then the answer.
TOOL_CALLS = [("web_search", {"query": "Marie Curie Nobel", "num_result": 2}),
              ("web_visit", {"url": CURIE})]
TOOLS_QUESTION = "Which Nobel Prizes did Marie Curie win?"
TOOLS_ANSWER = f"Physics in 1903 and chemistry in 1911 ([Marie Curie]({CURIE}))."
TOOLS_FOLLOW_UP = "Where was she born?"
TOOLS_FOLLOW_ANSWER = f"In Warsaw ([Marie Curie]({CURIE}))."


def tools_replies() -> list[str]:
    calls = "\n".join(json.dumps({"name": n, "arguments": a}) for n, a in TOOL_CALLS)
    return [f"<think>\nSearch first, then read the page.\n</think>\n\n<tool_call>\n{calls}\n"
            "</tool_call>",
            f"<think>\nThe page answers it.\n</think>\n\n{TOOLS_ANSWER}",
            f"<think>\nThe same page says where.\n</think>\n\n{TOOLS_FOLLOW_ANSWER}"]


def make_session(replies: list[str], protocol: str, *,
                 settings: ResearchSettings | None = None) -> ResearchSession:
    return ResearchSession(ScriptedBackend(replies), tools=InMemorySource().functions(),
                           protocol=protocol, settings=settings or ResearchSettings(),
                           clock=lambda: FIXED_NOW, model_name=f"scripted-{protocol}")


def run(session: ResearchSession, question: str) -> list[ev.Event]:
    events = list(session.run(question))
    assert isinstance(events[-1], ev.Finished), events[-1]
    return events


def observations(events: list[ev.Event]) -> list[str]:
    """What went back to the model, in order (code outputs or tool results)."""
    out = []
    for event in events:
        if isinstance(event, ev.CodeResult):
            out.append(event.observation)
        elif isinstance(event, ev.ToolResult):
            out.append(event.output)
    return out


def cir_messages(seen: list[str], *, follow_up: bool = True) -> list[dict]:
    """The CIR session's steps as jsonl messages; ``seen``: the observations, in order."""
    messages: list[dict] = [{"role": "user", "content": QUESTION}]
    for (reasoning, code), observation in zip(CIR_STEPS, seen, strict=True):
        messages += [{"role": "assistant", "reasoning": reasoning, "code": code},
                     {"role": "tool", "content": observation}]
    messages.append({"role": "assistant", "reasoning": CIR_FINAL[0], "content": CIR_FINAL[1]})
    if follow_up:
        messages += [{"role": "user", "content": FOLLOW_UP},
                     {"role": "assistant", "reasoning": CIR_FOLLOW[0], "content": CIR_FOLLOW[1]}]
    return messages


def tools_messages(seen: list[str], *, follow_up: bool = True) -> list[dict]:
    messages: list[dict] = [
        {"role": "user", "content": TOOLS_QUESTION},
        {"role": "assistant", "reasoning": "Search first, then read the page.",
         "tool_calls": [{"name": n, "arguments": a} for n, a in TOOL_CALLS]},
        *({"role": "tool", "content": text} for text in seen),
        {"role": "assistant", "reasoning": "The page answers it.", "content": TOOLS_ANSWER}]
    if follow_up:
        messages += [{"role": "user", "content": TOOLS_FOLLOW_UP},
                     {"role": "assistant", "reasoning": "The same page says where.",
                      "content": TOOLS_FOLLOW_ANSWER}]
    return messages


def write_jsonl(path: Path, lines: list) -> Path:
    """Write ``lines`` (dicts as JSON, strings as they are), one per line."""
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                            for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tokenizer_dir(tiny_models) -> Path:
    """The tiny test model's folder: the real Qwen3 tokenizer (tokenizer.json)."""
    return tiny_models.hf


@pytest.fixture(scope="module")
def tokenizer(tokenizer_dir):
    from iisearch_local.finetune.examples import load_tokenizer

    return load_tokenizer(tokenizer_dir)


def scripted_runtime(replies: list[str], protocol: str):
    """A ``ResearchRuntime`` on a scripted model and the in-memory pages (what evals run on)."""
    from iisearch_local.research.factory import ResearchRuntime, SessionPlan

    plan = SessionPlan(model_name=f"scripted-{protocol}", model_path=Path("scripted"),
                       backend="scripted", protocol=protocol, engines=("sample",), offline=True,
                       settings=ResearchSettings())
    return ResearchRuntime(plan, backend=ScriptedBackend(replies),
                           functions=InMemorySource().functions(), clock=lambda: FIXED_NOW)


def record_session(store, replies: list[str], protocol: str, questions: list[str]):
    """Record a real session in ``store`` (one turn per question); returns (id, session)."""
    from iisearch_local.sessions.recorder import record

    session = make_session(replies, protocol)
    sid = store.create(question=questions[0], model=session.model_name, backend="scripted",
                       protocol=protocol)
    for question in questions:
        list(record(store, sid, session.run(question), session=session))
    session.close()
    return sid, session


class QueueJudge:
    """A judge (``evals.judge.Judge``) replying from a queue; keeps the prompts it was given."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.prompts: list[str] = []

    def reply(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.replies.pop(0)

    def close(self) -> None:
        pass
