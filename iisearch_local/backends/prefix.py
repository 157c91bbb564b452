"""Which tokens of a new prompt a backend's KV cache already holds.

A research trace is the previous prompt, plus the tokens the model generated, plus an observation.
Re-tokenizing the whole text would not give back the model's own tokens (a sampled token sequence
is rarely the canonical BPE segmentation), so the cache would miss from the first generated
token on. Instead we match the new prompt against the *text* the cached tokens decode to (decoded
exactly as it was streamed, replacement characters included), keep those tokens as they are and
tokenize only the rest: the model sees what it generated, and only new text is evaluated.
"""

from __future__ import annotations

import codecs
from bisect import bisect_right
from collections.abc import Callable, Sequence


def common_prefix_length(a: str, b: str) -> int:
    """Length of the longest common prefix of two strings."""
    lo, hi = 0, min(len(a), len(b))
    # Halving slice comparisons run at C speed instead of a Python character loop.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class TokenHistory:
    """The tokens currently in a KV cache, with the text offset at which each one ends."""

    def __init__(self, token_bytes: Callable[[int], bytes]) -> None:
        self._token_bytes = token_bytes
        self.tokens: list[int] = []
        self._ends: list[int] = []
        # False where a token ends inside a multi-byte character: no split is possible there.
        self._clean: list[bool] = []
        self._pieces: list[str] = []
        self._length = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def text(self) -> str:
        return "".join(self._pieces)

    def _append(self, token: int) -> None:
        piece = self._decoder.decode(self._token_bytes(token))
        self._pieces.append(piece)
        self._length += len(piece)
        self.tokens.append(token)
        self._ends.append(self._length)
        self._clean.append(self._decoder.getstate()[0] == b"")

    def set(self, tokens: Sequence[int]) -> None:
        """Record the cache's exact content after a call (extends in place when possible)."""
        keep = 0
        for old, new in zip(self.tokens, tokens):
            if old != new:
                break
            keep += 1
        self.truncate(keep)
        for token in tokens[len(self.tokens):]:
            self._append(token)

    def truncate(self, count: int) -> None:
        """Forget every token from ``count`` on."""
        if count >= len(self.tokens):
            return
        clean = count
        while clean and not self._clean[clean - 1]:
            clean -= 1  # restart decoding from a character boundary
        replay = self.tokens[clean:count]
        del self.tokens[clean:], self._ends[clean:], self._clean[clean:], self._pieces[clean:]
        self._length = self._ends[-1] if self._ends else 0
        self._decoder.reset()
        for token in replay:
            self._append(token)

    def plan(self, prompt: str, tokenize: Callable[[str], list[int]]) -> tuple[list[int], int]:
        """Token ids for ``prompt`` and how many leading ones are already cached."""
        shared = common_prefix_length(self.text, prompt)
        reused = bisect_right(self._ends, shared)
        while reused and not self._clean[reused - 1]:
            reused -= 1
        start = self._ends[reused - 1] if reused else 0
        rest = prompt[start:]
        return self.tokens[:reused] + (tokenize(rest) if rest else []), reused
