"""Build the tiny Qwen3 test models once and cache them on disk.

``ensure_tiny_models()`` returns the same four artefacts (Hugging Face bf16 folder, GGUF f16, GGUF
Q8_0, MLX 4-bit) for as long as the builder code and the libraries stay the same: the cache folder
name is a hash of both. A build happens in a temporary folder that is renamed into place when
complete, under a file lock, so an interrupted or concurrent build never looks finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .qwen_tokenizer import qwen2_vocab_path
from .tiny_qwen3 import build_tiny_qwen3

CACHE_ENV = "IISEARCH_FIXTURE_CACHE"
MANIFEST_FILE = "manifest.json"
LOCK_FILE = ".lock"
BUILD_PREFIX = ".build-"
KEPT_BUILDS = 3  # older cache keys (from earlier builder versions) are deleted beyond this
MLX_GROUP_SIZE = 64  # divides every tiny-model row (64, 128)
# The libraries whose output ends up in the cached files: a new version means a rebuild.
_LIBRARIES = ("numpy", "tokenizers", "gguf", "llama-cpp-python", "mlx", "mlx-lm", "transformers")
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # iisearch_local/
_BUILDER_SOURCES = (
    "testing/fixtures.py", "testing/qwen_tokenizer.py", "testing/tiny_qwen3.py",
    "templates/chat_keep_reasoning.jinja",
)
_CONVERTER_MODULES = ("gguf", "gguf_vocab", "hf_checkpoint", "safetensors_io", "templates")


@dataclass(frozen=True)
class TinyModels:
    """Paths of the cached tiny Qwen3 models (``None`` when the library to build one is missing)."""

    root: Path
    hf: Path
    gguf_f16: Path
    gguf_q8_0: Path | None
    mlx_q4: Path | None


def default_cache_dir() -> Path:
    """``$IISEARCH_FIXTURE_CACHE``, else ``<repo>/tests/.cache/tiny-models`` (or a user cache dir)."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    repo_tests = _PACKAGE_ROOT.parent / "tests"
    if repo_tests.is_dir():
        return repo_tests / ".cache" / "tiny-models"
    import platformdirs

    return Path(platformdirs.user_cache_dir("iisearch-local", appauthor=False)) / "tiny-models"


def _library_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _source_files() -> list[Path]:
    import iisearch_local.convert as convert_package

    convert_dir = Path(convert_package.__file__).resolve().parent
    return [_PACKAGE_ROOT / name for name in _BUILDER_SOURCES] + [
        convert_dir / f"{module}.py" for module in _CONVERTER_MODULES
    ]


def fixture_key() -> str:
    """Hash of the builder sources, the library versions and the reference vocabulary."""
    digest = hashlib.sha256()
    for path in _source_files():
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for name in _LIBRARIES:
        digest.update(f"{name}={_library_version(name)}\0".encode())
    vocab = qwen2_vocab_path()
    digest.update(f"{vocab.name}:{vocab.stat().st_size}".encode())
    return digest.hexdigest()[:16]


@contextmanager
def _build_lock(cache_dir: Path) -> Iterator[None]:
    """An exclusive lock on ``cache_dir/.lock``, released by the OS if the process dies."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / LOCK_FILE, "a+b") as handle:
        if sys.platform == "win32":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after ~10 s; keep waiting for the builder
                    continue
            try:
                yield
            finally:
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _models_in(root: Path, manifest: dict) -> TinyModels:
    def optional(relative: str | None) -> Path | None:
        return root / relative if relative else None

    return TinyModels(
        root=root,
        hf=root / manifest["hf"],
        gguf_f16=root / manifest["gguf_f16"],
        gguf_q8_0=optional(manifest.get("gguf_q8_0")),
        mlx_q4=optional(manifest.get("mlx_q4")),
    )


def _read_complete(root: Path) -> TinyModels | None:
    try:
        manifest = json.loads((root / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    return _models_in(root, manifest)


def build_all(workdir: Path) -> dict:
    """Build every format into ``workdir``; returns the manifest (relative paths, timings)."""
    from ..convert.gguf import convert_hf_to_gguf, quantize_gguf

    timings: dict[str, float] = {}
    started = time.perf_counter()
    build_tiny_qwen3(workdir / "hf", dtype="bfloat16")
    timings["hf"] = time.perf_counter() - started
    manifest: dict = {"hf": "hf", "gguf_f16": "tiny-qwen3-f16.gguf", "gguf_q8_0": None, "mlx_q4": None}

    started = time.perf_counter()
    convert_hf_to_gguf(workdir / "hf", workdir / manifest["gguf_f16"], out_type="f16")
    timings["gguf_f16"] = time.perf_counter() - started
    if _has_module("llama_cpp"):
        started = time.perf_counter()
        manifest["gguf_q8_0"] = "tiny-qwen3-q8_0.gguf"
        quantize_gguf(workdir / manifest["gguf_f16"], workdir / manifest["gguf_q8_0"], "Q8_0")
        timings["gguf_q8_0"] = time.perf_counter() - started
    if _has_module("mlx_lm") and _has_module("mlx"):
        from mlx_lm import convert as mlx_convert

        started = time.perf_counter()
        manifest["mlx_q4"] = "mlx-q4"
        mlx_convert(str(workdir / "hf"), mlx_path=str(workdir / manifest["mlx_q4"]), quantize=True,
                    q_bits=4, q_group_size=MLX_GROUP_SIZE)
        timings["mlx_q4"] = time.perf_counter() - started
    manifest["build_seconds"] = {name: round(seconds, 2) for name, seconds in timings.items()}
    manifest["libraries"] = {name: _library_version(name) for name in _LIBRARIES}
    return manifest


def ensure_tiny_models(cache_dir: Path | None = None) -> TinyModels:
    """The tiny Qwen3 models, built on first use and reused until the builder or libraries change."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root = cache_dir / fixture_key()
    ready = _read_complete(root)
    if ready is not None:
        return ready
    with _build_lock(cache_dir):
        ready = _read_complete(root)  # another process may have finished while we waited
        if ready is not None:
            return ready
        # Holding the lock, any leftover build folder is from an interrupted run.
        for stale in cache_dir.glob(f"{BUILD_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        if root.exists():  # a folder without a manifest is an incomplete copy
            shutil.rmtree(root)
        workdir = cache_dir / f"{BUILD_PREFIX}{root.name}-{os.getpid()}"
        workdir.mkdir()
        try:
            manifest = build_all(workdir)
            (workdir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
            os.replace(workdir, root)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        _prune_old_builds(cache_dir, keep=root)
    return _models_in(root, manifest)


def _prune_old_builds(cache_dir: Path, *, keep: Path) -> None:
    """Delete all but the newest ``KEPT_BUILDS`` complete builds (each is ~90 MB)."""
    builds = [path for path in cache_dir.iterdir() if path.is_dir() and (path / MANIFEST_FILE).is_file()]
    builds.sort(key=lambda path: (path == keep, path.stat().st_mtime), reverse=True)
    for old in builds[KEPT_BUILDS:]:
        shutil.rmtree(old, ignore_errors=True)
