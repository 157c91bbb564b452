"""Turn a model name or a local path into files a backend can load.

* An existing local file or folder is used as is. Its spec is recognised by name when it looks
  like a registry model (``II-Search-CIR-4B.Q8_0.gguf``); otherwise it has none.
* A registry name resolves to weights already in the cache: the GGUF file of ``model.quant``
  for the llama backend, the MLX folder of ``model.mlx_quant`` for the mlx backend. With
  ``auto`` the platform's backend decides which format to prefer; the other format is used when
  only that one is downloaded. Nothing is downloaded here: a missing model is an error that
  names the exact ``iisearch models pull`` command.

The protocol is ``model.protocol`` when set, else the registry's, else guessed from the local
name ("cir" when ``CIR`` appears in it as a word, "tools" otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..backends import registry as backend_registry
from ..backends.base import LoadOptions
from ..config import Config
from ..errors import UserFacingError
from .cache import gguf_path, is_complete_gguf, is_complete_mlx, mlx_dir
from .registry import (
    Format,
    ModelSpec,
    Protocol,
    UnknownModelError,
    effective_protocol,
    find_spec,
    model_names,
    pull_command,
    spec_for_local_path,
    spec_with_config,
)


class ModelNotDownloadedError(UserFacingError):
    """A registry model whose weights are not in the cache yet."""


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to hand to a backend."""

    path: Path
    name: str
    spec: ModelSpec | None = None
    protocol: Protocol = "tools"
    fmt: Format | None = None  # None for a local path the registry does not know
    quant: str | None = None


def _looks_like_path(text: str) -> bool:
    return any(sep in text for sep in ("/", "\\")) or text.startswith(("~", ".")) \
        or text.lower().endswith(".gguf")


def preferred_format(backend: str) -> Format:
    """The weights format a backend setting wants: MLX for mlx (and auto on Apple Silicon)."""
    return _formats_to_try(backend)[0]


def _formats_to_try(backend: str) -> tuple[Format, ...]:
    if backend == "mlx":
        return ("mlx",)
    if backend == backend_registry.AUTO:
        preferred = backend_registry.platform_default()
        return ("mlx", "gguf") if preferred == "mlx" else ("gguf", "mlx")
    return ("gguf",)  # llama, and third-party backends, load GGUF files


def resolve_model(name_or_path: str, *, backend: str, config: Config) -> ResolvedModel:
    """Find the weights for ``name_or_path`` (local path or registry name) for ``backend``."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        spec = spec_for_local_path(path)
        return ResolvedModel(path=path, name=path.stem, spec=spec,
                             protocol=effective_protocol(config, spec, path))
    spec = find_spec(name_or_path)
    if spec is None:
        if _looks_like_path(name_or_path):
            raise UserFacingError(f"model {name_or_path!r} is not a local file or folder",
                                  hint="Check the path, or use a model name from "
                                       "`iisearch models list`.")
        raise UnknownModelError(f"model {name_or_path!r} is not a local file or folder, "
                                "nor a known model name",
                                hint=f"Known models: {', '.join(model_names())}. Or pass a "
                                     "local .gguf file or MLX folder.")
    spec = spec_with_config(spec, config)
    protocol = effective_protocol(config, spec, None)
    formats = _formats_to_try(backend)
    for fmt in formats:
        quant = _configured_quant(spec, fmt, config)
        if fmt == "gguf" and is_complete_gguf(target := gguf_path(spec, quant)):
            return ResolvedModel(path=target, name=spec.name, spec=spec, protocol=protocol,
                                 fmt=fmt, quant=quant)
        if fmt == "mlx" and is_complete_mlx(target := mlx_dir(spec, quant)):
            return ResolvedModel(path=target, name=spec.name, spec=spec, protocol=protocol,
                                 fmt=fmt, quant=quant)
    wanted = formats[0]
    quant = _configured_quant(spec, wanted, config)
    kind = "GGUF" if wanted == "gguf" else "MLX"
    raise ModelNotDownloadedError(
        f"{spec.name} ({kind} {quant}) is not downloaded yet",
        hint=f"Run `{pull_command(spec.name, wanted, quant)}`, or pass a local .gguf file or "
             "MLX folder instead of the name.")


def _configured_quant(spec: ModelSpec, fmt: Format, config: Config) -> str:
    key = "model.quant" if fmt == "gguf" else "model.mlx_quant"
    default = "Q4_K_M" if fmt == "gguf" else "4bit"
    return spec.normalize_quant(str(config.values.get(key) or default), fmt)


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
        extra={"max_cache_tokens": config.get("mlx.max_cache_tokens"),
               "openai": config.section("openai")},
    )
