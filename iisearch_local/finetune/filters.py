"""The filters a dataset build runs, each switchable, each reporting what it dropped and why.

* ``ProtocolFilter``: only traces of the model's protocol.
* ``CorrectnessFilter`` and ``MinToolCallsFilter``: rejection sampling as in the recipe's phase 3
  (keep traces whose answer is correct and that made at least 5 tool calls). Correctness comes
  from an LLM judge when one is given, else from a verdict the trace already carries (an eval
  run's judge), else from a normalised match against the reference answer.
* ``DedupFilter``: the same question with the same answer, or the same text, is kept once.
* ``MaxLengthFilter``: tokenized examples longer than the training length are dropped.
* Decontamination against the benchmarks lives in ``decontam``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from .examples import TokenizedExample, TraceExample

T = TypeVar("T")

DEFAULT_MIN_TOOL_CALLS = 5  # the recipe's rejection sampling
DEFAULT_MAX_LENGTH = 26000  # the recipe's CIR SFT max length, in tokens
_WORD = re.compile(r"\w+", re.UNICODE)
_ARTICLES = frozenset({"a", "an", "the"})

# Drop reasons, as the build report counts them.
OTHER_PROTOCOL = "other protocol"
INCORRECT = "answer judged incorrect"
NO_GOLD = "no reference answer to check against"
UNPARSEABLE = "judge reply not understood"
TOO_FEW_CALLS = "too few tool calls"
SAME_QA = "same question and answer as an earlier example"
SAME_TEXT = "same text as an earlier example"
TOO_LONG = "longer than the max length"


# --- text normalisation -----------------------------------------------------------------------


def words(text: str) -> list[str]:
    """The words of ``text``: NFKC, case-folded, punctuation dropped."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def question_key(question: str) -> str:
    """What two questions must share to be "the same question"."""
    return " ".join(words(question))


def normalize_answer(text: str) -> str:
    """An answer reduced for matching: words only, case-folded, without articles."""
    return " ".join(w for w in words(text.replace("_", " ")) if w not in _ARTICLES)


def answer_matches(answer: str, gold: str) -> bool:
    """Whether ``answer`` states ``gold``: equal after normalising, or containing it as words."""
    wanted, given = normalize_answer(gold), normalize_answer(answer)
    if not wanted or not given:
        return False
    return wanted == given or f" {wanted} " in f" {given} "


# --- the filter framework ---------------------------------------------------------------------


@dataclass(kw_only=True)
class FilterReport:
    """One filter's counts: how many came in, how many it dropped and why."""

    name: str
    seen: int
    dropped: int
    reasons: dict[str, int] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)  # extra counts (how correctness was judged)

    @property
    def kept(self) -> int:
        return self.seen - self.dropped

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "in": self.seen, "dropped": self.dropped, "kept": self.kept,
                "reasons": self.reasons, **({"notes": self.notes} if self.notes else {})}


@dataclass(kw_only=True)
class FilterResult(Generic[T]):
    kept: list[T]
    report: FilterReport


def run_filter(name: str, items: Sequence[T],
               reason_of: Callable[[T], str | None]) -> FilterResult[T]:
    """Keep the items ``reason_of`` finds nothing against; count the others by reason."""
    kept: list[T] = []
    reasons: Counter[str] = Counter()
    for item in items:
        reason = reason_of(item)
        if reason is None:
            kept.append(item)
        else:
            reasons[reason] += 1
    return FilterResult(kept=kept, report=FilterReport(
        name=name, seen=len(items), dropped=len(items) - len(kept), reasons=dict(reasons)))


# --- the filters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProtocolFilter:
    """Traces of one protocol only (a dataset trains one model)."""

    protocol: str

    @property
    def name(self) -> str:
        return f"protocol {self.protocol}"

    def __call__(self, examples: Sequence[TraceExample]) -> FilterResult[TraceExample]:
        return run_filter(self.name, examples,
                          lambda e: None if e.protocol == self.protocol else OTHER_PROTOCOL)


class CorrectnessFilter:
    """Keep traces whose answer is correct (rejection sampling, first half).

    ``judge`` and ``grader`` (``evals.judge``) ask an LLM; without them a verdict attached to
    the trace decides, else a normalised match of the answer against the reference answer.
    """

    name = "correct answer"

    def __init__(self, *, judge: Any = None, grader: Any = None) -> None:
        if (judge is None) != (grader is None):
            raise ValueError("a judge needs a grader, and a grader a judge")
        self.judge, self.grader = judge, grader

    def __call__(self, examples: Sequence[TraceExample]) -> FilterResult[TraceExample]:
        how: Counter[str] = Counter()

        def reason_of(example: TraceExample) -> str | None:
            verdict = self._verdict(example, how)
            if verdict is None:
                return NO_GOLD
            if verdict == "unparseable":
                return UNPARSEABLE
            return None if verdict == "correct" else INCORRECT

        result = run_filter(self.name, examples, reason_of)
        result.report.notes = {"checked by": dict(how)}
        return result

    def _verdict(self, example: TraceExample, how: Counter[str]) -> str | None:
        if self.judge is not None and example.gold:
            from ..evals.judge import grade

            how["judge"] += 1
            verdict, _raw = grade(self.judge, self.grader, question=example.question,
                                  target=example.gold, answer=example.answer)
            return verdict
        if example.correct is not None:
            how["verdict"] += 1
            return "correct" if example.correct else "incorrect"
        if example.gold:
            how["match"] += 1
            return "correct" if answer_matches(example.answer, example.gold) else "incorrect"
        return None


@dataclass(frozen=True)
class MinToolCallsFilter:
    """Keep traces that made at least ``minimum`` tool calls (rejection sampling, second half)."""

    minimum: int = DEFAULT_MIN_TOOL_CALLS

    @property
    def name(self) -> str:
        return f"at least {self.minimum} tool calls"

    def __call__(self, examples: Sequence[TraceExample]) -> FilterResult[TraceExample]:
        return run_filter(self.name, examples,
                          lambda e: None if e.tool_calls >= self.minimum else TOO_FEW_CALLS)


class DedupFilter:
    """The first of several traces with the same question and answer, or the same text."""

    name = "de-duplication"

    def __call__(self, examples: Sequence[TraceExample]) -> FilterResult[TraceExample]:
        pairs: set[tuple[str, str]] = set()
        texts: set[str] = set()

        def reason_of(example: TraceExample) -> str | None:
            pair = (question_key(example.question), normalize_answer(example.answer))
            digest = text_hash(example.text)
            if pair in pairs:
                return SAME_QA
            if digest in texts:
                return SAME_TEXT
            pairs.add(pair)  # only kept examples count as earlier ones
            texts.add(digest)
            return None

        return run_filter(self.name, examples, reason_of)


def text_hash(text: str) -> str:
    """A hash of ``text`` with its whitespace normalised."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MaxLengthFilter:
    """Drop tokenized examples longer than ``max_length`` tokens (they would be cut in training)."""

    max_length: int = DEFAULT_MAX_LENGTH

    @property
    def name(self) -> str:
        return f"at most {self.max_length} tokens"

    def __call__(self, examples: Sequence[TokenizedExample]) -> FilterResult[TokenizedExample]:
        return run_filter(self.name, examples,
                          lambda e: None if len(e) <= self.max_length else TOO_LONG)
