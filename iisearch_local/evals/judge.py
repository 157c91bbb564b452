"""Judging answers with each benchmark's own grader prompt, through a chat endpoint or a local model.

A verdict is ``correct``, ``incorrect``, ``not_attempted`` or ``unparseable``: a judge reply we
cannot read is counted apart (and kept raw), never as a wrong answer.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib.resources import files
from typing import Literal, Protocol

import httpx

from ..backends.base import Backend, GenerationOptions
from ..errors import UserFacingError

Verdict = Literal["correct", "incorrect", "not_attempted", "unparseable"]
JUDGE_MAX_TOKENS = 1024
JUDGE_TIMEOUT_SECONDS = 300.0
JUDGE_RETRIES = 3
JUDGE_SYSTEM = "You are a helpful assistant."
_THINK_RE = re.compile(r"<think>.*?(</think>|$)", re.DOTALL)
_LETTER_RE = re.compile(r"^\W*([ABC])\b")
_WORD_RE = re.compile(r"\b(NOT[ _]ATTEMPTED|INCORRECT|CORRECT)\b", re.IGNORECASE)
_DECISION_RE = re.compile(r"Decision\W*(TRUE|FALSE)\b", re.IGNORECASE)


class JudgeError(UserFacingError):
    """The judge could not be reached or configured."""


@dataclass(frozen=True, kw_only=True)
class Grader:
    """A benchmark's judge prompt and how to read its reply."""

    name: str
    template_file: str
    style: Literal["abc", "decision"]

    def prompt(self, *, question: str, target: str, answer: str) -> str:
        template = files(__package__).joinpath("graders", self.template_file).read_text("utf-8")
        if self.style == "decision":
            return template.format(question=question, llm_response=answer, ground_truth=target)
        return template.format(question=question, target=target, predicted_answer=answer)

    def parse(self, reply: str) -> Verdict:
        """The verdict in ``reply``; ``unparseable`` when it names none or several."""
        text = _THINK_RE.sub("", reply).strip()
        if self.style == "decision":
            found = {m.upper() for m in _DECISION_RE.findall(text)}
            if len(found) != 1:
                return "unparseable"
            return "correct" if found == {"TRUE"} else "incorrect"
        letter = _LETTER_RE.match(text)
        if letter:
            return {"A": "correct", "B": "incorrect", "C": "not_attempted"}[letter.group(1)]
        words = {w.upper().replace(" ", "_") for w in _WORD_RE.findall(text)}
        if len(words) != 1:
            return "unparseable"
        return {"CORRECT": "correct", "INCORRECT": "incorrect",
                "NOT_ATTEMPTED": "not_attempted"}[words.pop()]


GRADERS: dict[str, Grader] = {
    "simpleqa": Grader(name="simpleqa", template_file="simpleqa_grader_template.txt", style="abc"),
    "seal0": Grader(name="seal0", template_file="sealqa_grader_template.txt", style="abc"),
    "frames": Grader(name="frames", template_file="frames_autorater_template.txt",
                     style="decision"),
}


class Judge(Protocol):
    """Anything that answers one grader prompt with raw text."""

    def reply(self, prompt: str) -> str: ...

    def close(self) -> None: ...


class ChatJudge:
    """A judge behind an OpenAI-compatible ``/v1/chat/completions`` endpoint (greedy)."""

    def __init__(self, base_url: str, *, model: str = "", api_key: str = "",
                 timeout: float = JUDGE_TIMEOUT_SECONDS, retries: int = JUDGE_RETRIES,
                 max_tokens: int = JUDGE_MAX_TOKENS) -> None:
        self.max_tokens = max_tokens
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.model = model
        self.retries = retries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout)

    def reply(self, prompt: str) -> str:
        body = {"model": self.model, "temperature": 0.0, "max_tokens": self.max_tokens,
                "messages": [{"role": "system", "content": JUDGE_SYSTEM},
                             {"role": "user", "content": prompt}]}
        url = f"{self.base_url}/v1/chat/completions"
        for attempt in range(self.retries + 1):
            try:
                response = self._client.post(url, json=body)
            except httpx.TransportError as exc:
                error: str = f"cannot reach the judge at {self.base_url} ({exc})"
            else:
                if response.status_code == 200:
                    try:
                        return str(response.json()["choices"][0]["message"]["content"] or "")
                    except (ValueError, KeyError, IndexError, TypeError):
                        return response.text  # kept raw; it will count as unparseable
                error = f"the judge answered HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code < 500 and response.status_code != 429:
                    break
            if attempt < self.retries:
                time.sleep(min(8.0, 0.25 * 2 ** attempt))
        raise JudgeError(error, hint="Check --judge (an OpenAI-compatible server URL).")

    def close(self) -> None:
        self._client.close()


class BackendJudge:
    """A judge run on a loaded model backend, prompted with the Qwen chat format, no thinking."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def reply(self, prompt: str) -> str:
        text = (f"<|im_start|>system\n{JUDGE_SYSTEM}<|im_end|>\n<|im_start|>user\n{prompt}"
                "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")
        return self.backend.generate(text, GenerationOptions(
            max_tokens=JUDGE_MAX_TOKENS, temperature=0.0, top_k=1, top_p=1.0,
            stop=("<|im_end|>",))).text()

    def close(self) -> None:
        self.backend.close()


def grade(judge: Judge, grader: Grader, *, question: str, target: str,
          answer: str) -> tuple[Verdict, str]:
    """(verdict, raw judge reply) for one answer."""
    raw = judge.reply(grader.prompt(question=question, target=target, answer=answer))
    return grader.parse(raw), raw
