"""Benchmark questions: readers for SimpleQA, FRAMES and Seal-0 files, and for a user's own file.

The app ships no benchmark data: the user passes a file, or names a benchmark and a folder
(``--data DIR`` or the ``IISEARCH_EVAL_DATA`` environment variable) holding the usual files.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserFacingError

DATA_ENV = "IISEARCH_EVAL_DATA"
# Named benchmark -> (file name in the data folder, grader to judge it with).
BENCHMARKS: dict[str, tuple[str, str]] = {
    "simpleqa": ("simpleqa_test.csv", "simpleqa"),
    "frames": ("frames_test.csv", "frames"),
    "seal0": ("seal0.jsonl", "seal0"),
}
QUESTION_COLUMNS = ("question", "problem", "prompt")
ANSWER_COLUMNS = ("answer", "target", "gold", "true_answer", "ground_truth")
ID_COLUMNS = ("id",)
csv.field_size_limit(16 * 1024 * 1024)  # FRAMES rows carry long link lists


class DatasetError(UserFacingError):
    """A benchmark file is missing or not in a format we can read."""


@dataclass(frozen=True, kw_only=True)
class EvalItem:
    """One question with its reference answer; ``id`` is stable across runs (for resuming)."""

    id: str
    question: str
    answer: str


@dataclass(frozen=True, kw_only=True)
class Benchmark:
    name: str
    grader: str
    path: Path
    items: tuple[EvalItem, ...]


def _pick(row: dict[str, str], names: Sequence[str]) -> str | None:
    lowered = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    for name in names:
        if name in lowered and lowered[name] is not None:
            return str(lowered[name])
    return None


def _rows(path: Path) -> list[dict]:
    """Rows of a CSV (any line endings) or JSONL file."""
    if not path.is_file():
        raise DatasetError(f"benchmark file not found: {path}")
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    raise DatasetError(f"{path}, line {number}: not valid JSON") from None
                if not isinstance(row, dict):
                    raise DatasetError(f"{path}, line {number}: expected a JSON object")
                rows.append(row)
        return rows
    if path.suffix.lower() in (".csv", ".tsv"):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ","))
    raise DatasetError(f"{path}: unknown format (expected .csv, .tsv or .jsonl)")


def read_items(path: Path) -> tuple[EvalItem, ...]:
    """Questions and answers of ``path``; columns are found by name (question/problem/Prompt...)."""
    items = []
    for index, row in enumerate(_rows(path)):
        question, answer = _pick(row, QUESTION_COLUMNS), _pick(row, ANSWER_COLUMNS)
        if question is None or answer is None:
            raise DatasetError(
                f"{path}, row {index + 1}: needs a question and an answer column",
                hint=f"Name them one of {', '.join(QUESTION_COLUMNS)} and "
                     f"{', '.join(ANSWER_COLUMNS)}; found: {', '.join(map(str, row))}.")
        if not question.strip():
            continue
        items.append(EvalItem(id=_pick(row, ID_COLUMNS) or str(index), question=question.strip(),
                              answer=answer.strip()))
    if not items:
        raise DatasetError(f"{path} holds no questions")
    return tuple(items)


def load_benchmark(name_or_file: str, *, data_dir: Path | None = None,
                   grader: str | None = None) -> Benchmark:
    """A named benchmark from the data folder, or a user's CSV/JSONL file."""
    key = name_or_file.lower()
    if key in BENCHMARKS:
        file_name, default_grader = BENCHMARKS[key]
        folder = data_dir or (Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else None)
        if folder is None:
            raise DatasetError(f"where is the {key} file ({file_name})?",
                               hint=f"Pass --data DIR (or set {DATA_ENV}), or pass the file itself.")
        path = Path(folder).expanduser() / file_name
        return Benchmark(name=key, grader=grader or default_grader, path=path,
                         items=read_items(path))
    path = Path(name_or_file).expanduser()
    if not path.exists():
        raise DatasetError(f"{name_or_file!r} is neither a benchmark ({', '.join(BENCHMARKS)}) "
                           "nor a file")
    return Benchmark(name=path.stem, grader=grader or "simpleqa", path=path,
                     items=read_items(path))


def select(items: Sequence[EvalItem], *, sample: int | None = None, seed: int = 0,
           limit: int | None = None) -> tuple[EvalItem, ...]:
    """A seeded random sample (same seed, same questions), then the first ``limit``."""
    chosen = list(items)
    if sample is not None and sample < len(chosen):
        chosen = random.Random(seed).sample(chosen, sample)
    if limit is not None:
        chosen = chosen[:limit]
    return tuple(chosen)
