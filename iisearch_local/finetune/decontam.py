"""Decontamination: drop training questions that overlap a benchmark question.

As in the recipe: an 8-gram overlap (any 8 consecutive words in common) or a fuzzy match of at
least 90% word similarity (``difflib`` ratio over the two word lists). Both are indexed so a
check costs little: the 8-grams sit in a dict; fuzzy candidates must share one of the rarest
few words of the question (if they share none of them, too many words are unmatched to reach
the threshold) and pass a length bound before ``difflib`` compares them.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Literal

from ..errors import UserFacingError
from .examples import DatasetError, TraceExample
from .filters import FilterResult, run_filter, words
from .render import FOLLOW_UPS

NGRAM = 8
FUZZY_THRESHOLD = 0.90
BENCHMARK_SUFFIXES = (".csv", ".tsv", ".jsonl")
SHARED_ENV = "IISEARCH_SHARED"  # the project's shared folder; benchmarks are in its data/
NGRAM_HIT = "8-gram overlap with a benchmark question"
FUZZY_HIT = "90% similar to a benchmark question"


@dataclass(frozen=True, kw_only=True)
class Contamination:
    """Why a question counts as a benchmark question."""

    kind: Literal["ngram", "fuzzy"]
    benchmark: str  # the file it came from
    question: str  # the benchmark question
    similarity: float


class BenchmarkIndex:
    """Benchmark questions indexed for the 8-gram and fuzzy checks."""

    def __init__(self, questions: Iterable[tuple[str, str]], *, ngram: int = NGRAM,
                 threshold: float = FUZZY_THRESHOLD) -> None:
        self.ngram, self.threshold = ngram, threshold
        self.questions: list[tuple[str, str]] = []  # (benchmark file, question)
        self._words: list[list[str]] = []
        self._ngrams: dict[tuple[str, ...], int] = {}
        self._postings: dict[str, list[int]] = {}
        for benchmark, question in questions:
            qid = len(self.questions)
            self.questions.append((benchmark, question))
            tokens = words(question)
            self._words.append(tokens)
            for gram in _ngrams(tokens, ngram):
                self._ngrams.setdefault(gram, qid)
            for word in set(tokens):
                self._postings.setdefault(word, []).append(qid)

    def __len__(self) -> int:
        return len(self.questions)

    def check(self, text: str) -> Contamination | None:
        """The benchmark question ``text`` overlaps, if any (8-gram first, then fuzzy)."""
        tokens = words(text)
        for gram in _ngrams(tokens, self.ngram):
            qid = self._ngrams.get(gram)
            if qid is not None:
                return self._hit("ngram", qid, 1.0)
        return self.fuzzy(tokens)

    def fuzzy(self, tokens: Sequence[str]) -> Contamination | None:
        """The most similar benchmark question at or above the threshold, if any."""
        size = len(tokens)
        if not size:
            return None
        t = self.threshold
        # ratio = 2*matched/(size+other) >= t needs matched >= t*size/(2-t) (as other <= matched).
        needed = math.ceil(t * size / (2 - t) - 1e-9)
        by_rarity = sorted(tokens, key=lambda w: (len(self._postings.get(w, ())), w))
        prefix = set(by_rarity[: size - needed + 1])
        candidates = {qid for word in prefix for qid in self._postings.get(word, ())}
        best: tuple[float, int] | None = None
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(list(tokens))
        for qid in sorted(candidates):
            other = self._words[qid]
            if 2 * min(size, len(other)) < t * (size + len(other)):
                continue  # the lengths alone rule it out
            matcher.set_seq1(other)
            if matcher.real_quick_ratio() < t or matcher.quick_ratio() < t:
                continue
            ratio = matcher.ratio()
            if ratio >= t and (best is None or ratio > best[0]):
                best = (ratio, qid)
        return None if best is None else self._hit("fuzzy", best[1], best[0])

    def _hit(self, kind: Literal["ngram", "fuzzy"], qid: int, similarity: float) -> Contamination:
        benchmark, question = self.questions[qid]
        return Contamination(kind=kind, benchmark=benchmark, question=question,
                             similarity=round(similarity, 4))


def _ngrams(tokens: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


@dataclass(frozen=True, kw_only=True)
class BenchmarkFolder:
    """The benchmark questions of a folder, and the files in it that hold none."""

    folder: Path
    index: BenchmarkIndex
    files: dict[str, int]  # file name -> questions read
    skipped: dict[str, str]  # file name -> why it was not read


def default_benchmarks_dir() -> Path | None:
    """Where evals find benchmark files: ``$IISEARCH_EVAL_DATA``, else ``$IISEARCH_SHARED/data``."""
    from ..evals.datasets import DATA_ENV

    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    if os.environ.get(SHARED_ENV):
        return Path(os.environ[SHARED_ENV]).expanduser() / "data"
    return None


def load_benchmarks(folder: Path) -> BenchmarkFolder:
    """Every question of the benchmark files (CSV, TSV, JSONL) directly in ``folder``."""
    from ..evals.datasets import read_items

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"the benchmark folder {folder} does not exist",
                           hint="Pass --benchmarks DIR (the folder of simpleqa_test.csv, ...), "
                                "or --no-decontaminate.")
    questions: list[tuple[str, str]] = []
    files: dict[str, int] = {}
    skipped: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in BENCHMARK_SUFFIXES or not path.is_file():
            continue
        try:
            items = read_items(path)
        except UserFacingError as exc:  # not a question file (e.g. a list of keys)
            skipped[path.name] = exc.message
            continue
        files[path.name] = len(items)
        questions += [(path.name, item.question) for item in items]
    if not questions:
        raise DatasetError(f"no benchmark questions found in {folder}",
                           hint="Pass --benchmarks DIR with the benchmark CSV/JSONL files, or "
                                "--no-decontaminate.")
    return BenchmarkFolder(folder=folder, index=BenchmarkIndex(questions), files=files,
                           skipped=skipped)


class DecontaminationFilter:
    """Drop examples with a question (first or follow-up) that overlaps a benchmark question."""

    name = "decontamination"

    def __init__(self, index: BenchmarkIndex) -> None:
        self.index = index

    def __call__(self, examples: Sequence[TraceExample]) -> FilterResult[TraceExample]:
        per_benchmark: Counter[str] = Counter()

        def reason_of(example: TraceExample) -> str | None:
            questions = [example.question, *example.meta.get(FOLLOW_UPS, ())]
            hit = next((h for h in map(self.index.check, questions) if h is not None), None)
            if hit is None:
                return None
            per_benchmark[hit.benchmark] += 1
            return NGRAM_HIT if hit.kind == "ngram" else FUZZY_HIT

        result = run_filter(self.name, examples, reason_of)
        result.report.notes = {"benchmark questions": len(self.index),
                               "hits per benchmark": dict(per_benchmark)}
        return result
