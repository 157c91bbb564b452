"""scripts/bench search: the local index against bm25s, and prefetched page visits.

Figures (one JSON line each):
- local_index_query_p95_ms: latency of ``LocalIndex.search`` (top 10) on a generated corpus of
  100k passages; bm25s's latency on the same corpus and queries is the reference (target: ours
  p95 < 20 ms). p50 is reported alongside.
- local_index_passages_per_s: indexing throughput, ours end to end (reading the files, cutting
  passages, SQLite FTS5) vs bm25s tokenising and indexing the same passages already in memory
  (target: ours >= bm25s).
- visit_wait_prefetched_vs_sequential: 10 pages from a local server answering after 300 ms each.
  The model-visible wait (time spent inside visit calls) of 10 sequential visits, against the
  same visits after a search started prefetching them and the model "thought" for 1 s
  (target: prefetched < 10% of sequential).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, say  # noqa: E402

from iisearch_local.search.base import SearchHit  # noqa: E402
from iisearch_local.search.cache import PageCache  # noqa: E402
from iisearch_local.search.fetch import FetchLimits, HttpFetcher  # noqa: E402
from iisearch_local.search.local_index import STOPWORDS, LocalIndex  # noqa: E402
from iisearch_local.search.ssrf import AddressPolicy  # noqa: E402
from iisearch_local.search.tools import SearchTools  # noqa: E402

BENCH = "search"
PASSAGES_PER_FILE = 100
QUERY_COUNT = 300
PAGE_LATENCY_S = 0.3
PAGES = 10
CONTENT_RANK_OFFSET = 100
THINK_SECONDS = 1.0  # the model writing its next code block; a 4B model on CPU takes longer
FREQUENT_WORDS = ["the", "of", "and", "to", "in", "is", "was", "for", "on", "with", "as", "by",
                  "that", "it", "from", "at", "an", "which", "were", "this"]


def make_vocabulary(size: int, rng: np.random.Generator) -> np.ndarray:
    """Distinct pronounceable made-up words ("tavoru", "kelim"...)."""
    consonants, vowels = list("bdfgklmnprstvz"), list("aeiou")
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.integers(2, 5)
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(syllables)))
    return np.array(sorted(words))


def make_corpus(passages: int, seed: int = 7) -> list[str]:
    """Passages of 70-100 words: frequent function words plus Zipf-distributed content words.

    Content words follow Zipf's law from rank 100 on, because in real text ranks 1-100 are
    function words (the, of, and...), which the index drops as stop words.
    """
    rng = np.random.default_rng(seed)
    content = make_vocabulary(30_000, rng)
    weights = 1.0 / np.arange(CONTENT_RANK_OFFSET, len(content) + CONTENT_RANK_OFFSET) ** 1.07
    lengths = rng.integers(70, 101, size=passages)
    total = int(lengths.sum())
    content_ids = rng.choice(len(content), size=total, p=weights / weights.sum())
    frequent_ids = rng.integers(0, len(FREQUENT_WORDS), size=total)
    use_frequent = rng.random(total) < 0.35  # about a third of running text is function words
    words = np.where(use_frequent, np.array(FREQUENT_WORDS)[frequent_ids], content[content_ids])
    out, start = [], 0
    for length in lengths:
        out.append(" ".join(words[start:start + length]) + ".")
        start += length
    return out


def make_queries(corpus: list[str], count: int, seed: int = 11) -> list[tuple[str, int]]:
    """3-5 content words taken from a random passage, in a natural-language frame.

    Returns ``(query, index of the source passage)``; finding the source in the top 10 is the
    recall figure reported next to the latency (speed bought with bad ranking would show there).
    """
    rng = np.random.default_rng(seed)
    queries = []
    for _ in range(count):
        source = int(rng.integers(len(corpus)))
        passage = corpus[source].rstrip(".").split()
        content = [w for w in passage if w not in STOPWORDS]
        picked = list(rng.choice(content, size=min(len(content), int(rng.integers(3, 6))), replace=False))
        if rng.random() < 0.5:  # half the queries carry a word the passage lacks: "any word" path
            other = corpus[int(rng.integers(len(corpus)))].rstrip(".").split()
            picked.insert(int(rng.integers(len(picked) + 1)),
                          next((w for w in other if w not in STOPWORDS and w not in passage), "zyzzyva"))
        queries.append(("what is the " + " ".join(picked), source))
    return queries


def _contains_source(index: LocalIndex, hits: list, source_text: str) -> bool:
    for hit in hits:
        _title, passages = index.read(Path(hit.path))
        if source_text in passages[hit.ordinal - 1][1]:
            return True
    return False


def write_files(corpus: list[str], folder: Path) -> None:
    for number, start in enumerate(range(0, len(corpus), PASSAGES_PER_FILE)):
        body = "\n\n".join(corpus[start:start + PASSAGES_PER_FILE])
        (folder / f"doc{number:05d}.md").write_text(f"# Document {number}\n\n{body}\n")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def bench_local_index(passages: int) -> None:
    import bm25s

    say(f"generating {passages} passages ...")
    corpus = make_corpus(passages)
    queries = make_queries(corpus, QUERY_COUNT)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "docs"
        folder.mkdir()
        write_files(corpus, folder)
        index = LocalIndex(Path(tmp) / "index.sqlite", passage_words=100)
        index.add_root(folder)
        start = time.perf_counter()
        report = index.update()
        ours_index_s = time.perf_counter() - start
        assert report.passages >= passages, report
        say(f"ours: indexed {report.passages} passages in {ours_index_s:.1f} s")

        start = time.perf_counter()
        tokens = bm25s.tokenize(corpus, stopwords="en", show_progress=False)
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        ref_index_s = time.perf_counter() - start
        say(f"bm25s: indexed {len(corpus)} passages in {ref_index_s:.1f} s")

        for query, _source in queries[:20]:  # warm the page cache the same way for both
            index.search(query, 10)
        ours_ms, ours_hits = [], []
        for query, _source in queries:
            start = time.perf_counter()
            hits = index.search(query, 10)
            ours_ms.append((time.perf_counter() - start) * 1000)
            ours_hits.append(hits)
        ref_ms, ref_found = [], 0
        for query, source in queries:
            start = time.perf_counter()
            ids, _scores = retriever.retrieve(bm25s.tokenize(query, stopwords="en", show_progress=False),
                                              k=10, show_progress=False)
            ref_ms.append((time.perf_counter() - start) * 1000)
            ref_found += source in set(int(i) for i in ids[0])
        found = sum(_contains_source(index, hits, corpus[source])
                    for hits, (_query, source) in zip(ours_hits, queries, strict=True))
        index.close()

    ours_p95, ref_p95 = percentile(ours_ms, 0.95), percentile(ref_ms, 0.95)
    say(f"query p50/p95 ms: ours {statistics.median(ours_ms):.2f}/{ours_p95:.2f}, "
        f"bm25s {statistics.median(ref_ms):.2f}/{ref_p95:.2f}; source passage in the top 10: "
        f"ours {found}/{len(queries)}, bm25s {ref_found}/{len(queries)}")
    emit(BENCH, "local_index_query_p95_ms", ours=round(ours_p95, 3), reference=round(ref_p95, 3),
         ratio=round(ours_p95 / ref_p95, 3), target="ours p95 < 20 ms", passed=ours_p95 < 20,
         ours_p50=round(statistics.median(ours_ms), 3),
         reference_p50=round(statistics.median(ref_ms), 3), passages=passages,
         queries=len(queries), ours_recall_at_10=round(found / len(queries), 3),
         reference_recall_at_10=round(ref_found / len(queries), 3))
    ours_rate, ref_rate = report.passages / ours_index_s, len(corpus) / ref_index_s
    emit(BENCH, "local_index_passages_per_s", ours=round(ours_rate), reference=round(ref_rate),
         ratio=round(ours_rate / ref_rate, 3), target="ours >= bm25s", passed=ours_rate >= ref_rate,
         passages=passages)


class _SlowPages(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        time.sleep(PAGE_LATENCY_S)
        body = (f"<html><head><title>Page {self.path}</title></head><body>"
                + "<p>Some paragraph of page text for the reader.</p>" * 50 + "</body></html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Listing:
    """A search engine that returns the server's 10 pages."""

    name = "bench"

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls

    def search(self, query: str, max_results: int = 10) -> list[SearchHit]:
        return [SearchHit(url=u, title=u, snippet="") for u in self.urls[:max_results]]


def _session(urls: list[str], cache_path: Path, *, prefetch: bool) -> float:
    """Search, optionally think, then visit every page; returns seconds spent inside visits."""
    fetcher = HttpFetcher(limits=FetchLimits(), policy=AddressPolicy.build(allowed_hosts=["127.0.0.1"]))
    tools = SearchTools(engines=[_Listing(urls)], fetcher=fetcher,
                        cache=PageCache(cache_path, ttl_seconds=3600, max_bytes=100_000_000),
                        prefetch_count=PAGES if prefetch else 0, prefetch_concurrency=4)
    try:
        tools.web_search("pages", PAGES)
        if prefetch:
            time.sleep(THINK_SECONDS)
        waited = 0.0
        for url in urls:
            start = time.perf_counter()
            text = tools.web_visit(url)
            waited += time.perf_counter() - start
            assert "Some paragraph" in text, text[:200]
        return waited
    finally:
        tools.close()


def bench_visits() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowPages)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    urls = [f"http://127.0.0.1:{server.server_address[1]}/page{i}" for i in range(PAGES)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sequential = _session(urls, Path(tmp) / "a.sqlite", prefetch=False)
            prefetched = _session(urls, Path(tmp) / "b.sqlite", prefetch=True)
    finally:
        server.shutdown()
        server.server_close()
    say(f"visits: sequential wait {sequential:.2f} s, prefetched wait {prefetched:.3f} s")
    emit(BENCH, "visit_wait_prefetched_vs_sequential", ours=round(prefetched, 4),
         reference=round(sequential, 4), ratio=round(prefetched / sequential, 4),
         target="prefetched < 10% of sequential", passed=prefetched < 0.1 * sequential,
         pages=PAGES, page_latency_s=PAGE_LATENCY_S, think_seconds=THINK_SECONDS,
         prefetch_concurrency=4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000, help="corpus size")
    parser.add_argument("--skip-index", action="store_true", help="only the visit figure")
    args = parser.parse_args()
    if not args.skip_index:
        bench_local_index(args.passages)
    bench_visits()


if __name__ == "__main__":
    main()
