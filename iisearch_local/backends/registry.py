"""Finding, choosing and loading model backends.

Backends register under the ``iisearch_local.backends`` entry-point group (ours do too, in
pyproject.toml), so a third-party package can add one without touching this code. ``auto``
means MLX on Apple Silicon macOS and llama.cpp everywhere else; the model's format can also
decide (a ``.gguf`` file needs llama.cpp, a safetensors folder needs MLX).
"""

from __future__ import annotations

import platform
import sys
from importlib.metadata import entry_points
from pathlib import Path

from .base import Backend, BackendError, BackendUnavailableError, LoadOptions

ENTRY_POINT_GROUP = "iisearch_local.backends"
AUTO = "auto"
# Backends that run the model elsewhere: their "model" is a name the server knows, not a path.
REMOTE_BACKENDS = frozenset({"openai"})


def is_remote(name: str | None) -> bool:
    """True for a backend whose model lives on a server (no local weights to resolve)."""
    return name in REMOTE_BACKENDS


def available_backends() -> dict[str, str]:
    """Names of the registered backends mapped to their ``module:attr`` targets."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def is_apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


def platform_default() -> str:
    return "mlx" if is_apple_silicon() else "llama"


def backend_for_path(path: Path) -> str | None:
    """The backend a model's format requires, or None when either could run it."""
    if path.is_file() and path.suffix == ".gguf":
        return "llama"
    if path.is_dir() and any(path.glob("*.safetensors")):
        return "mlx"
    if path.is_dir() and any(path.glob("*.gguf")):
        return "llama"
    return None


def choose_backend(requested: str, model_path: Path | None = None) -> str:
    """Resolve ``auto`` (or check a forced name) for a given model."""
    names = available_backends()
    if is_remote(requested) and requested in names:
        return requested  # the model is a server-side name: no file format to check
    needed = backend_for_path(model_path) if model_path is not None else None
    if requested != AUTO:
        if requested not in names:
            raise BackendError(f"unknown backend {requested!r}",
                               hint=f"Installed backends: {', '.join(sorted(names)) or 'none'}.")
        if needed is not None and needed != requested:
            raise BackendError(
                f"{model_path} is a {'GGUF file' if needed == 'llama' else 'MLX/safetensors folder'}"
                f" and needs the {needed!r} backend, not {requested!r}")
        return requested
    return needed or platform_default()


def load_backend(name: str, model_path: Path, options: LoadOptions = LoadOptions()) -> Backend:
    """Import the named backend and load ``model_path`` with it."""
    name = choose_backend(name, model_path)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                factory = ep.load()
            except ImportError as exc:
                raise BackendUnavailableError(
                    f"the {name!r} backend is not installed ({exc.name or exc})",
                    hint=f"Install it with: pip install 'iisearch-local[{name}]'") from None
            return factory(model_path, options)
    raise BackendError(f"unknown backend {name!r}")
