"""``build_dataset``: traces in, a dataset folder out (train.jsonl, valid.jsonl, build.json).

The steps, each counted in the report: read the sources (skips counted with their reason), keep
the model's protocol, rejection sampling (correct answer, at least N tool calls),
decontamination against the benchmarks, de-duplication, tokenizing with the model's tokenizer,
the max length, then a seeded split by question (a question's traces stay on one side). The
folder is written next to its destination and renamed into place, so a failed build never
leaves half a dataset.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import UserFacingError
from ..research.prompting import http_date
from ..research.settings import PROTOCOLS, ResearchSettings
from .decontam import DecontaminationFilter, default_benchmarks_dir, load_benchmarks
from .examples import (
    REPORT_FILE,
    TRAIN_FILE,
    VALID_FILE,
    DatasetError,
    TokenizedExample,
    TraceExample,
    fingerprint_of,
    load_tokenizer,
    tokenize_example,
    write_dataset,
)
from .filters import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_MIN_TOOL_CALLS,
    CorrectnessFilter,
    DedupFilter,
    FilterReport,
    MaxLengthFilter,
    MinToolCallsFilter,
    ProtocolFilter,
    question_key,
    run_filter,
)
from .render import TraceRenderer, is_http_date
from .traces import SourceRead, read_eval_results, read_export, read_jsonl_traces, read_store

FORMAT = "iisearch-finetune-dataset"
FORMAT_VERSION = 1
DEFAULT_VALID_FRACTION = 0.05
NO_TRAINED_TOKENS = "no trained tokens"


class EmptyDatasetError(DatasetError):
    """Every trace was skipped or filtered out; ``report`` says where they went."""

    def __init__(self, message: str, *, report: BuildReport, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


@dataclass(frozen=True, kw_only=True)
class SourceReport:
    name: str
    read: int
    skipped: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "examples": self.read, "skipped": self.skipped}


@dataclass(frozen=True, kw_only=True)
class SplitReport:
    examples: int
    tokens: int
    trained_tokens: int

    @classmethod
    def of(cls, examples: Sequence[TokenizedExample]) -> SplitReport:
        return cls(examples=len(examples), tokens=sum(len(e) for e in examples),
                   trained_tokens=sum(e.trained_tokens for e in examples))


@dataclass(kw_only=True)
class BuildReport:
    """Everything a build did; written as ``build.json``."""

    out: Path
    protocol: str | None
    tokenizer: str  # examples.tokenizer_fingerprint: vocabulary and probe tokenization, hashed
    tokenizer_path: str
    options: dict[str, Any]
    sources: list[SourceReport] = field(default_factory=list)
    filters: list[FilterReport] = field(default_factory=list)
    benchmarks: dict[str, Any] | None = None
    train: SplitReport = field(default_factory=lambda: SplitReport.of([]))
    valid: SplitReport = field(default_factory=lambda: SplitReport.of([]))
    created_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": FORMAT_VERSION, "created_at": self.created_at,
                "protocol": self.protocol, "tokenizer": self.tokenizer,
                "tokenizer_path": self.tokenizer_path, "options": self.options,
                "sources": [s.to_dict() for s in self.sources],
                "filters": [f.to_dict() for f in self.filters], "benchmarks": self.benchmarks,
                "train": self.train.__dict__, "valid": self.valid.__dict__}


def build_dataset(*, tokenizer: Path, out: Path, store: Any = None,
                  session_ids: Sequence[str] = (), exports: Sequence[Path] = (),
                  jsonl: Sequence[Path] = (), evals: Sequence[Path] = (),
                  protocol: str | None = None, gold_files: Sequence[Path] = (),
                  judge: Any = None, grader: Any = None, rejection: bool = True,
                  min_tool_calls: int = DEFAULT_MIN_TOOL_CALLS,
                  max_length: int = DEFAULT_MAX_LENGTH, decontaminate: bool = True,
                  benchmarks: Path | None = None, dedup: bool = True,
                  valid_fraction: float = DEFAULT_VALID_FRACTION, seed: int = 0,
                  settings: ResearchSettings | None = None, date: str | None = None,
                  now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                  ) -> BuildReport:
    """Build the dataset folder ``out`` from the given sources; returns the report.

    ``store`` (a ``SessionStore``) is read whole, or only ``session_ids``. ``max_length`` 0 means
    no limit. ``settings`` gives the prompts jsonl traces are rendered with (default: shipped);
    ``date`` stands in for jsonl traces without one (default: now). Raises ``DatasetError`` for
    bad input and ``EmptyDatasetError`` (with the report) when nothing is left.
    """
    if protocol is not None and protocol not in PROTOCOLS:
        raise DatasetError(f"unknown protocol {protocol!r}",
                           hint=f"Use one of {', '.join(PROTOCOLS)}.")
    if not 0 <= valid_fraction < 1:
        raise DatasetError(f"the validation fraction must be at least 0 and below 1, not "
                           f"{valid_fraction}")
    if max_length < 0 or min_tool_calls < 0:
        raise DatasetError("--max-length and --min-tool-calls cannot be negative")
    if store is None and not (exports or jsonl or evals):
        raise DatasetError("no traces to build from",
                           hint="Give --from-store, --from-export, --from-jsonl or --from-eval.")
    if date is not None and not is_http_date(date):
        raise DatasetError(f"not an HTTP date: {date!r}",
                           hint="Write it like 'Mon, 02 Jun 2025 14:03:00 GMT'.")
    check_out_folder(Path(out))
    started = now()
    date = date or http_date(started)
    token_model = load_tokenizer(tokenizer)  # fail fast: before reading every trace
    options = {"rejection": rejection, "min_tool_calls": min_tool_calls,
               "judge": judge is not None, "max_length": max_length,
               "decontaminate": decontaminate, "dedup": dedup, "valid_fraction": valid_fraction,
               "seed": seed, "default_date": date,
               "gold_files": [str(p) for p in gold_files]}
    report = BuildReport(out=Path(out), protocol=protocol,
                         tokenizer=fingerprint_of(token_model),
                         tokenizer_path=str(tokenizer), options=options,
                         created_at=started.isoformat(timespec="seconds"))
    contamination = None
    if decontaminate:
        folder = benchmarks or default_benchmarks_dir()
        if folder is None:
            raise DatasetError("where are the benchmark files to decontaminate against?",
                               hint="Pass --benchmarks DIR (or set IISEARCH_EVAL_DATA), or "
                                    "--no-decontaminate.")
        loaded = load_benchmarks(folder)
        contamination = DecontaminationFilter(loaded.index)
        report.benchmarks = {"folder": str(loaded.folder), "files": loaded.files,
                             "skipped": loaded.skipped}
    gold = read_gold(gold_files)

    renderer = TraceRenderer(default_date=date, settings=settings)
    reads: list[SourceRead] = []
    if store is not None:
        reads.append(read_store(store, session_ids=session_ids))
    reads += [read_export(Path(p)) for p in exports]
    reads += [read_eval_results(Path(p)) for p in evals]
    reads += [read_jsonl_traces(Path(p), renderer=renderer, default_protocol=protocol)
              for p in jsonl]
    examples: list[TraceExample] = []
    for read in reads:
        report.sources.append(SourceReport(name=read.name, read=len(read.examples),
                                           skipped=read.skipped_by_reason()))
        examples += read.examples
    for example in examples:
        if example.gold is None:
            example.gold = gold.get(question_key(example.question))

    report.protocol = protocol or _single_protocol(examples)
    steps: list[Callable[[list[TraceExample]], Any]] = []
    if report.protocol is not None:
        steps.append(ProtocolFilter(report.protocol))
    if rejection:
        steps.append(CorrectnessFilter(judge=judge, grader=grader))
        if min_tool_calls:
            steps.append(MinToolCallsFilter(min_tool_calls))
    if contamination is not None:
        steps.append(contamination)
    if dedup:
        steps.append(DedupFilter())
    for step in steps:
        result = step(examples)
        report.filters.append(result.report)
        examples = result.kept

    tokenized = []
    for example in examples:
        example.meta.setdefault("answer", example.answer)
        tokenized.append(tokenize_example(token_model, example))
    if max_length:
        result = MaxLengthFilter(max_length)(tokenized)
        report.filters.append(result.report)
        tokenized = result.kept
    result = run_filter("has trained tokens", tokenized,
                        lambda e: None if e.trained_tokens else NO_TRAINED_TOKENS)
    if result.report.dropped:
        report.filters.append(result.report)
    tokenized = result.kept
    if not tokenized:
        raise EmptyDatasetError("no examples are left to train on", report=report,
                                hint=_empty_hint(report))
    train, valid = split_by_question(tokenized, valid_fraction=valid_fraction, seed=seed)
    report.train, report.valid = SplitReport.of(train), SplitReport.of(valid)
    write_folder(Path(out), train=train, valid=valid, report=report.to_dict())
    return report


def read_gold(paths: Sequence[Path]) -> dict[str, str]:
    """Reference answers by question, from benchmark-style CSV/JSONL files (first one wins)."""
    from ..evals.datasets import read_items

    gold: dict[str, str] = {}
    for path in paths:
        try:
            items = read_items(Path(path))
        except UserFacingError as exc:
            raise DatasetError(f"cannot read the gold answers: {exc.message}",
                               hint=exc.hint) from None
        for item in items:
            gold.setdefault(question_key(item.question), item.answer)
    return gold


def _single_protocol(examples: Sequence[TraceExample]) -> str | None:
    found = sorted({e.protocol for e in examples})
    if len(found) > 1:
        raise DatasetError(f"the traces use both protocols ({', '.join(found)})",
                           hint="Pass --protocol cir or --protocol tools: a dataset trains one "
                                "model.")
    return found[0] if found else None


def _empty_hint(report: BuildReport) -> str:
    read = sum(s.read for s in report.sources)
    if not read:
        return "No trace could be used; the counts above say why each was skipped."
    worst = max(report.filters, key=lambda f: f.dropped, default=None)
    if worst is None:
        return "Check the sources."
    return f"The step '{worst.name}' dropped {worst.dropped} of {worst.seen}; see the counts above."


def split_by_question(examples: Sequence[TokenizedExample], *, valid_fraction: float,
                      seed: int) -> tuple[list[TokenizedExample], list[TokenizedExample]]:
    """A seeded split; all traces of one question land on the same side, order kept."""
    if valid_fraction <= 0 or len(examples) < 2:
        return list(examples), []
    groups: dict[str, list[int]] = {}
    for index, example in enumerate(examples):
        groups.setdefault(question_key(str(example.meta.get("question", index))), []).append(index)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    wanted = max(1, round(len(examples) * valid_fraction))
    chosen: set[int] = set()
    for key in keys:
        if len(chosen) >= wanted:
            break
        if len(chosen) + len(groups[key]) < len(examples):  # training keeps at least one
            chosen.update(groups[key])
    train = [e for i, e in enumerate(examples) if i not in chosen]
    valid = [e for i, e in enumerate(examples) if i in chosen]
    return train, valid


def check_out_folder(out: Path) -> None:
    """Refuse to write over anything but an earlier dataset."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / REPORT_FILE).is_file():
        raise DatasetError(f"{out} is not empty and holds no dataset",
                           hint="Choose a new folder for --out; an earlier dataset may be "
                                "replaced.")


def write_folder(out: Path, *, train: Sequence[TokenizedExample],
                 valid: Sequence[TokenizedExample], report: dict[str, Any]) -> None:
    """Write the dataset folder beside ``out`` and rename it into place (replacing a dataset)."""
    out = Path(out).expanduser()
    check_out_folder(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    shutil.rmtree(temp, ignore_errors=True)
    try:
        temp.mkdir()
        write_dataset(temp / TRAIN_FILE, train)
        write_dataset(temp / VALID_FILE, valid)
        with (temp / REPORT_FILE).open("w", encoding="utf-8") as handle:
            handle.write(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if out.exists():
            out.rename(old)
        temp.rename(out)
    except OSError as exc:
        if old.exists() and not out.exists():
            old.rename(out)  # put the earlier dataset back
        shutil.rmtree(temp, ignore_errors=True)
        raise DatasetError(f"cannot write the dataset to {out}: {exc.strerror or exc}") from None
    shutil.rmtree(old, ignore_errors=True)
