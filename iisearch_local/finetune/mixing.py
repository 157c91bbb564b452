"""Phase mixing: the training examples of each phase in the proportions the config gives.

The rule (deterministic for a seed):

- ``available_i`` = the phase's training examples that fit ``max_length`` (longer ones are
  dropped and counted); ``total = sum(available_i)``;
- ``count_i = round(total * proportion_i / sum(proportions))`` (at least 1);
- when ``count_i <= available_i`` the phase is subsampled without replacement; otherwise every
  example is used ``count_i // available_i`` times and a subsample without replacement fills the
  remainder (``repeated = count_i - available_i`` extra copies);
- the generator of phase ``i`` is seeded with ``(seed, i)``;
- validation sets are concatenated whole (too-long examples dropped and counted the same way).

Each phase's ``build.json`` names the tokenizer its tokens come from (``tokenizer_fingerprint``,
the same one ``finetune data build`` records); it must be the base model's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..convert.outputs import file_sha256
from .config import PhaseConfig
from .examples import (
    FINGERPRINT_CHARS, REPORT_FILE, TRAIN_FILE, VALID_FILE, DatasetError, TokenizedExample, read_dataset,
    tokenizer_fingerprint,
)
from .loss import drop_too_long


@dataclass(frozen=True)
class PhaseReport:
    """What one phase contributed."""

    name: str
    available: int  # training examples within max_length
    used: int  # examples in the mix (count_i)
    repeated: int  # extra copies beyond the available examples
    dropped_too_long: int  # training examples longer than max_length
    valid: int  # validation examples kept
    valid_dropped_too_long: int
    tokenizer_checked: bool  # build.json named a tokenizer and it matched
    data_sha256: str  # of train.jsonl + valid.jsonl: a resumed run must see the same data


@dataclass
class MixedData:
    """The mixed training set, the concatenated validation set and the per-phase report."""

    train: list[TokenizedExample]
    valid: list[TokenizedExample]
    phases: list[PhaseReport]

    @property
    def dropped_too_long(self) -> int:
        return sum(p.dropped_too_long + p.valid_dropped_too_long for p in self.phases)


def mix_counts(available: list[int], proportions: list[float]) -> list[int]:
    """``count_i = round(sum(available) * p_i / sum(p))``, at least 1 per phase."""
    total, weight = sum(available), sum(proportions)
    return [max(1, round(total * proportion / weight)) for proportion in proportions]


def sample_phase(examples: list[TokenizedExample], count: int, rng: np.random.Generator,
                 ) -> list[TokenizedExample]:
    """``count`` examples: whole copies of the set, then a subsample without replacement."""
    copies, remainder = divmod(count, len(examples))
    picked = sorted(rng.choice(len(examples), size=remainder, replace=False).tolist())
    return examples * copies + [examples[index] for index in picked]


def _check_tokenizer(phase: PhaseConfig, base_fingerprint: str, *, strict: bool) -> bool:
    build_path = phase.data / REPORT_FILE
    if not build_path.is_file():
        return False
    try:
        build = json.loads(build_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"{build_path} cannot be read: {exc}") from None
    recorded = build.get("tokenizer") if isinstance(build, dict) else None
    if not isinstance(recorded, str):
        return False
    if recorded[:FINGERPRINT_CHARS] != base_fingerprint:
        if not strict:
            return False
        raise DatasetError(
            f"phase {phase.name!r}: {phase.data} was built with another tokenizer "
            f"(fingerprint {recorded[:FINGERPRINT_CHARS]}, the base model's is {base_fingerprint})",
            hint="Rebuild it with `iisearch finetune data build --tokenizer <base>`, or set "
                 "train.check_tokenizer = false if both tokenizers are known to be the same.")
    return True


def _read(path: Path, vocab_size: int | None) -> list[TokenizedExample]:
    return list(read_dataset(path, vocab_size=vocab_size)) if path.is_file() else []


def mix_phases(phases: tuple[PhaseConfig, ...] | list[PhaseConfig], *, base_dir: Path,
               vocab_size: int | None, max_length: int, seed: int,
               check_tokenizer: bool = True) -> MixedData:
    """Read every phase, drop too-long examples, and mix the training sets by proportion."""
    base_fingerprint = tokenizer_fingerprint(base_dir)
    kept_train: list[list[TokenizedExample]] = []
    valid: list[TokenizedExample] = []
    partial: list[dict] = []
    for phase in phases:
        if not phase.data.is_dir():
            raise DatasetError(f"phase {phase.name!r}: the dataset folder {phase.data} does not exist",
                               hint="Build it with `iisearch finetune data build`.")
        if not (phase.data / TRAIN_FILE).is_file():
            raise DatasetError(f"phase {phase.name!r}: {phase.data} has no {TRAIN_FILE}")
        checked = _check_tokenizer(phase, base_fingerprint, strict=check_tokenizer)
        train, dropped = drop_too_long(_read(phase.data / TRAIN_FILE, vocab_size), max_length)
        phase_valid, valid_dropped = drop_too_long(_read(phase.data / VALID_FILE, vocab_size), max_length)
        if not train:
            raise DatasetError(f"phase {phase.name!r}: no training example fits max_length {max_length}"
                               f" ({dropped} dropped as too long)" if dropped else
                               f"phase {phase.name!r}: {phase.data / TRAIN_FILE} is empty",
                               hint="Raise train.max_length or rebuild the dataset.")
        valid_sha256 = file_sha256(phase.data / VALID_FILE) if (phase.data / VALID_FILE).is_file() else ""
        digest = hashlib.sha256((file_sha256(phase.data / TRAIN_FILE) + valid_sha256).encode()).hexdigest()
        kept_train.append(train)
        valid.extend(phase_valid)
        partial.append(dict(name=phase.name, available=len(train), dropped_too_long=dropped,
                            valid=len(phase_valid), valid_dropped_too_long=valid_dropped,
                            tokenizer_checked=checked, data_sha256=digest))

    counts = mix_counts([len(train) for train in kept_train], [phase.proportion for phase in phases])
    mixed: list[TokenizedExample] = []
    reports: list[PhaseReport] = []
    for index, (train, count, info) in enumerate(zip(kept_train, counts, partial)):
        mixed.extend(sample_phase(train, count, np.random.default_rng([seed, index])))
        reports.append(PhaseReport(used=count, repeated=max(0, count - len(train)), **info))
    return MixedData(train=mixed, valid=valid, phases=reports)
