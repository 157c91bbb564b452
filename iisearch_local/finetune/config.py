"""The TOML config of ``iisearch finetune train CONFIG``: typed, checked, with recipe defaults.

Layout (every key optional except ``model.base`` and the phases)::

    out = "adapters"                 # adapters + checkpoints folder (relative to this file)

    [model]
    base = "../models/II-Search-4B"  # an MLX or Hugging Face model folder

    [train]
    fine_tune_type = "lora"          # "lora", "dora" or "full"
    learning_rate = 1e-5
    epochs = 4
    iters = 0                        # optimizer steps; 0 = derived from epochs
    max_length = 26000               # longer examples are dropped and counted, never truncated
    num_layers = -1                  # how many of the last layers to train; -1 = all
    batch_size = 1                   # examples per forward pass
    grad_accumulation = 8            # forward passes per optimizer step
    ...

    [lora]
    rank = 8
    scale = 20.0
    dropout = 0.0

    [[phases]]
    name = "phase1"
    data = "data/phase1"             # a folder made by `iisearch finetune data build`
    proportion = 0.5

One *step* is one optimizer update over ``batch_size * grad_accumulation`` examples. The recipe's
batch of 128 is that product: ``batch_size = 1`` and ``grad_accumulation = 128`` reproduce it
with the memory of a single example; the default 1 x 8 suits a laptop.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

FINE_TUNE_TYPES = ("lora", "dora", "full")
OPTIMIZERS = ("adam", "adamw")
TOP_LEVEL_KEYS = ("out", "model", "train", "lora", "phases")
PATH_KEYS = ("out", "model.base")


@dataclass(frozen=True)
class TrainSettings:
    """The ``[train]`` table. Defaults follow the II-Search CIR SFT recipe where it says."""

    fine_tune_type: str = "lora"
    learning_rate: float = 1e-5
    epochs: float = 4.0
    iters: int = 0  # optimizer steps to run in total; 0 = ceil(epochs * batches / grad_accumulation)
    max_length: int = 26000
    num_layers: int = -1
    batch_size: int = 1
    grad_accumulation: int = 8
    grad_checkpoint: bool = True
    optimizer: str = "adam"
    weight_decay: float = 0.01  # adamw only
    seed: int = 0
    steps_per_report: int = 10
    steps_per_eval: int = 200  # 0 = validate only at the end
    val_batches: int = 25  # -1 = the whole validation set
    save_every: int = 100  # steps between checkpoints (and one at the end)
    keep_checkpoints: int = 3  # newest checkpoints kept; 0 = keep all
    check_tokenizer: bool = True  # refuse datasets whose build.json names another tokenizer


@dataclass(frozen=True)
class LoraSettings:
    """The ``[lora]`` table (also used by DoRA): mlx-lm's ``lora_parameters``."""

    rank: int = 8
    scale: float = 20.0
    dropout: float = 0.0


@dataclass(frozen=True)
class PhaseConfig:
    """One ``[[phases]]`` entry: a built dataset folder and its share of the mix."""

    name: str
    data: Path
    proportion: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    """A whole, checked training config with absolute paths."""

    base: Path
    out: Path
    phases: tuple[PhaseConfig, ...]
    train: TrainSettings = field(default_factory=TrainSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)
    source: Path | None = None  # the config file, when read from one

    def lora_parameters(self) -> dict[str, float | int]:
        """The ``lora_parameters`` dict mlx-lm's ``linear_to_lora_layers`` takes."""
        return {"rank": self.lora.rank, "scale": self.lora.scale, "dropout": self.lora.dropout}


def load_train_config(path: str | os.PathLike[str], *, overrides: list[str] | tuple[str, ...] = ()
                      ) -> TrainConfig:
    """Read a config file, apply ``section.key=value`` overrides, check every value."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the training config {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for item in overrides:
        _apply_override(data, item)
    return parse_train_config(data, base_dir=path.resolve().parent, source=path.resolve())


def parse_train_config(data: dict[str, Any], *, base_dir: Path, source: Path | None = None) -> TrainConfig:
    """Build a ``TrainConfig`` from parsed TOML; relative paths resolve against ``base_dir``."""
    where = str(source) if source else "config"
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}", hint=f"Known keys: {', '.join(TOP_LEVEL_KEYS)}.")
    model = _table(data, "model", where)
    unknown = set(model) - {"base"}
    if unknown:
        raise ConfigError(f"{where}: unknown key 'model.{sorted(unknown)[0]}'", hint="[model] has only 'base'.")
    if not isinstance(model.get("base"), str) or not model["base"]:
        raise ConfigError(f"{where}: model.base must name the model folder to train")
    out = data.get("out", "adapters")
    if not isinstance(out, str) or not out:
        raise ConfigError(f"{where}: out must be a folder path (a string)")
    train = _dataclass_from(TrainSettings, _table(data, "train", where), "train", where)
    lora = _dataclass_from(LoraSettings, _table(data, "lora", where), "lora", where)
    config = TrainConfig(base=_resolve(model["base"], base_dir), out=_resolve(out, base_dir),
                         phases=_phases(data.get("phases"), base_dir, where), train=train, lora=lora,
                         source=source)
    check_values(config, where)
    return config


def _table(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: {name} must be a table ([{name}])")
    return table


def _resolve(raw: str, base_dir: Path) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (base_dir / path).resolve()


def _dataclass_from(cls: type, table: dict[str, Any], section: str, where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown key '{section}.{key}'",
                              hint=f"Known keys of [{section}]: {', '.join(fields)}.")
        values[key] = _typed(value, type(fields[key].default), f"{section}.{key}", where)
    return cls(**values)


def _typed(value: Any, like: type, key: str, where: str) -> Any:
    if like is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not like:
        raise ConfigError(f"{where}: {key} must be {like.__name__}, got {value!r}")
    if like is float and not math.isfinite(value):
        raise ConfigError(f"{where}: {key} must be a finite number, got {value!r}")
    return value


def _phases(raw: Any, base_dir: Path, where: str) -> tuple[PhaseConfig, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: no [[phases]]", hint="Add at least one [[phases]] table with "
                          "name, data (a folder from `iisearch finetune data build`) and proportion.")
    phases: list[PhaseConfig] = []
    for index, entry in enumerate(raw):
        label = f"phases[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: {label} must be a table")
        unknown = set(entry) - {"name", "data", "proportion"}
        if unknown:
            raise ConfigError(f"{where}: unknown key '{label}.{sorted(unknown)[0]}'",
                              hint="A phase has name, data and proportion.")
        name = entry.get("name", f"phase{index + 1}")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: {label}.name must be a non-empty string")
        data = entry.get("data")
        if not isinstance(data, str) or not data:
            raise ConfigError(f"{where}: {label}.data must name a dataset folder")
        proportion = _typed(entry.get("proportion", 1.0), float, f"{label}.proportion", where)
        if proportion <= 0:
            raise ConfigError(f"{where}: {label}.proportion must be > 0, got {proportion}")
        phases.append(PhaseConfig(name=name, data=_resolve(data, base_dir), proportion=proportion))
    names = [phase.name for phase in phases]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate:
        raise ConfigError(f"{where}: two phases are named {duplicate!r}")
    return tuple(phases)


# (key, check, what it must be): each a plain rule so the error can name the key.
_RULES: tuple[tuple[str, Any, str], ...] = (
    ("train.fine_tune_type", lambda v: v in FINE_TUNE_TYPES, f"one of {', '.join(FINE_TUNE_TYPES)}"),
    ("train.optimizer", lambda v: v in OPTIMIZERS, f"one of {', '.join(OPTIMIZERS)}"),
    ("train.learning_rate", lambda v: v > 0, "> 0"),
    ("train.epochs", lambda v: v > 0, "> 0"),
    ("train.iters", lambda v: v >= 0, ">= 0 (0 = from epochs)"),
    ("train.max_length", lambda v: v >= 2, ">= 2"),
    ("train.num_layers", lambda v: v == -1 or v >= 1, "-1 (all) or >= 1"),
    ("train.batch_size", lambda v: v >= 1, ">= 1"),
    ("train.grad_accumulation", lambda v: v >= 1, ">= 1"),
    ("train.weight_decay", lambda v: v >= 0, ">= 0"),
    ("train.steps_per_report", lambda v: v >= 1, ">= 1"),
    ("train.steps_per_eval", lambda v: v >= 0, ">= 0 (0 = only at the end)"),
    ("train.val_batches", lambda v: v == -1 or v >= 1, "-1 (all) or >= 1"),
    ("train.save_every", lambda v: v >= 1, ">= 1"),
    ("train.keep_checkpoints", lambda v: v >= 0, ">= 0 (0 = keep all)"),
    ("lora.rank", lambda v: v >= 1, ">= 1"),
    ("lora.scale", lambda v: v > 0, "> 0"),
    ("lora.dropout", lambda v: 0 <= v < 1, "in [0, 1)"),
)


def check_values(config: TrainConfig, where: str = "config") -> None:
    """Raise a ConfigError naming the first key whose value is out of range."""
    for key, ok, expected in _RULES:
        section, name = key.split(".")
        value = getattr(getattr(config, section), name)
        if not ok(value):
            raise ConfigError(f"{where}: {key} must be {expected}, got {value!r}")


def _apply_override(data: dict[str, Any], item: str) -> None:
    """Apply one ``--set section.key=value`` (a TOML value; a bare word counts as a string)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects section.key=value, got {item!r}")
    parts = key.split(".")
    if len(parts) > 2 or parts[0] == "phases":
        raise ConfigError(f"--set {key}: only out, model.*, train.* and lora.* can be overridden",
                          hint="Edit the [[phases]] tables in the config file.")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # paths and words need no quotes on the command line
    if key in PATH_KEYS and isinstance(value, str) and value:
        value = str(Path(value).expanduser().resolve())  # a path typed on the command line is cwd-relative
    if len(parts) == 1:
        data[key] = value
        return
    table = data.setdefault(parts[0], {})
    if not isinstance(table, dict):
        raise ConfigError(f"--set {key}: {parts[0]} is not a table")
    table[parts[1]] = value
