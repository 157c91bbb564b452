"""Export GGUF files and MLX folders into LM Studio's models directory.

LM Studio lists models two folders deep: ``<models-dir>/<publisher>/<model>/<files>``; files at
the root of the models directory (or one level down) are not picked up. We place

* GGUF files as ``<publisher>/<name>-GGUF/<name>-<quant>.gguf``;
* MLX folders as ``<publisher>/<name>-MLX-<bits>bit/``;

and write a short ``README.md`` model card with the registry's sampling and stop strings.

Where the models directory is (first hit wins): ``--models-dir``; ``$IISEARCH_LMSTUDIO_MODELS_DIR``;
the ``downloadsFolder`` of LM Studio's ``settings.json`` (in its home folder, then in the app's
config folder); ``<home>/models``. The home folder is the one named by ``~/.lmstudio-home-pointer``,
else ``~/.lmstudio``, else the older ``~/.cache/lm-studio``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import ConversionError
from .outputs import MLX_MARKER_FILE

MODELS_DIR_ENV = "IISEARCH_LMSTUDIO_MODELS_DIR"
HOME_POINTER_FILE = ".lmstudio-home-pointer"
DEFAULT_HOMES = (".lmstudio", ".cache/lm-studio")
SETTINGS_FILE = "settings.json"
SETTINGS_KEY = "downloadsFolder"
CARD_FILE = "README.md"
LOCAL_PUBLISHER = "local"

LinkMode = Literal["copy", "hardlink", "symlink"]
# Quantization spelled in a file name: "Name.Q4_K_M.gguf", "Name-q8_0.gguf", "Name.f16.gguf".
_GGUF_QUANT = re.compile(r"[.-]((?:I?Q\d[A-Z0-9_]*)|F16|BF16|F32)\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class ExportItem:
    """One file to place: where from, where to, and what is done (or would be, in a dry run)."""

    source: Path | None  # None for the generated model card
    destination: Path
    action: str  # "copy", "hardlink", "symlink", "kept" (already there) or "card"


def _app_settings_files() -> list[Path]:
    """LM Studio's settings.json in the app's own config folder (older releases keep it there)."""
    home = Path.home()
    if sys.platform == "darwin":
        return [home / "Library" / "Application Support" / "LM Studio" / SETTINGS_FILE]
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        return [Path(appdata) / "LM Studio" / SETTINGS_FILE] if appdata else []
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return [config_home / "LM Studio" / SETTINGS_FILE]


def lmstudio_home() -> Path | None:
    """LM Studio's home folder, or None when LM Studio never ran for this user."""
    home = Path.home()
    pointer = home / HOME_POINTER_FILE
    if pointer.is_file():
        lines = pointer.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        if lines and Path(lines[0].strip()).expanduser().is_dir():
            return Path(lines[0].strip()).expanduser()
    for name in DEFAULT_HOMES:
        if (home / name).is_dir():
            return home / name
    return None


def _downloads_folder(settings_path: Path) -> Path | None:
    try:
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = settings.get(SETTINGS_KEY) if isinstance(settings, dict) else None
    return Path(value).expanduser() if isinstance(value, str) and value.strip() else None


def find_models_dir(explicit: Path | None = None) -> Path:
    """Where LM Studio keeps its models (see the module docstring for the order)."""
    if explicit is not None:
        return Path(explicit).expanduser()
    if os.environ.get(MODELS_DIR_ENV):
        return Path(os.environ[MODELS_DIR_ENV]).expanduser()
    home = lmstudio_home()
    settings_files = ([home / SETTINGS_FILE] if home else []) + _app_settings_files()
    for settings_path in settings_files:
        folder = _downloads_folder(settings_path)
        if folder is not None:
            return folder
    if home is not None:
        return home / "models"
    raise ConversionError("LM Studio's models folder was not found (LM Studio has not run for this user?)",
                          hint=f"Pass --models-dir or set {MODELS_DIR_ENV}.")


@dataclass(frozen=True)
class ModelIdentity:
    """How an exported model is named and described."""

    publisher: str
    name: str
    spec: object | None  # the registry ModelSpec, when the model is a known one


def identify(path: Path, *, publisher: str | None, name: str | None) -> ModelIdentity:
    """Publisher and name from the options, else from the registry, else from the file name."""
    from ..models.registry import spec_for_local_path

    spec = spec_for_local_path(path)
    guessed = spec.name if spec is not None else _strip_quant(path)
    default_publisher = spec.source_repo.split("/")[0] if spec is not None else LOCAL_PUBLISHER
    identity = ModelIdentity(publisher or default_publisher, name or guessed, spec)
    for part in (identity.publisher, identity.name):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", part) or ".." in part:
            raise ConversionError(f"{part!r} cannot be a folder name in LM Studio's models directory",
                                  hint="Pass --publisher / --name with letters, digits, '.', '_' or '-'.")
    return identity


def _strip_quant(path: Path) -> str:
    if path.suffix == ".gguf":
        return _GGUF_QUANT.sub("", path.name).removesuffix(".gguf")
    return re.sub(r"-MLX-\d+bit$|-\d+bit$", "", path.name)


def gguf_quant(path: Path) -> str:
    """The quantization of a GGUF file: from its name, else from its metadata."""
    match = _GGUF_QUANT.search(path.name)
    if match:
        text = match.group(1).upper()
        return text if text.startswith(("Q", "IQ")) else text.lower()  # f16 / bf16 as in the registry
    from .verify import gguf_kind

    kind = gguf_kind(path)
    return kind if kind.startswith(("Q", "IQ")) else kind.lower()


def mlx_bits(folder: Path) -> int:
    """Bits per weight of an MLX folder (from config.json); 16 when unquantized."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{folder / 'config.json'} is missing or unreadable",
                              hint="Pass a .gguf file, an MLX folder or a folder holding them.") from exc
    quantization = config.get("quantization") or {}
    return int(quantization.get("bits", 16)) if isinstance(quantization, dict) else 16


def collect_models(path: Path) -> tuple[list[Path], list[Path]]:
    """(GGUF files, MLX folders) named by ``path``: a file, an MLX folder, or a folder holding them."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".gguf":
            raise ConversionError(f"{path} is not a .gguf file")
        return [path], []
    if not path.is_dir():
        raise ConversionError(f"{path} does not exist")
    if (path / "config.json").is_file():
        if not any(path.glob("*.safetensors")):
            raise ConversionError(f"{path} has a config.json but no weights")
        return [], [path]
    ggufs = sorted(item for item in path.glob("*.gguf") if item.is_file())
    mlx = sorted(item for item in path.iterdir() if item.is_dir() and (item / "config.json").is_file()
                 and not item.name.startswith("."))
    if not ggufs and not mlx:
        raise ConversionError(f"{path} holds no .gguf file and no MLX folder",
                              hint="Run `iisearch convert gguf` or `iisearch convert mlx` first.")
    return ggufs, mlx


@dataclass(frozen=True)
class ExportPlan:
    """The model's identity and every file to place for it."""

    identity: ModelIdentity
    items: list[ExportItem]


def plan_export(path: Path, models_dir: Path, *, mode: LinkMode = "copy", publisher: str | None = None,
                name: str | None = None) -> ExportPlan:
    """Every file to place (and the model cards) for exporting ``path``; touches nothing."""
    ggufs, mlx_folders = collect_models(path)
    # Name the model after its first file (a folder of outputs may be called anything).
    identity = identify((ggufs or mlx_folders)[0], publisher=publisher, name=name)
    publisher_dir = Path(models_dir) / identity.publisher
    items: list[ExportItem] = []
    if ggufs:
        folder = publisher_dir / f"{identity.name}-GGUF"
        for source in ggufs:
            items.append(_item(source, folder / f"{identity.name}-{gguf_quant(source)}.gguf", mode))
        items.append(ExportItem(None, folder / CARD_FILE, "card"))
    for source_folder in mlx_folders:
        folder = publisher_dir / f"{identity.name}-MLX-{mlx_bits(source_folder)}bit"
        for source in sorted(source_folder.iterdir()):
            if source.is_file() and source.name not in (MLX_MARKER_FILE, CARD_FILE):
                items.append(_item(source, folder / source.name, mode))
        items.append(ExportItem(None, folder / CARD_FILE, "card"))
    destinations = [item.destination for item in items]
    if len(set(destinations)) != len(destinations):
        duplicate = next(d for d in destinations if destinations.count(d) > 1)
        raise ConversionError(f"two inputs would both become {duplicate}",
                              hint="Export them one at a time, or give them different quantizations.")
    return ExportPlan(identity, items)


def _item(source: Path, destination: Path, mode: LinkMode) -> ExportItem:
    """Keep a destination that already is this file (a link), or an identical copy of it.

    Copies keep the source's mtime (``copy2``), so size + mtime tell a stale copy from a fresh one:
    a re-quantized model has exactly the same size as the one it replaces.
    """
    if destination.is_file():
        if os.path.samefile(destination, source):
            return ExportItem(source, destination, "kept")
        mine, theirs = destination.stat(), source.stat()
        if mode == "copy" and mine.st_size == theirs.st_size and mine.st_mtime_ns == theirs.st_mtime_ns:
            return ExportItem(source, destination, "kept")
    return ExportItem(source, destination, mode)


def export_model(path: Path, models_dir: Path, *, mode: LinkMode = "copy", publisher: str | None = None,
                 name: str | None = None, dry_run: bool = False) -> list[ExportItem]:
    """Place ``path``'s models in LM Studio's layout under ``models_dir``; returns what was done."""
    plan = plan_export(path, models_dir, mode=mode, publisher=publisher, name=name)
    if dry_run:
        return plan.items
    for item in plan.items:
        item.destination.parent.mkdir(parents=True, exist_ok=True)
        if item.action == "card":
            _write_atomically(item.destination, model_card(plan.identity, item.destination.parent.name))
        elif item.action != "kept":
            _place(item.source, item.destination, item.action)
    return plan.items


def _write_atomically(destination: Path, text: str) -> None:
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, destination)


def _place(source: Path, destination: Path, action: str) -> None:
    """Copy or link one file under a temporary name, then rename it over ``destination``."""
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        if action == "copy":
            shutil.copy2(source, partial)
        elif action == "hardlink":
            os.link(source.resolve(), partial)  # link the file itself, not a symlink to it
        else:
            os.symlink(source.resolve(), partial)
        os.replace(partial, destination)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        hint = ("Hard links need the models folder on the same disk; use --copy or --symlink."
                if action == "hardlink" else "Check free disk space and permissions.")
        raise ConversionError(f"cannot {action} {source} to {destination}: {exc.strerror or exc}", hint=hint) from exc


def model_card(identity: ModelIdentity, folder_name: str) -> str:
    """A short README.md: what the model is, how to sample it, where generation must stop."""
    from ..models.registry import SamplingDefaults

    spec = identity.spec
    sampling = spec.sampling if spec is not None else SamplingDefaults()
    lines = [f"# {folder_name}", ""]
    if spec is not None:
        lines += [spec.description, "", f"- Source: https://huggingface.co/{spec.source_repo}",
                  f"- Protocol: `{spec.protocol}`",
                  f"- Context: {spec.native_context} tokens; about {spec.extended_context} with YaRN "
                  f"rope scaling x{spec.yarn_factor:g}"]
    else:
        lines += [f"A local conversion of `{identity.name}` (not a model iisearch-local knows by name; "
                  "the settings below are the Qwen3 defaults)."]
    lines += ["", "## Recommended settings", "", "| setting | value |", "|---|---|"]
    for field in ("temperature", "top_p", "top_k", "repetition_penalty"):
        note = " (unverified)" if field in sampling.unverified else ""
        lines.append(f"| {field} | {getattr(sampling, field)}{note} |")
    stops = spec.stop if spec is not None else ("<|im_end|>",)
    lines += ["", "Stop strings: " + ", ".join(f"`{stop}`" for stop in stops), "",
              "The embedded chat template keeps earlier `<think>` reasoning in the history, as the model "
              "was trained; keep it when you edit the prompt template.", "",
              "Exported by `iisearch export lmstudio` (iisearch-local, Apache-2.0).", ""]
    return "\n".join(lines)
