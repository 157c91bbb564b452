"""The ``zim`` engine: offline search and reading of Kiwix ZIM archives (Wikipedia and others).

Needs the optional ``zim`` extra (``libzim``). libzim is licensed GPL-3.0, which is why it is an
optional extra and only imported here, when the engine is used: iisearch-local itself stays
Apache-2.0 and runs without it.

Search uses an archive's full-text index (libzim's ``Searcher``) and falls back to its title
suggestions when the archive has none or it finds nothing. Articles are read from the archive
and turned from HTML into text. URLs look like ``zim://<archive-name>/<path>``, where the archive
name is the file name without ``.zim``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from .base import EngineUnavailableError, Page, SearchError, SearchHit, VisitRefusedError
from .documents import html_to_text
from .format import one_line
from .settings import SearchSettings

SCHEME = "zim"
PREVIEW_WORDS = 60
MAX_REDIRECT_HOPS = 8


def _zim_files(locations: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for location in locations:
        path = Path(location).expanduser()
        if path.is_dir():
            files.extend(sorted(path.glob("*.zim")))
        elif path.is_file():
            files.append(path)
    return files


def zim_url(archive: str, path: str) -> str:
    return f"{SCHEME}://{archive}/{quote(path, safe='/')}"


class ZimEngine:
    """``SearchBackend`` and ``LocalSource`` over one or more ``.zim`` files."""

    name = "zim"
    local = True

    def __init__(self, archives: list[Path]) -> None:
        try:
            from libzim.reader import Archive
        except ImportError:
            raise EngineUnavailableError("the zim engine needs the 'zim' extra (libzim, GPL-3.0)",
                                         hint="pip install 'iisearch-local[zim]'",
                                         state="not installed") from None
        if not archives:
            raise EngineUnavailableError("no ZIM archives configured",
                                         hint="Set search.zim.archives to .zim files or folders.")
        self._archives: dict[str, Any] = {}
        for path in archives:
            try:
                self._archives[path.stem] = Archive(str(path))
            except RuntimeError as exc:
                raise EngineUnavailableError(f"{path.name} is not a readable ZIM archive ({exc})") from None

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> ZimEngine:
        return cls(_zim_files(settings.zim_archives))

    @property
    def archive_names(self) -> list[str]:
        return list(self._archives)

    # searching -------------------------------------------------------------------------------
    def search(self, query: str, max_results: int = 10) -> list[SearchHit]:
        per_archive = [self._search_one(name, query, max_results) for name in self._archives]
        hits: list[SearchHit] = []
        for rank in range(max_results):  # interleave archives so each gets its best hits shown
            for found in per_archive:
                if rank < len(found):
                    hits.append(found[rank])
        return hits[:max_results]

    def _search_one(self, name: str, query: str, limit: int) -> list[SearchHit]:
        from libzim.search import Query, Searcher
        from libzim.suggestion import SuggestionSearcher

        archive = self._archives[name]
        paths: list[str] = []
        if archive.has_fulltext_index:
            results = Searcher(archive).search(Query().set_query(query))
            paths = list(results.getResults(0, limit))
        if not paths and archive.has_title_index:
            suggestions = SuggestionSearcher(archive).suggest(query)
            paths = list(suggestions.getResults(0, limit))
        hits = []
        seen: set[str] = set()
        for path in dict.fromkeys(paths):
            try:
                entry = self._resolve(archive, path)
                if entry.path in seen:
                    continue  # two results redirecting to the same article
                seen.add(entry.path)
                title, text = self._entry_text(entry)
            except SearchError:
                continue  # a broken entry is skipped, the others still show
            body = " ".join(line for line in text.splitlines() if not line.startswith("#"))
            preview = " ".join(body.split()[:PREVIEW_WORDS])
            hits.append(SearchHit(url=zim_url(name, entry.path), title=title or entry.title,
                                  snippet=one_line(preview), source=self.name))
        return hits

    # reading ---------------------------------------------------------------------------------
    def handles(self, url: str) -> bool:
        return url.startswith(f"{SCHEME}://")

    def _resolve(self, archive: Any, path: str) -> Any:
        try:
            entry = archive.get_entry_by_path(path)
        except KeyError:
            raise SearchError(f"no article {path!r} in the archive") from None
        for _hop in range(MAX_REDIRECT_HOPS):
            if not entry.is_redirect:
                return entry
            entry = entry.get_redirect_entry()
        raise SearchError(f"too many redirects inside the archive at {path!r}")

    def _entry_text(self, entry: Any) -> tuple[str, str]:
        item = entry.get_item()
        mimetype = item.mimetype.split(";", 1)[0].strip()
        data = bytes(item.content)
        if mimetype in ("text/html", "application/xhtml+xml"):
            extracted = html_to_text(data.decode("utf-8", errors="replace"))
            return entry.title or extracted.title, extracted.text
        if mimetype.startswith("text/"):
            return entry.title, data.decode("utf-8", errors="replace")
        raise SearchError(f"cannot read content type {mimetype} from the archive")

    def visit(self, url: str) -> Page:
        parts = urlsplit(url)
        if parts.scheme != SCHEME:
            raise VisitRefusedError(f"not a zim URL: {url}")
        archive = self._archives.get(parts.netloc)
        if archive is None:
            known = ", ".join(self._archives) or "none"
            raise SearchError(f"no ZIM archive named {parts.netloc!r} (loaded: {known})")
        path = unquote(parts.path.lstrip("/"))
        if not path:
            path = archive.main_entry.get_item().path
        entry = self._resolve(archive, path)
        title, text = self._entry_text(entry)
        return Page(url=zim_url(parts.netloc, entry.path), title=title, text=text,
                    content_type="text/html", fetched_at=time.time(), source=self.name)
