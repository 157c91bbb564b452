"""Training examples: research traces as text segments, and their tokenized, loss-masked form.

A trace is the exact text the model saw and wrote at inference, cut into segments that are either
*trained* (text the model generated: reasoning, code, tool calls, answers, the stop strings and
``<|im_end|>`` it ended with) or *masked* (prompts, questions, observations, corrections we
injected). Tokenizing keeps the trace whole (so tokens are those of inference) and marks a token
trained when its first character lies in a trained segment: a token the tokenizer merged across
the boundary (``>`` of ``<end_code>`` with the ``\n`` we append) is trained, because the model
must learn to finish its stop string.

Dataset files are jsonl, one ``TokenizedExample`` per line: ``{"tokens": [...], "trained":
[[start, end], ...], "meta": {...}}`` where each ``[start, end)`` is a range of token positions
whose tokens the loss is computed on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import UserFacingError

# The files of a dataset folder: `finetune data build` writes them, training reads them.
TRAIN_FILE, VALID_FILE, REPORT_FILE = "train.jsonl", "valid.jsonl", "build.json"


class DatasetError(UserFacingError):
    """A dataset or trace file could not be read (the message names the file and line)."""


@dataclass(frozen=True)
class Segment:
    """A run of trace text; ``trained`` when the model wrote it."""

    text: str
    trained: bool


@dataclass
class TraceExample:
    """One research trace, ready to filter and tokenize."""

    protocol: str  # "cir" or "tools"
    segments: list[Segment]
    question: str
    answer: str  # the final answer text (after </think>), "" if none
    tool_calls: int  # searches + visits + other tool calls the model made
    source: str  # where it came from, e.g. "store:3f2a…" or "traces.jsonl:12"
    gold: str | None = None  # the reference answer, when known
    correct: bool | None = None  # a verdict already attached to the trace (e.g. by an eval run)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments)

    def trained_spans(self) -> list[tuple[int, int]]:
        """Character ranges ``[start, end)`` of trained text, merged where adjacent."""
        spans: list[tuple[int, int]] = []
        at = 0
        for segment in self.segments:
            end = at + len(segment.text)
            if segment.trained and end > at:
                if spans and spans[-1][1] == at:
                    spans[-1] = (spans[-1][0], end)
                else:
                    spans.append((at, end))
            at = end
        return spans


@dataclass
class TokenizedExample:
    """Token ids of a whole trace and the token ranges the loss is computed on."""

    tokens: list[int]
    trained: list[tuple[int, int]]
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def trained_tokens(self) -> int:
        return sum(end - start for start, end in self.trained)

    def mask(self) -> np.ndarray:
        """A boolean array over token positions: True where the token is trained."""
        mask = np.zeros(len(self.tokens), dtype=bool)
        for start, end in self.trained:
            mask[start:end] = True
        return mask

    def to_json(self) -> str:
        return json.dumps({"tokens": self.tokens, "trained": [list(r) for r in self.trained],
                           "meta": self.meta}, ensure_ascii=False, separators=(",", ":"))


class OffsetTokenizer(Protocol):
    """What tokenizing needs: a ``tokenizers.Tokenizer`` satisfies it."""

    def encode(self, sequence: str, *args: Any, **kwargs: Any) -> Any: ...


def load_tokenizer(model_dir: str | os.PathLike[str]) -> Any:
    """The fast tokenizer of a model folder (HF or MLX layout: both keep ``tokenizer.json``)."""
    path = Path(model_dir).expanduser() / "tokenizer.json"
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise DatasetError("the 'tokenizers' package is not installed",
                           hint="pip install 'iisearch-local[finetune]'") from None
    if not path.is_file():
        raise DatasetError(f"no tokenizer.json in {path.parent}",
                           hint="Give the folder of the model you will train (HF or MLX layout).")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # a corrupted tokenizer file: say which
        raise DatasetError(f"cannot read {path}: {exc}") from None


FINGERPRINT_CHARS = 16
# Text whose tokenization must agree: specials, code, whitespace runs, non-Latin scripts.
_PROBE = ("<|im_start|>user\nWho wrote it?<|im_end|>\n<|im_start|>assistant\n<think>\n"
          "<start_code>\n```python\nprint(web_search(query=\"x\"))\n```\n<end_code>"
          "\n</think>\n\n  Zürich 東京 2025 ← ok<tool_call></tool_call><|endoftext|>")


def tokenizer_fingerprint(model_dir: str | os.PathLike[str]) -> str:
    """What identifies a tokenizer's behaviour: its vocabulary and how it splits a probe text.

    Not the file's bytes: ``mlx_lm.convert`` and ``save_pretrained`` rewrite ``tokenizer.json``
    (key order, spacing) without changing a single token.
    """
    return fingerprint_of(load_tokenizer(model_dir))


def fingerprint_of(tokenizer: Any) -> str:
    """``tokenizer_fingerprint`` of an already loaded ``tokenizers.Tokenizer``."""
    vocab = sorted(tokenizer.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1])
    probe = tokenizer.encode(_PROBE, add_special_tokens=False).ids
    digest = hashlib.sha256(json.dumps([vocab, probe], ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:FINGERPRINT_CHARS]


def tokenize_example(tokenizer: OffsetTokenizer, example: TraceExample) -> TokenizedExample:
    """Tokenize the whole trace as inference does and mark the tokens the model generated."""
    encoding = tokenizer.encode(example.text, add_special_tokens=False)
    spans = example.trained_spans()
    ranges: list[tuple[int, int]] = []
    span_index = 0
    for position, (start, _end) in enumerate(encoding.offsets):
        while span_index < len(spans) and spans[span_index][1] <= start:
            span_index += 1
        inside = span_index < len(spans) and spans[span_index][0] <= start
        if not inside:
            continue
        if ranges and ranges[-1][1] == position:
            ranges[-1] = (ranges[-1][0], position + 1)
        else:
            ranges.append((position, position + 1))
    meta = {"source": example.source, "protocol": example.protocol, "question": example.question,
            "tool_calls": example.tool_calls, **example.meta}
    return TokenizedExample(tokens=list(encoding.ids), trained=ranges, meta=meta)


def write_dataset(path: str | os.PathLike[str], examples: Iterable[TokenizedExample]) -> int:
    """Write ``examples`` as jsonl atomically (temp file + rename); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.partial")
    count = 0
    with temp.open("w", encoding="utf-8") as out:
        for example in examples:
            out.write(example.to_json() + "\n")
            count += 1
        out.flush()
        os.fsync(out.fileno())
    temp.replace(path)
    return count


def read_dataset(path: str | os.PathLike[str], *, vocab_size: int | None = None,
                 ) -> Iterator[TokenizedExample]:
    """Read a dataset file; an empty or malformed line is an error naming its line number."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot open the dataset {path}: {exc.strerror or exc}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            yield _parse_line(path, number, line, vocab_size)


def _parse_line(path: Path, number: int, line: str, vocab_size: int | None) -> TokenizedExample:
    where = f"{path}, line {number}"
    if not line.strip():
        raise DatasetError(f"{where}: the line is empty",
                           hint="Each line must hold one example; remove blank lines.")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{where}: expected a JSON object with \"tokens\" and \"trained\"")
    tokens, trained = data.get("tokens"), data.get("trained")
    if (not isinstance(tokens, list) or not tokens
            or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tokens)):
        raise DatasetError(f"{where}: \"tokens\" must be a non-empty list of token ids")
    if vocab_size is not None and max(tokens) >= vocab_size:
        raise DatasetError(f"{where}: token id {max(tokens)} is outside the model's vocabulary "
                           f"({vocab_size})", hint="Build the dataset with this model's tokenizer.")
    if not isinstance(trained, list):
        raise DatasetError(f"{where}: \"trained\" must be a list of [start, end] token ranges")
    ranges: list[tuple[int, int]] = []
    for item in trained:
        if (not isinstance(item, list) or len(item) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in item)
                or not 0 <= item[0] < item[1] <= len(tokens)
                or (ranges and item[0] < ranges[-1][1])):
            raise DatasetError(f"{where}: bad trained range {item!r} (ranges are increasing "
                               f"[start, end) pairs within the {len(tokens)} tokens)")
        ranges.append((item[0], item[1]))
    if not ranges:
        raise DatasetError(f"{where}: the example has no trained tokens")
    meta = data.get("meta", {})
    return TokenizedExample(tokens=tokens, trained=ranges, meta=meta if isinstance(meta, dict) else {})
