"""Completion markers for conversion outputs, so a re-run skips work that is already done.

Every finished output gets a small JSON marker describing what it was made from:

* a GGUF file ``X.gguf`` gets ``X.gguf.convert.json`` next to it;
* an MLX folder gets ``convert.json`` inside it (written before the folder is renamed into place).

An output counts as done only when its marker names the same source fingerprint, kind and chat
template as the run asking, the recorded size matches the file on disk, and (for GGUF) the file
starts with a valid GGUF header. Outputs are always written under a temporary name and renamed,
so an interrupted run leaves either nothing or a file without a marker; both are redone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .hf_checkpoint import CONFIG_FILE, weight_files

GGUF_MARKER_SUFFIX = ".convert.json"
MLX_MARKER_FILE = "convert.json"
#: Bumped whenever the converters change in a way that makes old outputs stale.
CONVERTER_VERSION = 1
GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)
_HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class OutputRecipe:
    """What an output is made from; two runs with equal recipes produce equivalent files."""

    source: str  # fingerprint of the Hugging Face checkpoint
    kind: str  # "f16", "Q4_K_M", "mlx-4bit"...
    chat_template_sha256: str

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "kind": self.kind, "chat_template_sha256": self.chat_template_sha256,
                "converter_version": CONVERTER_VERSION}


def source_fingerprint(src: Path, *, mtimes: bool = True) -> str:
    """Hash of ``config.json`` and the name, size and (with ``mtimes``) mtime of every weight file.

    Cheap (no weight bytes are read) yet changes whenever a shard is replaced or edited. Without
    ``mtimes`` a copied model folder keeps its fingerprint (what a resumed training run checks).
    """
    src = Path(src)
    digest = hashlib.sha256((src / CONFIG_FILE).read_bytes())
    for path in weight_files(src):
        stat = path.stat()
        digest.update(f"\0{path.name}\0{stat.st_size}".encode())
        if mtimes:
            digest.update(f"\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks (adapters of a full fine-tune are gigabytes)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def gguf_marker_path(path: Path) -> Path:
    return path.with_name(path.name + GGUF_MARKER_SUFFIX)


def has_gguf_header(path: Path) -> bool:
    """True when ``path`` starts with the GGUF magic and a known version."""
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError:
        return False
    return len(head) == 8 and head[:4] == GGUF_MAGIC and struct.unpack("<I", head[4:])[0] in GGUF_VERSIONS


def _read_marker(path: Path) -> dict | None:
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _write_json_atomically(path: Path, payload: dict) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def gguf_is_done(path: Path, recipe: OutputRecipe) -> bool:
    """Whether ``path`` is a complete GGUF made from ``recipe`` (see the module docstring)."""
    marker = _read_marker(gguf_marker_path(path))
    if marker is None or not path.is_file():
        return False
    recorded = {key: marker.get(key) for key in recipe.as_dict()}
    return (recorded == recipe.as_dict() and marker.get("size") == path.stat().st_size
            and has_gguf_header(path))


def mark_gguf_done(path: Path, recipe: OutputRecipe) -> None:
    """Record that ``path`` (already renamed into place) is complete."""
    _write_json_atomically(gguf_marker_path(path), {**recipe.as_dict(), "size": path.stat().st_size})


def _folder_sizes(folder: Path) -> dict[str, int]:
    return {path.name: path.stat().st_size for path in sorted(folder.iterdir())
            if path.is_file() and path.name != MLX_MARKER_FILE}


def mlx_is_done(folder: Path, recipe: OutputRecipe) -> bool:
    """Whether ``folder`` is a complete MLX conversion made from ``recipe``."""
    marker = _read_marker(folder / MLX_MARKER_FILE) if folder.is_dir() else None
    if marker is None:
        return False
    recorded = {key: marker.get(key) for key in recipe.as_dict()}
    return recorded == recipe.as_dict() and marker.get("files") == _folder_sizes(folder)


def mark_mlx_done(folder: Path, recipe: OutputRecipe) -> None:
    """Write the marker into a finished (not yet renamed) MLX folder."""
    _write_json_atomically(folder / MLX_MARKER_FILE, {**recipe.as_dict(), "files": _folder_sizes(folder)})


@contextmanager
def folder_written_whole(target: Path, *, error: Callable[..., Exception], what: str) -> Iterator[Path]:
    """Yield a temporary sibling of ``target`` to fill; when the block ends it replaces ``target``.

    An older ``target`` is removed only once the new folder is whole, the temporary folder never
    survives, and an ``OSError`` becomes ``error("writing {what} failed: ...")``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        yield partial
        if target.exists():
            shutil.rmtree(target)
        os.replace(partial, target)
    except OSError as exc:
        raise error(f"writing {what} failed: {exc}",
                    hint="Check free disk space and permissions; nothing partial was kept.") from exc
    finally:
        shutil.rmtree(partial, ignore_errors=True)
