"""Shared pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_models():
    """Tiny random Qwen3 models (HF bf16, GGUF f16 / Q8_0, MLX 4-bit), built once and cached on disk.

    See ``iisearch_local.testing.fixtures``; the first build takes ~20 s, later sessions reuse it.
    """
    from iisearch_local.testing.fixtures import ensure_tiny_models

    return ensure_tiny_models()
