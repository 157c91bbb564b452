"""``SearchTools``: the one object the research loop uses for searching and visiting.

Two layers. ``search()`` / ``visit()`` return typed results and raise ``SearchError``; the
model-facing ``web_search`` / ``web_visit`` / ``visit_webpage`` accept every name and argument
spelling the models were trained with (positional too), return formatted text, and turn every
failure into a short observation string: they never raise. Every call is recorded in ``calls``
(and passed to ``on_call``) with its arguments, result, engine, timing and error.

Visits are served, in order, by a local source (``file://`` from the local index, ``zim://``
from archives), the cache, a running prefetch, and finally the network. Offline, the network
is never used: only local engines and whatever the cache holds from earlier sessions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from ..config import Config
from .arguments import search_arguments, visit_arguments
from .base import LocalSource, Page, PageFetcher, SearchBackend, SearchError, SearchHit, VisitRefusedError
from .cache import PageCache, search_key
from .chain import ChainResult, FallbackChain
from .format import DEFAULT_PAGE_WORDS, format_failure, format_hits, format_page
from .prefetch import Prefetcher
from .settings import SearchSettings

LOCAL_ENGINES = ("local", "zim")  # tried offline when the configured chain has no local engine
PREFETCH_WAIT_SLACK = 5.0  # seconds to wait for a running prefetch beyond the read timeout


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    """One search or visit, as the research loop and the UI see it."""

    kind: Literal["search", "visit"]
    args: dict[str, Any]
    observation: str  # exactly what the model was shown
    seconds: float
    engine: str | None = None
    hits: tuple[SearchHit, ...] = ()
    page: Page | None = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)


def normalize_url(url: str) -> str:
    """The form used to compare URLs: no fragment, http = https, lower-case host, no end slash."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    scheme = "https" if parts.scheme.lower() == "http" else parts.scheme.lower()
    netloc = parts.netloc.lower()
    for default in (":80", ":443"):
        netloc = netloc.removesuffix(default)
    return urlunsplit((scheme, netloc, parts.path.rstrip("/") or "/", parts.query, ""))


class SearchTools:
    """Search engines, page fetchers, cache and prefetch behind the model's two functions."""

    def __init__(self, *, engines: Sequence[SearchBackend], fetcher: PageFetcher | None,
                 cache: PageCache | None = None, offline: bool = False,
                 visit_only_searched: bool = True, page_words: int = DEFAULT_PAGE_WORDS,
                 default_results: int = 5, max_results: int = 10, show_engine: bool = True,
                 prefetch_count: int = 3, prefetch_concurrency: int = 3,
                 prefetch_wait: float = 20.0, skipped_engines: Sequence[tuple[str, str]] = (),
                 on_call: Callable[[ToolCall], None] | None = None) -> None:
        self.chain = FallbackChain(engines)
        self.fetcher = None if offline else fetcher
        self.cache = cache
        self.offline = offline
        self.visit_only_searched = visit_only_searched
        self.page_words = page_words
        self.default_results = default_results
        self.max_results = max_results
        self.show_engine = show_engine
        self.prefetch_count = prefetch_count
        self.prefetch_wait = prefetch_wait
        self.skipped_engines = list(skipped_engines)
        self.on_call = on_call
        self.calls: list[ToolCall] = []
        self._searched: set[str] = set()
        self._local_sources = [e for e in engines if isinstance(e, LocalSource)]
        use_prefetch = self.fetcher is not None and prefetch_count > 0 and prefetch_concurrency > 0
        self._prefetcher = (Prefetcher(self._fetch_and_store, concurrency=prefetch_concurrency)
                            if use_prefetch else None)

    @classmethod
    def from_config(cls, config: Config | SearchSettings | None = None, *,
                    visit_only_searched: bool | None = None, offline: bool | None = None,
                    engines: Sequence[str] | None = None,
                    on_call: Callable[[ToolCall], None] | None = None) -> SearchTools:
        """Build everything from settings; keyword options override the configuration."""
        from .fetch import HttpFetcher
        from .registry import build_engines

        if config is None:
            from ..config import load_config
            config = load_config()
        settings = config if isinstance(config, SearchSettings) else SearchSettings.from_config(config)
        offline = settings.offline if offline is None else offline
        names = list(engines or settings.engines)
        if offline and not any(n in LOCAL_ENGINES for n in names):
            names += list(LOCAL_ENGINES)
        ready, skipped = build_engines(names, settings, offline=offline)
        cache = None
        if settings.cache_enabled:
            cache = PageCache(settings.cache_path, ttl_seconds=settings.cache_ttl_hours * 3600,
                              max_bytes=int(settings.cache_max_mb * 1_000_000))
        return cls(engines=ready, fetcher=None if offline else HttpFetcher.from_settings(settings),
                   cache=cache, offline=offline,
                   visit_only_searched=(settings.visit_only_searched if visit_only_searched is None
                                        else visit_only_searched),
                   page_words=settings.page_words, default_results=settings.default_results,
                   max_results=settings.max_results, show_engine=settings.show_engine,
                   prefetch_count=settings.prefetch_count,
                   prefetch_concurrency=settings.prefetch_concurrency,
                   prefetch_wait=settings.connect_timeout + 2 * settings.read_timeout + PREFETCH_WAIT_SLACK,
                   skipped_engines=skipped, on_call=on_call)

    # typed layer --------------------------------------------------------------------------------
    def search(self, query: str, max_results: int | None = None) -> list[SearchHit]:
        """Hits for ``query`` (raises ``SearchError``); see ``run_search`` for the engine too."""
        return self.run_search(query, max_results).hits

    def run_search(self, query: str, max_results: int | None = None) -> ChainResult:
        query = " ".join(str(query).split())
        if not query:
            raise SearchError("the search query is empty")
        count = max(1, min(int(max_results or self.default_results), self.max_results))
        key = search_key(query, count, ",".join(self.chain.engine_names))
        cached = self.cache.get_search(key, allow_stale=self.offline) if self.cache else None
        if cached is not None:
            result = ChainResult(cached[0], cached[1])
        else:
            try:
                result = self.chain.run(query, count)
            except SearchError:
                fallback = self._offline_search_fallback(query, count)
                if fallback is None:
                    raise
                result = fallback
            if not result.hits:
                result = self._offline_search_fallback(query, count) or result
            if self.cache is not None and result.hits and not self.offline:
                self.cache.put_search(key, query, result.engine, result.hits)
        self._searched.update(normalize_url(hit.url) for hit in result.hits)
        self._start_prefetch(result.hits)
        return result

    def remember_searched(self, urls: Iterable[str]) -> None:
        """Treat ``urls`` as returned by a search in this session (a continued session's
        earlier turns), so the visit-only-searched rule still lets the model open them."""
        self._searched.update(normalize_url(url) for url in urls)

    def _offline_search_fallback(self, query: str, count: int) -> ChainResult | None:
        """Offline, a web search cached by an earlier online session still answers."""
        if not self.offline or self.cache is None:
            return None
        found = self.cache.find_search(query, count)
        return None if found is None else ChainResult(found[0], f"cache ({found[1]})")

    def visit(self, url: str) -> Page:
        """The page at ``url`` (raises ``SearchError``)."""
        url = str(url).strip().strip("<>\"'")
        if not url:
            raise SearchError("the URL is empty")
        if self.visit_only_searched and normalize_url(url) not in self._searched:
            raise VisitRefusedError("this URL did not come from a search in this session; "
                                    "search first, then visit one of the URLs it returned")
        for source in self._local_sources:
            if source.handles(url):
                return source.visit(url)
        scheme = urlsplit(url).scheme.lower()
        if scheme in ("file", "zim"):
            engine = "local" if scheme == "file" else "zim"
            raise VisitRefusedError(f"{scheme} URLs are only served by the {engine} engine, "
                                    "which is not enabled")
        if self.cache is not None:
            cached = self.cache.get_page(url, allow_stale=self.offline)
            if cached is not None:
                return cached
        if self.fetcher is None:
            if self.offline:
                raise VisitRefusedError("offline mode: this page is not in the cache")
            raise VisitRefusedError("this source cannot fetch web pages, only its own URLs")
        try:
            page = self._prefetcher.take(url, timeout=self.prefetch_wait) if self._prefetcher else None
            return page if page is not None else self._fetch_and_store(url)
        except SearchError:
            stale = self.cache.get_page(url, allow_stale=True) if self.cache else None
            if stale is None:
                raise
            return stale  # an old copy beats no page at all

    def _fetch_and_store(self, url: str) -> Page:
        assert self.fetcher is not None
        page = self.fetcher.visit(url)
        if self.cache is not None:
            self.cache.put_page(url, page)
        return page

    def _start_prefetch(self, hits: Sequence[SearchHit]) -> None:
        if self._prefetcher is None:
            return
        wanted = []
        for hit in hits[: self.prefetch_count]:
            if urlsplit(hit.url).scheme.lower() not in ("http", "https"):
                continue
            if self.cache is not None and self.cache.get_page(hit.url) is not None:
                continue
            wanted.append(hit.url)
        self._prefetcher.schedule(wanted)

    # model-facing layer ----------------------------------------------------------------------------
    def web_search(self, *args: Any, **kwargs: Any) -> str:
        """``web_search(query, num_result=...)``: formatted hits or a one-line failure."""
        start = time.perf_counter()
        try:
            queries, count = search_arguments(args, kwargs)
        except SearchError as exc:
            return self._record("search", {"args": list(args), **kwargs}, start, error=exc.message,
                                observation=f"web_search error: {exc.message}.")
        outputs = [self._one_search(query, count, start) for query in queries]
        return "\n\n".join(outputs)

    def _one_search(self, query: str, count: int | None, start: float) -> str:
        args = {"query": query, "max_results": count}
        try:
            result = self.run_search(query, count)
        except SearchError as exc:
            return self._record("search", args, start, error=exc.message,
                                observation=format_failure("Search", repr(query), exc.message))
        except Exception as exc:  # noqa: BLE001 - a bug must still reach the model as text
            reason = f"internal error ({type(exc).__name__}: {exc})"
            return self._record("search", args, start, error=reason,
                                observation=format_failure("Search", repr(query), reason))
        text = format_hits(result.hits, query=query, note=result.note,
                           engine=result.engine if self.show_engine else None)
        return self._record("search", args, start, observation=text, engine=result.engine,
                            hits=tuple(result.hits))

    def web_visit(self, *args: Any, **kwargs: Any) -> str:
        """``web_visit(url)`` / ``visit_webpage(url)``: the page's text or a one-line failure."""
        start = time.perf_counter()
        try:
            urls = visit_arguments(args, kwargs)
        except SearchError as exc:
            return self._record("visit", {"args": list(args), **kwargs}, start, error=exc.message,
                                observation=f"web_visit error: {exc.message}.")
        return "\n\n".join(self._one_visit(url, time.perf_counter()) for url in urls)

    visit_webpage = web_visit

    def _one_visit(self, url: str, start: float) -> str:
        try:
            page = self.visit(url)
        except SearchError as exc:
            return self._record("visit", {"url": url}, start, error=exc.message,
                                observation=format_failure("Visit", url, exc.message))
        except Exception as exc:  # noqa: BLE001
            reason = f"internal error ({type(exc).__name__}: {exc})"
            return self._record("visit", {"url": url}, start, error=reason,
                                observation=format_failure("Visit", url, reason))
        text = format_page(page, max_words=self.page_words)
        return self._record("visit", {"url": url}, start, observation=text,
                            engine=page.source or None, page=page)

    def functions(self) -> dict[str, Callable[..., str]]:
        """Every name the models call, bound to this session."""
        return {"web_search": self.web_search, "web_visit": self.web_visit,
                "visit_webpage": self.visit_webpage}

    def _record(self, kind: Literal["search", "visit"], args: dict[str, Any], start: float, *,
                observation: str, engine: str | None = None, hits: tuple[SearchHit, ...] = (),
                page: Page | None = None, error: str | None = None) -> str:
        call = ToolCall(kind=kind, args=args, observation=observation,
                        seconds=time.perf_counter() - start, engine=engine, hits=hits, page=page,
                        error=error)
        self.calls.append(call)
        if self.on_call is not None:
            try:
                self.on_call(call)
            except Exception:  # noqa: BLE001 - a failing listener must not break the research
                pass
        return observation

    # lifecycle -------------------------------------------------------------------------------------
    def close(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.close()
        for part in [self.fetcher, *self.chain.backends]:
            close = getattr(part, "close", None)
            if callable(close):
                close()
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> SearchTools:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
