"""SQLite cache of visited pages and search results.

A repeated visit is served instantly, and an offline session can re-read what an online one
fetched: entries older than the TTL are not used online but stay readable offline
(``allow_stale``). The file is kept under a size cap by dropping the least recently used
entries. One connection guarded by a lock: the prefetch threads write here too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path

from .base import Page, SearchHit

EVICT_TO_FRACTION = 0.9  # after eviction the cache holds at most this share of the cap
ROW_OVERHEAD_BYTES = 200  # rough per-row cost added to the text size when accounting

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages(
    url TEXT PRIMARY KEY, final_url TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
    content_type TEXT NOT NULL, date TEXT, truncated INTEGER NOT NULL, fetched_at REAL NOT NULL,
    accessed_at REAL NOT NULL, bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS searches(
    key TEXT PRIMARY KEY, query TEXT NOT NULL, engine TEXT NOT NULL, hits TEXT NOT NULL,
    created_at REAL NOT NULL, accessed_at REAL NOT NULL, bytes INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS pages_accessed ON pages(accessed_at);
CREATE INDEX IF NOT EXISTS searches_accessed ON searches(accessed_at);
CREATE INDEX IF NOT EXISTS searches_query ON searches(query);
"""


def search_key(query: str, max_results: int, engines: str) -> str:
    """Cache key of a search: the normalised query, the count and the engine chain."""
    return json.dumps([" ".join(query.lower().split()), max_results, engines])


class PageCache:
    """Pages and search results with a TTL and a size cap."""

    def __init__(self, path: Path, *, ttl_seconds: float, max_bytes: int) -> None:
        self.path = path
        self.ttl_seconds = ttl_seconds
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._total = self._measure()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _measure(self) -> int:
        row = self._db.execute(
            "SELECT (SELECT COALESCE(SUM(bytes),0) FROM pages) + "
            "(SELECT COALESCE(SUM(bytes),0) FROM searches)").fetchone()
        return int(row[0])

    def _fresh(self, stamp: float, allow_stale: bool) -> bool:
        return allow_stale or self.ttl_seconds <= 0 or time.time() - stamp <= self.ttl_seconds

    # pages -------------------------------------------------------------------------------
    def get_page(self, url: str, *, allow_stale: bool = False) -> Page | None:
        """The cached page for ``url`` (asked-for or final URL), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT url, final_url, title, text, content_type, date, truncated, fetched_at "
                "FROM pages WHERE url = ?", (url,)).fetchone()
            if row is None or not self._fresh(row[7], allow_stale):
                return None
            self._db.execute("UPDATE pages SET accessed_at = ? WHERE url = ?", (time.time(), url))
        return Page(url=row[1], title=row[2], text=row[3], content_type=row[4], date=row[5],
                    truncated=bool(row[6]), fetched_at=row[7], from_cache=True, source="cache")

    def put_page(self, url: str, page: Page) -> None:
        """Store ``page`` under the asked-for URL and, if it differs, its final URL."""
        size = len(page.text.encode("utf-8", "replace")) + len(page.title) + ROW_OVERHEAD_BYTES
        now = time.time()
        with self._lock:
            for key in dict.fromkeys((url, page.url)):
                old = self._db.execute("SELECT bytes FROM pages WHERE url = ?", (key,)).fetchone()
                self._db.execute(
                    "INSERT OR REPLACE INTO pages VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (key, page.url, page.title, page.text, page.content_type, page.date,
                     int(page.truncated), page.fetched_at or now, now, size))
                self._total += size - (old[0] if old else 0)
            self._evict_if_needed()

    # searches ----------------------------------------------------------------------------
    def get_search(self, key: str, *, allow_stale: bool = False) -> tuple[list[SearchHit], str] | None:
        """Cached hits and the engine that produced them, or None."""
        with self._lock:
            row = self._db.execute("SELECT hits, engine, created_at FROM searches WHERE key = ?",
                                   (key,)).fetchone()
            if row is None or not self._fresh(row[2], allow_stale):
                return None
            self._db.execute("UPDATE searches SET accessed_at = ? WHERE key = ?", (time.time(), key))
        hits = [SearchHit(**item) for item in json.loads(row[0])]
        return hits, row[1]

    def find_search(self, query: str, max_results: int) -> tuple[list[SearchHit], str] | None:
        """The newest cached hits for ``query`` from any engine chain, however old (offline use)."""
        normalized = " ".join(query.lower().split())
        with self._lock:
            row = self._db.execute(
                "SELECT hits, engine FROM searches WHERE query = ? ORDER BY created_at DESC LIMIT 1",
                (normalized,)).fetchone()
        if row is None:
            return None
        return [SearchHit(**item) for item in json.loads(row[0])][:max_results], row[1]

    def put_search(self, key: str, query: str, engine: str, hits: list[SearchHit]) -> None:
        payload = json.dumps([asdict(hit) for hit in hits])
        size = len(payload) + ROW_OVERHEAD_BYTES
        now = time.time()
        with self._lock:
            old = self._db.execute("SELECT bytes FROM searches WHERE key = ?", (key,)).fetchone()
            self._db.execute("INSERT OR REPLACE INTO searches VALUES (?,?,?,?,?,?,?)",
                             (key, " ".join(query.lower().split()), engine, payload, now, now, size))
            self._total += size - (old[0] if old else 0)
            self._evict_if_needed()

    # housekeeping ------------------------------------------------------------------------
    @property
    def total_bytes(self) -> int:
        return self._total

    def _evict_if_needed(self) -> None:
        """Drop least recently used rows until under the cap (caller holds the lock)."""
        if self.max_bytes <= 0 or self._total <= self.max_bytes:
            return
        target = int(self.max_bytes * EVICT_TO_FRACTION)
        rows = self._db.execute(
            "SELECT 'pages', url, bytes, accessed_at FROM pages UNION ALL "
            "SELECT 'searches', key, bytes, accessed_at FROM searches ORDER BY 4").fetchall()
        doomed: dict[str, list[str]] = {"pages": [], "searches": []}
        for table, key, size, _accessed in rows:
            if self._total <= target:
                break
            doomed[table].append(key)
            self._total -= size
        self._db.execute("BEGIN")
        self._db.executemany("DELETE FROM pages WHERE url = ?", [(k,) for k in doomed["pages"]])
        self._db.executemany("DELETE FROM searches WHERE key = ?", [(k,) for k in doomed["searches"]])
        self._db.execute("COMMIT")

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM pages")
            self._db.execute("DELETE FROM searches")
            self._total = 0

    def counts(self) -> tuple[int, int]:
        """Number of cached pages and searches."""
        with self._lock:
            pages = self._db.execute("SELECT COUNT(*) FROM pages").fetchone()[0]
            searches = self._db.execute("SELECT COUNT(*) FROM searches").fetchone()[0]
        return int(pages), int(searches)
