"""Which pages an answer cites, and the passage of each page that supports it.

The prompts ask for markdown links to the exact URLs read; models also write bare URLs or
numbered references (``[1]`` in the text, ``[1] https://...`` at the end). Every cited URL
becomes a ``Source``; the supporting text is the sentence of the page (or, if it was never
visited, of the search preview) that shares the most words with the sentence citing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from .events import Event, SearchDone, Source, VisitDone

SUPPORT_CHARS = 300
_MARKDOWN_LINK = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<url>https?://[^\s)]+)\)")
_BARE_URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+")
_TRAILING_PUNCTUATION = ".,;:!?*_"
_REFERENCE_LINE = re.compile(r"^\s*(?:[-*]\s*)?\[?(?P<number>\d{1,3})\]?[.):]?\s")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[^\W_]{3,}", re.UNICODE)
_STOPWORDS = frozenset(
    "the and for are was were with that this from have has had not but its his her their they "
    "you our which who whom what when where why how into than then also been being there these "
    "those such can could would should will may might about after before over under more most".split())


def normalize_url(url: str) -> str:
    """The form two spellings of one page share (scheme/host case, fragment, trailing slash)."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or ""
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


@dataclass
class _Seen:
    url: str
    title: str = ""
    preview: str = ""
    page: str = ""
    searched: bool = False
    visited: bool = False


class SourceBook:
    """Every page the session's searches returned or its visits read, keyed by normalized URL."""

    def __init__(self) -> None:
        self._pages: dict[str, _Seen] = {}

    def record(self, event: Event) -> None:
        if isinstance(event, SearchDone):
            for hit in event.hits:
                seen = self._pages.setdefault(normalize_url(hit.url), _Seen(hit.url))
                seen.searched = True
                seen.title = seen.title or hit.title
                seen.preview = seen.preview or hit.preview
        elif isinstance(event, VisitDone) and event.error is None:
            seen = self._pages.setdefault(normalize_url(event.url), _Seen(event.url))
            seen.visited = True
            seen.title = event.title or seen.title
            seen.page = event.output

    def __contains__(self, url: str) -> bool:
        return normalize_url(url) in self._pages

    def cite(self, answer: str) -> tuple[Source, ...]:
        """The sources ``answer`` cites, numbered in order of first mention."""
        sources: list[Source] = []
        for url, link_text, claim in _citations(answer):
            if any(normalize_url(s.url) == normalize_url(url) for s in sources):
                continue
            seen = self._pages.get(normalize_url(url))
            title = (seen.title if seen and seen.title else link_text) or url
            support = ""
            if seen is not None:
                support = best_passage(seen.page or seen.preview, claim) or seen.preview
            sources.append(Source(number=len(sources) + 1, url=url, title=title,
                                  supporting_text=_shorten(support),
                                  visited=bool(seen and seen.visited),
                                  searched=bool(seen and seen.searched)))
        return tuple(sources)


def _citations(answer: str) -> list[tuple[str, str, str]]:
    """(url, link text, the sentence that cites it) for every URL in the answer, in order."""
    found: list[tuple[int, str, str, str]] = []
    taken: list[tuple[int, int]] = []
    for m in _MARKDOWN_LINK.finditer(answer):
        found.append((m.start(), _clean(m["url"]), m["text"].strip(), _claim(answer, m.start())))
        taken.append(m.span())
    for m in _BARE_URL.finditer(answer):
        if any(a <= m.start() < b for a, b in taken):
            continue
        found.append((m.start(), _clean(m.group()), "", _claim(answer, m.start())))
    found.sort()
    return [(url, text, claim) for _, url, text, claim in found]


def _claim(answer: str, at: int) -> str:
    """The sentence around position ``at``; for a numbered reference line, the sentences citing [n]."""
    line_start = answer.rfind("\n", 0, at) + 1
    line_end = answer.find("\n", at)
    line = answer[line_start: line_end if line_end != -1 else len(answer)]
    reference = _REFERENCE_LINE.match(line)
    if reference:
        marker = f"[{reference['number']}]"
        body = answer[:line_start]
        citing = [s for s in _SENTENCE_END.split(body) if marker in s]
        if citing:
            return " ".join(citing)
    sentences_before = _SENTENCE_END.split(answer[line_start:at])
    sentences_after = _SENTENCE_END.split(answer[at:line_end if line_end != -1 else len(answer)])
    return (sentences_before[-1] if sentences_before else "") + " " + (
        sentences_after[0] if sentences_after else "")


def best_passage(text: str, claim: str) -> str:
    """The sentence of ``text`` sharing the most content words with ``claim``."""
    wanted = _content_words(_MARKDOWN_LINK.sub(r"\g<text>", _BARE_URL.sub("", claim)))
    if not text or not wanted:
        return ""
    best, best_score = "", 0
    for sentence in _SENTENCE_END.split(text):
        if sentence.startswith(("Title: ", "URL: ", "Date: ")):
            continue
        score = len(wanted & _content_words(sentence))
        if score > best_score:
            best, best_score = sentence.strip(), score
    return best


def _content_words(text: str) -> set[str]:
    return {w for w in (m.group().lower() for m in _WORD.finditer(text)) if w not in _STOPWORDS}


def _clean(url: str) -> str:
    return url.rstrip(_TRAILING_PUNCTUATION)


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SUPPORT_CHARS else flat[: SUPPORT_CHARS - 4].rsplit(" ", 1)[0] + " ..."
