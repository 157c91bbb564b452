"""Model backends: llama.cpp and MLX behind one ``Backend`` protocol."""

from .base import (
    Backend,
    BackendError,
    BackendUnavailableError,
    ContextOverflowError,
    Generation,
    GenerationOptions,
    GenerationResult,
    LoadOptions,
    ModelLoadError,
    ModelNotFoundError,
    UnsupportedModelError,
)

__all__ = [
    "Backend",
    "BackendError",
    "BackendUnavailableError",
    "ContextOverflowError",
    "Generation",
    "GenerationOptions",
    "GenerationResult",
    "LoadOptions",
    "ModelLoadError",
    "ModelNotFoundError",
    "UnsupportedModelError",
]
