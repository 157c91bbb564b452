"""Cutting documents into passages so a local search hit points at the right place.

Passages follow paragraph boundaries and hold about ``target_words`` words; a paragraph much
longer than that is split on sentence ends (or, failing that, on words). Each passage remembers
the markdown heading it sits under, which the index also searches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_PASSAGE_WORDS = 200
OVERSIZE_FACTOR = 1.5  # a paragraph longer than this many passages' worth gets split
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class Passage:
    """One searchable piece of a document (``ordinal`` counts from 1)."""

    ordinal: int
    heading: str
    text: str


def _split_long(paragraph: str, target_words: int) -> list[str]:
    """Split an oversize paragraph into pieces of about ``target_words`` words."""
    pieces: list[str] = []
    current: list[str] = []
    count = 0
    sentences = _SENTENCE_END.split(paragraph)
    for sentence in sentences:
        words = sentence.split()
        if len(words) > target_words:  # a "sentence" with no punctuation: cut on words
            for start in range(0, len(words), target_words):
                if current:
                    pieces.append(" ".join(current))
                    current, count = [], 0
                pieces.append(" ".join(words[start:start + target_words]))
            continue
        if count and count + len(words) > target_words:
            pieces.append(" ".join(current))
            current, count = [], 0
        current.append(sentence.strip())
        count += len(words)
    if current:
        pieces.append(" ".join(current))
    return [p for p in pieces if p.strip()]


def split_passages(text: str, *, target_words: int = DEFAULT_PASSAGE_WORDS) -> list[Passage]:
    """Passages of ``text`` in order; joining their texts with blank lines gives the document."""
    target_words = max(20, target_words)
    passages: list[Passage] = []
    buffer: list[str] = []
    buffer_words = 0
    heading = ""
    buffer_heading = ""

    def flush() -> None:
        nonlocal buffer, buffer_words
        if buffer:
            passages.append(Passage(len(passages) + 1, buffer_heading, "\n\n".join(buffer)))
        buffer, buffer_words = [], 0

    for raw in _PARAGRAPH_BREAK.split(text):
        paragraph = raw.strip()
        if not paragraph:
            continue
        match = _HEADING.match(paragraph.split("\n", 1)[0])
        if match:
            heading = match.group(2)
            if buffer_words >= target_words // 3:
                flush()  # a new section starts a new passage unless the current one is tiny
        words = len(paragraph.split())
        if words > target_words * OVERSIZE_FACTOR:
            flush()
            buffer_heading = heading
            for piece in _split_long(paragraph, target_words):
                buffer, buffer_words = [piece], len(piece.split())
                flush()
            continue
        if buffer and buffer_words + words > target_words:
            flush()
        if not buffer:
            buffer_heading = heading
        buffer.append(paragraph)
        buffer_words += words
    flush()
    return passages
