"""Where downloaded weights live, and which of them are complete.

Layout under ``user_dirs().models``: one folder per hub repository, named ``owner--name``.
A GGUF quantization is one file in its repository's folder; it only gets its final name once
the download finished and verified (until then it is ``<file>.part``). An MLX conversion is a
whole folder, which counts as installed only once ``COMPLETE_MARKER`` has been written after
its last file arrived.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..paths import user_dirs
from .registry import QUANT_PLACEHOLDER, ModelSpec

COMPLETE_MARKER = ".iisearch-complete.json"
PART_SUFFIX = ".part"


def models_root() -> Path:
    """The folder all downloaded models go to."""
    return user_dirs().models


def repo_dir(repo_id: str) -> Path:
    """Local folder of one hub repository (``owner/name`` -> ``owner--name``)."""
    return models_root() / repo_id.replace("/", "--")


def gguf_path(spec: ModelSpec, quant: str) -> Path:
    """Where the GGUF file of ``quant`` is (or will be) stored."""
    return repo_dir(spec.gguf_repo) / spec.gguf_filename(quant)


def mlx_dir(spec: ModelSpec, quant: str) -> Path:
    """Where the MLX folder of ``quant`` is (or will be) stored."""
    return repo_dir(spec.mlx_repo_for(quant))


def is_complete_gguf(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def is_complete_mlx(folder: Path) -> bool:
    return (folder / COMPLETE_MARKER).is_file()


def write_complete_marker(folder: Path, info: dict[str, Any]) -> None:
    """Mark an MLX folder complete (written last, so a crash never leaves a false marker)."""
    tmp = folder / (COMPLETE_MARKER + ".tmp")
    tmp.write_text(json.dumps(info, indent=2, sort_keys=True), "utf-8")
    tmp.replace(folder / COMPLETE_MARKER)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    head, _, tail = pattern.partition(QUANT_PLACEHOLDER)
    return re.compile(re.escape(head) + r"(?P<quant>[A-Za-z0-9._-]+?)" + re.escape(tail))


def _order(found: set[str], known: tuple[str, ...]) -> list[str]:
    """Known quantizations in registry order first, then any others alphabetically."""
    return [q for q in known if q in found] + sorted(found - set(known))


def installed_gguf_quants(spec: ModelSpec) -> list[str]:
    """Quantizations of ``spec`` whose GGUF file is fully downloaded."""
    folder = repo_dir(spec.gguf_repo)
    if QUANT_PLACEHOLDER not in spec.gguf_file or not folder.is_dir():
        return []
    regex = _pattern_regex(spec.gguf_file)
    found: set[str] = set()
    for path in folder.rglob("*.gguf"):
        match = regex.fullmatch(path.relative_to(folder).as_posix())
        if match and is_complete_gguf(path):
            found.add(match["quant"])
    return _order(found, spec.gguf_quants)


def installed_mlx_quants(spec: ModelSpec) -> list[str]:
    """Precisions of ``spec`` whose MLX folder is complete."""
    root = models_root()
    if QUANT_PLACEHOLDER not in spec.mlx_repo or not root.is_dir():
        return []
    regex = _pattern_regex(spec.mlx_repo.replace("/", "--"))
    found = {match["quant"] for child in root.iterdir()
             if (match := regex.fullmatch(child.name)) and is_complete_mlx(child)}
    return _order(found, spec.mlx_quants)
