"""Cutting text to a number of tokens of the model's own tokenizer."""

from __future__ import annotations

from ..backends.base import Backend

TRUNCATION_NOTE = "\n[... output cut at {limit} tokens]"


def cut_to_tokens(backend: Backend, text: str, limit: int) -> tuple[str, bool]:
    """The longest start of ``text`` that is at most ``limit`` tokens, and whether it was cut.

    Uses ``tokenize``/``detokenize`` when the backend can; a backend that cannot turn ids back
    into text (the scripted one) is handled by bisecting on ``count_tokens``.
    """
    if limit <= 0:
        return "", bool(text)
    if backend.count_tokens(text) <= limit:
        return text, False
    try:
        tokens = backend.tokenize(text)
        cut = backend.detokenize(tokens[:limit])
        # A multi-byte character split across tokens decodes to U+FFFD at the very end; drop it.
        return cut.rstrip("\ufffd"), True
    except NotImplementedError:
        pass
    low, high = 0, len(text)  # invariant: text[:low] fits, text[:high] does not
    while high - low > 1:
        middle = (low + high) // 2
        if backend.count_tokens(text[:middle]) <= limit:
            low = middle
        else:
            high = middle
    return text[:low], True


def cut_with_note(backend: Backend, text: str, limit: int) -> str:
    """``cut_to_tokens`` plus a short line telling the model that the text goes on."""
    cut, was_cut = cut_to_tokens(backend, text, limit)
    return cut + TRUNCATION_NOTE.format(limit=limit) if was_cut else cut


def keep_head_and_tail(backend: Backend, text: str, limit: int, *,
                       marker: str = "\n\n[... middle part left out ...]\n\n") -> str:
    """Fit ``text`` into ``limit`` tokens by leaving out its middle (report notes)."""
    if backend.count_tokens(text) <= limit:
        return text
    half = max(1, limit // 2)
    head, _ = cut_to_tokens(backend, text, half)
    # The tail: the same cut on the reversed problem, by bisecting on the start position.
    low, high = len(head), len(text)  # text[high:] fits; find the smallest start that fits
    while high - low > 1:
        middle = (low + high) // 2
        if backend.count_tokens(text[middle:]) <= half:
            high = middle
        else:
            low = middle
    return head + marker + text[high:]
