"""Citations for display: numbered links in the answer, the sources list, cached page text.

Pure functions over research events (no Textual), so they are easy to test and reuse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from iisearch_local.research import events as ev
from iisearch_local.research.citations import normalize_url

_MARKDOWN_LINK = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<url>https?://[^\s)]+|file:[^\s)]+)\)")
_BARE_URL = re.compile(r"(?P<url>https?://[^\s<>()\[\]\"'`]+)")
_TRAILING = ".,;:!?*_"


def _number_for(sources: Sequence[ev.Source]) -> dict[str, ev.Source]:
    return {normalize_url(s.url): s for s in sources}


def numbered_answer(answer: str, sources: Sequence[ev.Source]) -> str:
    """The answer with each cited link followed by its source number, itself a link.

    ``[Eiffel Tower](https://x)`` becomes ``Eiffel Tower [[1]](https://x)``; a bare URL becomes
    ``[[1]](https://x)``. Links the citation step did not number are left alone.
    """
    by_url = _number_for(sources)

    def link(match: re.Match[str]) -> str:
        url = match["url"].rstrip(_TRAILING)
        source = by_url.get(normalize_url(url))
        if source is None:
            return match.group()
        text = match["text"].strip()
        label = f"[[{source.number}]]({url})"
        return label if not text or text == url else f"{text} {label}"

    def bare(match: re.Match[str]) -> str:
        raw = match["url"]
        url = raw.rstrip(_TRAILING)
        source = by_url.get(normalize_url(url))
        if source is None:
            return raw
        return f"[[{source.number}]]({url}){raw[len(url):]}"

    parts: list[str] = []
    last = 0
    for match in _MARKDOWN_LINK.finditer(answer):  # bare URLs only outside markdown links
        parts.append(_BARE_URL.sub(bare, answer[last:match.start()]))
        parts.append(link(match))
        last = match.end()
    parts.append(_BARE_URL.sub(bare, answer[last:]))
    return "".join(parts)


def sources_markdown(sources: Sequence[ev.Source]) -> str:
    """A numbered markdown list of the sources, each title a link to its page."""
    lines = []
    for source in sources:
        title = _escape(source.title or source.url)
        how = "" if source.visited else (" *(from search results)*" if source.searched
                                        else " *(not seen in this session)*")
        lines.append(f"{source.number}. [{title}]({source.url}){how}  \n   `{source.url}`")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("[", "\\[").replace("]", "\\]")


def page_text_from_events(events: Iterable[ev.Event], url: str) -> tuple[str, str] | None:
    """(title, text) of ``url`` as the session read it (a visit), else as a search described it."""
    wanted = normalize_url(url)
    preview: tuple[str, str] | None = None
    for event in events:
        if isinstance(event, ev.VisitDone) and event.error is None \
                and normalize_url(event.url) == wanted:
            return event.title or url, event.output
        if isinstance(event, ev.SearchDone) and preview is None:
            for hit in event.hits:
                if normalize_url(hit.url) == wanted:
                    preview = (hit.title or url, hit.preview)
    return preview


def all_sources(events: Iterable[ev.Event]) -> list[ev.Source]:
    """Sources cited by every answer of a conversation, numbered per answer, newest last."""
    found: list[ev.Source] = []
    for event in events:
        if isinstance(event, ev.Finished):
            found.extend(event.sources)
    return found
