"""Fetch a search's top results in the background while the model is still thinking.

A small thread pool (bounded concurrency) runs the same visit function the tools use, so a
prefetched page lands in the cache too. When the model then visits one of those URLs, it waits
only for what is left of that download, usually nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from .base import Page

MAX_TRACKED = 64  # remembered downloads; older ones are forgotten (they are in the cache)


class Prefetcher:
    """Runs ``fetch(url)`` for scheduled URLs on ``concurrency`` worker threads."""

    def __init__(self, fetch: Callable[[str], Page], *, concurrency: int) -> None:
        self._fetch = fetch
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency),
                                        thread_name_prefix="iisearch-prefetch")
        self._futures: OrderedDict[str, Future[Page]] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    def schedule(self, urls: Iterable[str]) -> list[str]:
        """Start downloads for URLs not already started; returns the ones started."""
        started: list[str] = []
        with self._lock:
            if self._closed:
                return started
            for url in urls:
                if url in self._futures:
                    continue
                self._futures[url] = self._pool.submit(self._fetch, url)
                started.append(url)
            while len(self._futures) > MAX_TRACKED:
                _old_url, old = self._futures.popitem(last=False)
                old.cancel()
        return started

    def is_tracked(self, url: str) -> bool:
        with self._lock:
            return url in self._futures

    def take(self, url: str, timeout: float | None = None) -> Page | None:
        """The prefetched page (waiting for it if still downloading), or None if not scheduled.

        A failed prefetch re-raises its error: fetching again would only repeat the wait.
        A download still running after ``timeout`` seconds gives None (the caller fetches).
        """
        with self._lock:
            future = self._futures.pop(url, None)
        if future is None or future.cancelled():
            return None
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            return None

    def close(self) -> None:
        """Stop: queued downloads are cancelled, running ones finish in the background."""
        with self._lock:
            self._closed = True
            futures = list(self._futures.values())
            self._futures.clear()
        for future in futures:
            future.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
