"""Helpers shared by the research tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from iisearch_local.backends.base import Generation
from iisearch_local.research import events as ev

GOLDEN_DIR = Path(__file__).parent / "golden"
# Regenerate every golden file: IISEARCH_UPDATE_GOLDEN=1 pytest tests/research -q
UPDATE_ENV = "IISEARCH_UPDATE_GOLDEN"
_VOLATILE = {"seconds", "wall_seconds", "generation_seconds", "tool_seconds"}


def run_all(session, question: str) -> list[ev.Event]:
    return list(session.run(question))


def finished(events: list[ev.Event]) -> ev.Finished:
    assert isinstance(events[-1], ev.Finished), events[-1]
    assert sum(isinstance(e, ev.Finished) for e in events) == 1
    return events[-1]


def of_type(events: Iterable[ev.Event], kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def answer_stream(events: list[ev.Event]) -> str:
    """The answer as a consumer of the deltas sees it (honouring AnswerReset)."""
    text = ""
    for event in events:
        if isinstance(event, ev.AnswerReset):
            text = ""
        elif isinstance(event, ev.AnswerDelta):
            text += event.text
    return text


def stable_events(events: list[ev.Event]) -> list[dict]:
    """Events as dicts with timings zeroed and consecutive deltas of one kind merged."""
    out: list[dict] = []
    for event in events:
        data = _zero(event.to_dict())
        if out and data["type"] in ("reasoning", "answer", "report") and out[-1]["type"] == data["type"] \
                and out[-1].get("reasoning") == data.get("reasoning"):
            out[-1]["text"] += data["text"]
            continue
        out.append(data)
    return out


def _zero(value):
    if isinstance(value, dict):
        return {k: (0 if k in _VOLATILE else _zero(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_zero(v) for v in value]
    return value


def check_golden(name: str, text: str) -> None:
    """Compare with ``golden/NAME`` byte for byte (or rewrite it when IISEARCH_UPDATE_GOLDEN=1)."""
    path = GOLDEN_DIR / name
    if os.environ.get(UPDATE_ENV) == "1":
        path.write_bytes(text.encode("utf-8"))
        return
    assert path.exists(), f"missing golden file {path}; run with {UPDATE_ENV}=1 to create it"
    expected = path.read_bytes().decode("utf-8")
    assert text == expected, f"{name} differs from the golden file (regenerate with {UPDATE_ENV}=1)"


def check_golden_json(name: str, value) -> None:
    check_golden(name, json.dumps(value, indent=1, ensure_ascii=False) + "\n")


class SlowBackend:
    """Wraps a backend so each streamed piece takes ``delay`` seconds (a model that is writing)."""

    def __init__(self, inner, delay: float = 0.01) -> None:
        self.inner, self.delay = inner, delay
        self.name, self.model_path = inner.name, inner.model_path

    @property
    def context_size(self) -> int:
        return self.inner.context_size

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def tokenize(self, text: str) -> list[int]:
        return self.inner.tokenize(text)

    def detokenize(self, tokens):
        return self.inner.detokenize(tokens)

    def generate(self, prompt, options, *, cancel=None) -> Generation:
        inner = self.inner.generate(prompt, options, cancel=cancel)

        def run():
            for delta in inner:
                time.sleep(self.delay)
                yield delta
            return inner.result

        return Generation(run())

    def close(self) -> None:
        self.inner.close()
