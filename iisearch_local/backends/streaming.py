"""Sampled token ids -> text deltas, under the backend contract. Shared by every local backend.

One place decides what a generation returns: bytes decoded incrementally (a character may span
tokens), stop strings held back until they cannot match, the end-of-generation token, the token
budget and cancellation, and the timings.
"""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Callable, Generator, Iterable

from .base import FinishReason, GenerationOptions, GenerationResult
from .stops import StopMatcher


def stream_text(
    token_ids: Iterable[int],
    *,
    token_bytes: Callable[[int], bytes],
    is_end: Callable[[int], bool],
    options: GenerationOptions,
    budget: int,
    cancel: threading.Event | None,
    prompt_tokens: int,
    prompt_evaluated: int,
    started: float,
) -> Generator[str, None, GenerationResult]:
    """Yield the text of ``token_ids`` until a stop, the end token, the budget or a cancel."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    matcher = StopMatcher(options.stop)
    pieces: list[str] = []
    produced, finish, first_token_at = 0, "length", None
    finish: FinishReason
    for token in token_ids if budget > 0 else ():
        if first_token_at is None:
            first_token_at = time.perf_counter()
        if is_end(token):
            finish = "eos"
            break
        produced += 1
        text = matcher.feed(decoder.decode(token_bytes(token)))
        if text:
            pieces.append(text)
            yield text
        if matcher.stopped_by is not None:
            finish = "stop"
            break
        if cancel is not None and cancel.is_set():
            finish = "cancelled"
            break
        if produced >= budget:
            break
    if matcher.stopped_by is None:
        tail = matcher.feed(decoder.decode(b"", final=True)) + matcher.flush()
        if tail:
            pieces.append(tail)
            yield tail
    end = time.perf_counter()
    first_token_at = first_token_at or end
    return GenerationResult(
        text="".join(pieces), finish_reason=finish, stop_string=matcher.stopped_by,
        prompt_tokens=prompt_tokens, prompt_tokens_evaluated=prompt_evaluated,
        completion_tokens=produced, prompt_seconds=first_token_at - started,
        generation_seconds=end - first_token_at)
