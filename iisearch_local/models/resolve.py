"""Turn a model name or a local path into files a backend can load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..backends.base import LoadOptions
from ..config import Config
from ..errors import UserFacingError


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    name: str


def resolve_model(name_or_path: str, *, backend: str, config: Config) -> ResolvedModel:
    """A local file or folder is used as is; registry names are looked up in the cache."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return ResolvedModel(path=path, name=path.stem)
    raise UserFacingError(f"model {name_or_path!r} is not a local file or folder")


def load_options_from_config(config: Config) -> LoadOptions:
    """The backend load options that the ``[backend]``, ``[llama]`` and ``[mlx]`` settings give."""
    return LoadOptions(
        context_size=config.get("backend.context_size"),
        yarn_factor=config.get("backend.yarn_factor"),
        yarn_original_context=config.get("backend.yarn_original_context"),
        gpu_layers=config.get("llama.gpu_layers"),
        batch_size=config.get("llama.batch_size"),
        threads=config.get("llama.threads"),
        use_mmap=config.get("llama.use_mmap"),
        extra={"max_cache_tokens": config.get("mlx.max_cache_tokens")},
    )
