"""What the model reads: search results and pages in the shapes it was trained on.

A search prints one block per hit (``Index``, ``URL``, ``Title``, ``Preview`` lines, blocks
separated by a blank line); a visit prints the page as plain text, title first, links removed,
cut to about 5000 words. Failures become one short line the model can act on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .base import Page, SearchHit

DEFAULT_PAGE_WORDS = 5000
PREVIEW_CHARS = 300  # a preview longer than this is cut at a word boundary
OBSERVATION_CHARS = 400  # error observations stay short

_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_REF_DEFINITION = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<(?:https?|ftp|mailto):[^>\s]+>")
_BARE_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()\[\]]+")
_WORD = re.compile(r"\S+")
_MANY_BLANKS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def strip_links(text: str) -> str:
    """Drop link targets and images but keep link text (``[a](u)`` becomes ``a``)."""
    text = _IMAGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _REF_DEFINITION.sub("", text)
    text = _AUTOLINK.sub("", text)
    return _BARE_URL.sub("", text)


def tidy(text: str) -> str:
    """Normalise line ends, trailing spaces and runs of blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = _TRAILING_SPACE.sub("\n", text)
    return _MANY_BLANKS.sub("\n\n", text).strip()


def cut_words(text: str, max_words: int) -> tuple[str, bool]:
    """Keep the first ``max_words`` words (layout preserved); also say whether anything was cut."""
    if max_words <= 0:
        return text, False
    for count, match in enumerate(_WORD.finditer(text), start=1):
        if count == max_words:
            rest = text[match.end():]
            return text[: match.end()], bool(rest.strip())
    return text, False


def one_line(text: str, limit: int = PREVIEW_CHARS) -> str:
    """Collapse whitespace to single spaces and cut at a word boundary."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + " ..."


def format_hits(hits: Sequence[SearchHit], *, query: str = "", engine: str | None = None,
                note: str | None = None) -> str:
    """Number the hits in blocks of ``Index:``/``URL:``/``Title:``/``Preview:`` lines."""
    header: list[str] = []
    if note:
        header.append(note)
    if engine:
        header.append(f"Search engine: {engine}")
    if not hits:
        what = f" for {query!r}" if query else ""
        header.append(f"No results found{what}. Try other or fewer keywords.")
        return "\n".join(header)
    blocks = []
    for index, hit in enumerate(hits, start=1):
        lines = [f"Index: {index}", f"URL: {hit.url}", f"Title: {one_line(hit.title, 200)}"]
        preview = one_line(strip_links(hit.snippet))
        if hit.date:
            preview = f"{hit.date} - {preview}" if preview else hit.date
        lines.append(f"Preview: {preview}")
        blocks.append("\n".join(lines))
    body = "\n\n".join(blocks)
    return "\n".join(header) + "\n\n" + body if header else body


def format_page(page: Page, *, max_words: int = DEFAULT_PAGE_WORDS) -> str:
    """Title first, then the clean text without links, cut to ``max_words`` words."""
    text = tidy(strip_links(page.text))
    text, was_cut = cut_words(text, max_words)
    lines = [f"Title: {one_line(page.title, 300) or '(untitled)'}", f"URL: {page.url}"]
    if page.date:
        lines.append(f"Date: {page.date}")
    out = "\n".join(lines) + "\n\n" + (text or "(the page has no readable text)")
    if was_cut:
        out += f"\n\n[Page cut at {max_words} words.]"
    elif page.truncated:
        out += "\n\n[The page was larger than the download limit; only its start was read.]"
    return out


def format_failure(action: str, target: str, reason: str) -> str:
    """One short observation line, e.g. ``Visit failed for https://x: timed out after 10 s.``"""
    reason = one_line(reason, OBSERVATION_CHARS).rstrip(".")
    return f"{action} failed for {one_line(target, 200)}: {reason}."
