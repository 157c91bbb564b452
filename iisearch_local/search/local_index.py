"""Offline search over the user's own folders: SQLite FTS5 with BM25 ranking.

Documents are cut into passages (``chunking``) so a hit points at the right place; its URL is the
file's ``file://`` URL with a ``#p<N>`` anchor, which ``web_visit`` resolves from the index (never
from arbitrary files on disk: only indexed files can be read). Re-indexing is incremental: a
file is read again only when its size or mtime changed, and re-split only when its content hash
changed. Passages of one file get consecutive rowids, so replacing a file is one range delete.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from .base import SearchError, VisitRefusedError
from .chunking import DEFAULT_PASSAGE_WORDS, split_passages
from .local_files import digest, iter_documents, read_document

MAX_QUERY_TERMS = 16
MAX_PASSAGES_PER_FILE = 2  # keep hits diverse: at most this many passages of one file
COMMIT_EVERY_FILES = 500
BM25_WEIGHTS = (3.0, 2.0, 1.0)  # title, heading, body
SCORING_BUDGET = 2000  # passages BM25 may score per query step (about 1-2 µs each)
SNIPPET_WORDS = 40
STOPWORDS = frozenset("""a an and are as at be been but by can could did do does for from had has
have how i if in into is it its me my no not of on or our she he so than that the their them then
there these they this those to was we were what when where which while who whom why will with
would you your about after all also any before between both during each few more most other
over same some such only own very just should now""".split())
_TOKEN = re.compile(r"\w+", re.UNICODE)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS roots(path TEXT PRIMARY KEY, added_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS files(
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, root TEXT NOT NULL, mtime REAL NOT NULL,
    size INTEGER NOT NULL, digest TEXT NOT NULL, title TEXT NOT NULL, first_rowid INTEGER NOT NULL,
    passages INTEGER NOT NULL, indexed_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS files_first ON files(first_rowid);
CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
    title, heading, body, tokenize='porter unicode61 remove_diacritics 2');
"""


@dataclass(frozen=True)
class LocalHit:
    """One ranked passage."""

    path: str
    ordinal: int
    title: str
    heading: str
    snippet: str
    score: float

    @property
    def url(self) -> str:
        return f"{Path(self.path).as_uri()}#p{self.ordinal}"


@dataclass(frozen=True)
class IndexProgress:
    """Reported while updating: files looked at so far out of the total."""

    done: int
    total: int
    path: str


@dataclass
class UpdateReport:
    """What one ``update`` changed."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    passages: int = 0  # passages written
    failed: list[tuple[str, str]] = field(default_factory=list)
    missing_roots: list[str] = field(default_factory=list)


def query_terms(query: str) -> list[str]:
    """Lower-case word tokens without stop words (all of them if only stop words remain)."""
    tokens = [t.lower() for t in _TOKEN.findall(query)]
    kept = [t for t in tokens if t not in STOPWORDS] or tokens
    return list(dict.fromkeys(kept))[:MAX_QUERY_TERMS]


def snippet_around(body: str, terms: list[str], words: int = SNIPPET_WORDS) -> str:
    """About ``words`` words of ``body`` around the first query word (matched by its stem-ish
    prefix, since the index stems), without markdown heading marks."""
    tokens = " ".join(line for line in body.splitlines() if not line.lstrip().startswith("#")).split()
    if not tokens:
        return ""
    prefixes = tuple(t[:5] for t in terms if t)
    first = next((i for i, tok in enumerate(tokens) if tok.lower().strip("\"'()[],.;:!?").startswith(prefixes)), 0)
    start = max(0, min(first - words // 4, len(tokens) - words))
    text = " ".join(tokens[start:start + words])
    return ("... " if start else "") + text + (" ..." if start + words < len(tokens) else "")


def parse_file_url(url: str) -> tuple[Path, int | None]:
    """``file:///a/b.md#p3`` -> (``/a/b.md``, 3)."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        raise VisitRefusedError(f"not a local file URL: {url}")
    anchor = parts.fragment
    ordinal = int(anchor[1:]) if re.fullmatch(r"p\d+", anchor) else None
    return Path(url2pathname(parts.path)), ordinal


class LocalIndex:
    """The index database; safe to share between threads."""

    def __init__(self, path: Path, *, extra_roots: Iterable[str] = (),
                 passage_words: int = DEFAULT_PASSAGE_WORDS) -> None:
        self.path = path
        self.passage_words = passage_words
        self.extra_roots = [str(Path(r).expanduser().resolve()) for r in extra_roots]
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30.0,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # roots ---------------------------------------------------------------------------------
    def roots(self) -> list[str]:
        """Folders (or single files) indexed: those added by the user, then the configured ones."""
        with self._lock:
            added = [r[0] for r in self._db.execute("SELECT path FROM roots ORDER BY path")]
        return list(dict.fromkeys(added + self.extra_roots))

    def add_root(self, path: Path) -> str:
        resolved = path.expanduser().resolve()
        if not resolved.exists():
            raise SearchError(f"{path} does not exist")
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO roots VALUES (?, ?)", (str(resolved), time.time()))
        return str(resolved)

    def remove_root(self, path: Path) -> int:
        """Forget a root and every file indexed under it; returns how many files were dropped."""
        resolved = str(path.expanduser().resolve())
        with self._lock:
            known = self._db.execute("SELECT 1 FROM roots WHERE path = ?", (resolved,)).fetchone()
            if known is None:
                raise SearchError(f"{resolved} is not an indexed folder")
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM roots WHERE path = ?", (resolved,))
            rows = self._db.execute("SELECT id, first_rowid, passages FROM files WHERE root = ?",
                                    (resolved,)).fetchall()
            for file_id, first, count in rows:
                self._drop_file(file_id, first, count)
            self._db.execute("COMMIT")
        return len(rows)

    def stats(self) -> dict[str, int]:
        with self._lock:
            files, passages = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(passages), 0) FROM files").fetchone()
        return {"files": int(files), "passages": int(passages)}

    def root_stats(self) -> dict[str, tuple[int, int]]:
        """Per root: (files, passages)."""
        with self._lock:
            rows = self._db.execute("SELECT root, COUNT(*), SUM(passages) FROM files GROUP BY root")
            return {r[0]: (int(r[1]), int(r[2] or 0)) for r in rows}

    # indexing ------------------------------------------------------------------------------
    def _drop_file(self, file_id: int, first: int, count: int) -> None:
        if count:
            self._db.execute("DELETE FROM passages WHERE rowid BETWEEN ? AND ?",
                             (first, first + count - 1))
        self._db.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def _next_rowid(self) -> int:
        row = self._db.execute("SELECT MAX(first_rowid + passages) FROM files").fetchone()
        return max(int(row[0] or 0), 0) + 1

    def update(self, *, progress: Callable[[IndexProgress], None] | None = None) -> UpdateReport:
        """Bring the index in line with the files on disk under every root."""
        report = UpdateReport()
        with self._lock:
            roots = self.roots()
            present = [r for r in roots if Path(r).exists()]
            report.missing_roots = [r for r in roots if r not in present]
            found_by_path = {}  # nested roots list a file twice: the first root keeps it
            for root in present:
                for stat in iter_documents(Path(root)):
                    found_by_path.setdefault(str(stat.path), (root, stat))
            found = list(found_by_path.values())
            known = {row[1]: row for row in self._db.execute(
                "SELECT id, path, mtime, size, digest, first_rowid, passages, root FROM files")}
            next_rowid = self._next_rowid()
            self._db.execute("BEGIN")
            try:
                for done, (root, stat) in enumerate(found, start=1):
                    next_rowid = self._update_file(root, stat, known.pop(str(stat.path), None),
                                                   next_rowid, report)
                    if progress is not None:
                        progress(IndexProgress(done, len(found), str(stat.path)))
                    if done % COMMIT_EVERY_FILES == 0:
                        self._db.execute("COMMIT")
                        self._db.execute("BEGIN")
                for row in known.values():
                    # A file under a root that is offline right now (unmounted disk) stays.
                    if row[7] not in report.missing_roots:
                        self._drop_file(row[0], row[5], row[6])
                        report.removed += 1
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return report

    def _update_file(self, root: str, stat, row, next_rowid: int, report: UpdateReport) -> int:
        path = str(stat.path)
        if row is not None and row[2] == stat.mtime and row[3] == stat.size:
            report.unchanged += 1
            return next_rowid
        try:
            data = stat.path.read_bytes()
        except OSError as exc:
            report.failed.append((path, exc.strerror or str(exc)))
            return next_rowid
        content_hash = digest(data)
        if row is not None and row[4] == content_hash:
            self._db.execute("UPDATE files SET mtime = ?, size = ? WHERE id = ?",
                             (stat.mtime, stat.size, row[0]))
            report.unchanged += 1
            return next_rowid
        try:
            document = read_document(stat.path, data)
        except SearchError as exc:
            report.failed.append((path, exc.message))
            return next_rowid
        passages = split_passages(document.text, target_words=self.passage_words)
        if row is not None:
            self._drop_file(row[0], row[5], row[6])
            report.changed += 1
        else:
            report.added += 1
        self._db.executemany(
            "INSERT INTO passages(rowid, title, heading, body) VALUES (?, ?, ?, ?)",
            [(next_rowid + i, document.title, p.heading, p.text) for i, p in enumerate(passages)])
        self._db.execute(
            "INSERT INTO files(path, root, mtime, size, digest, title, first_rowid, passages, "
            "indexed_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (path, root, stat.mtime, stat.size, content_hash, document.title, next_rowid,
             len(passages), time.time()))
        report.passages += len(passages)
        return next_rowid + len(passages)

    # searching -----------------------------------------------------------------------------
    def search(self, query: str, limit: int = 10) -> list[LocalHit]:
        """Best passages for ``query`` by BM25, in up to three steps until there are enough.

        Passages with all the words, then with all words but one, then with any of the query's
        rarest words, as many as fit a scoring budget: BM25 must score every matching passage,
        and common words match much of a big index while adding little to the ranking. Each
        word's (capped) document count is looked up first, so steps that cannot match are
        skipped and the cost of the others is known before scoring. This keeps queries on 100k
        passages within a few milliseconds.
        """
        terms = query_terms(query)
        if not terms:
            return []
        quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
        wanted = limit * MAX_PASSAGES_PER_FILE + limit  # spare rows for the per-file cap
        with self._lock:
            counts = {q: self._count(q, SCORING_BUDGET + 1) for q in quoted}
            ranked: list[tuple[int, float]] = []
            for match, bound in self._plan(quoted, counts):
                seen = {rowid for rowid, _score in ranked}
                ranked.extend(row for row in self._rank(match, wanted, bound) if row[0] not in seen)
                if len(ranked) >= limit:
                    break
            return self._to_hits(ranked, limit, terms)

    @staticmethod
    def _plan(quoted: list[str], counts: dict[str, int]) -> list[tuple[str, int]]:
        """The search steps as ``(MATCH expression, upper bound of its matches)``."""
        present = [q for q in quoted if counts[q]]
        steps: list[tuple[str, int]] = []
        if not present:
            return steps
        missing = len(quoted) - len(present)
        if missing == 0:
            steps.append((" ".join(quoted), min(counts.values())))
            if len(quoted) > 2:  # all words but one: forgives a word the passage does not use
                groups = [[q for q in quoted if q is not left_out] for left_out in quoted]
                steps.append((" OR ".join("(" + " ".join(g) + ")" for g in groups),
                              sum(min(counts[q] for q in g) for g in groups)))
        elif missing == 1 and len(present) > 1:  # the only all-but-one group that can match
            steps.append((" ".join(present), min(counts[q] for q in present)))
        if len(quoted) > 1:
            chosen: list[str] = []
            total = 0
            for term in sorted(present, key=counts.__getitem__):  # rarest first
                if chosen and total + counts[term] > SCORING_BUDGET:
                    break
                chosen.append(term)
                total += counts[term]
            steps.append((" OR ".join(chosen), total))
        return steps

    def _count(self, match: str, cap: int) -> int:
        """How many passages match, counting no further than ``cap`` (cheap: no scoring)."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM passages WHERE passages MATCH ? LIMIT ?)",
            (match, cap)).fetchone()
        return int(row[0])

    def _rank(self, match: str, wanted: int, bound: int) -> list[tuple[int, float]]:
        """``(rowid, bm25)`` best first. Past the budget, only the first matches are scored."""
        weights = ", ".join(map(str, BM25_WEIGHTS))
        if bound <= SCORING_BUDGET or self._count(match, SCORING_BUDGET + 1) <= SCORING_BUDGET:
            sql = (f"SELECT rowid, bm25(passages, {weights}) AS score FROM passages "
                   "WHERE passages MATCH ? ORDER BY score LIMIT ?")
            params: tuple = (match, wanted)
        else:  # a very unspecific query: score only the first matches (by rowid) in the index
            cutoff = self._db.execute(
                "SELECT rowid FROM passages WHERE passages MATCH ? ORDER BY rowid LIMIT 1 OFFSET ?",
                (match, SCORING_BUDGET - 1)).fetchone()[0]
            sql = (f"SELECT rowid, bm25(passages, {weights}) AS score FROM passages "
                   "WHERE passages MATCH ? AND rowid <= ? ORDER BY score LIMIT ?")
            params = (match, cutoff, wanted)
        return [(int(r[0]), float(r[1])) for r in self._db.execute(sql, params)]

    def _to_hits(self, rows: list[tuple[int, float]], limit: int, terms: list[str]) -> list[LocalHit]:
        hits: list[LocalHit] = []
        per_file: dict[str, int] = {}
        for rowid, score in rows:
            owner = self._db.execute(
                "SELECT path, first_rowid FROM files WHERE first_rowid <= ? "
                "ORDER BY first_rowid DESC LIMIT 1", (rowid,)).fetchone()
            if owner is None or per_file.get(owner[0], 0) >= MAX_PASSAGES_PER_FILE:
                continue
            per_file[owner[0]] = per_file.get(owner[0], 0) + 1
            title, heading, body = self._db.execute(
                "SELECT title, heading, body FROM passages WHERE rowid = ?", (rowid,)).fetchone()
            hits.append(LocalHit(owner[0], rowid - owner[1] + 1, title, heading,
                                 snippet_around(body, terms), -score))
            if len(hits) >= limit:
                break
        return hits

    def is_empty(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM files LIMIT 1").fetchone() is None

    # reading -------------------------------------------------------------------------------
    def read(self, path: Path) -> tuple[str, list[tuple[str, str]]]:
        """Title and ``(heading, text)`` passages of an indexed file; refuses any other file."""
        with self._lock:
            row = self._db.execute("SELECT title, first_rowid, passages FROM files WHERE path = ?",
                                   (str(path),)).fetchone()
            if row is None:
                raise VisitRefusedError(f"{path} is not in your local index; only indexed files can be read")
            title, first, count = row
            passages = self._db.execute(
                "SELECT heading, body FROM passages WHERE rowid BETWEEN ? AND ? ORDER BY rowid",
                (first, first + count - 1)).fetchall()
        return title, [(h, b) for h, b in passages]
