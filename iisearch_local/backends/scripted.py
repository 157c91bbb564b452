"""A queue-driven fake backend for tests: it "generates" replies you give it, in order.

It honours the same contract as the real backends (stop strings across pieces, max tokens,
prefix accounting), with a whitespace/character tokenizer, so the research loop can be driven
deterministically. Each queued reply is emitted in small pieces to exercise streaming.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Generator, Iterable, Sequence
from pathlib import Path

from .base import (
    ContextOverflowError,
    FinishReason,
    Generation,
    GenerationOptions,
    GenerationResult,
)
from .stops import StopMatcher

# A token is a run of word characters, a run of spaces, or any other single character.
_TOKEN_RE = re.compile(r"\w+|\s+|[^\w\s]", re.UNICODE)


class ScriptedBackend:
    """Replays queued replies; records every prompt it was asked to continue."""

    name = "scripted"

    def __init__(self, replies: Iterable[str] = (), *, context_size: int = 32768) -> None:
        self.model_path = Path("scripted")
        self._replies: deque[str] = deque(replies)
        self._context_size = context_size
        self._previous: list[str] = []
        self.prompts: list[str] = []
        self.results: list[GenerationResult] = []

    @property
    def context_size(self) -> int:
        return self._context_size

    def queue(self, *replies: str) -> None:
        self._replies.extend(replies)

    def tokenize(self, text: str) -> list[int]:
        # Stable ids for the fake vocabulary: the hash is not needed, only counting and prefixes.
        return [hash(tok) & 0x7FFFFFFF for tok in _TOKEN_RE.findall(text)]

    def _pieces(self, text: str) -> list[str]:
        return _TOKEN_RE.findall(text)

    def detokenize(self, tokens: Sequence[int]) -> str:
        raise NotImplementedError("the scripted backend cannot detokenize ids")

    def count_tokens(self, text: str) -> int:
        return len(self._pieces(text))

    def generate(self, prompt: str, options: GenerationOptions = GenerationOptions(), *,
                 cancel: threading.Event | None = None) -> Generation:
        return Generation(self._run(prompt, options, cancel))

    def _run(self, prompt: str, options: GenerationOptions,
             cancel: threading.Event | None) -> Generator[str, None, GenerationResult]:
        self.prompts.append(prompt)
        tokens = self._pieces(prompt)
        if len(tokens) >= self._context_size:
            raise ContextOverflowError(len(tokens), self._context_size)
        shared = 0
        for a, b in zip(self._previous, tokens):
            if a != b:
                break
            shared += 1
        # An empty queue behaves like a model that ends its turn at once.
        reply_tokens = self._pieces(self._replies.popleft()) if self._replies else []
        matcher = StopMatcher(options.stop)
        text: list[str] = []
        finish: FinishReason = "eos"  # the reply ran out: the model ended its turn
        produced = 0
        for piece in reply_tokens:
            if cancel is not None and cancel.is_set():
                finish = "cancelled"
                break
            if produced >= options.max_tokens:
                finish = "length"
                break
            produced += 1
            out = matcher.feed(piece)
            if out:
                text.append(out)
                yield out
            if matcher.stopped_by is not None:
                finish = "stop"
                break
        if matcher.stopped_by is None:
            rest = matcher.flush()
            if rest:
                text.append(rest)
                yield rest
        full = "".join(text)
        self._previous = tokens + self._pieces(full)
        result = GenerationResult(
            text=full, finish_reason=finish, stop_string=matcher.stopped_by,
            prompt_tokens=len(tokens), prompt_tokens_evaluated=len(tokens) - shared,
            completion_tokens=produced,
        )
        self.results.append(result)
        return result

    def close(self) -> None:
        self._replies.clear()
