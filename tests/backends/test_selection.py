"""Choosing a backend, and load options that reach the libraries (GPU layers, YaRN)."""

from __future__ import annotations

import llama_cpp
import pytest

from iisearch_local.backends.base import BackendError, GenerationOptions, LoadOptions
from iisearch_local.backends.registry import (
    available_backends,
    choose_backend,
    load_backend,
    platform_default,
)


def test_both_backends_are_registered_as_entry_points():
    assert {"llama", "mlx"} <= set(available_backends())


def test_auto_follows_the_model_format(tiny_models):
    assert choose_backend("auto", tiny_models.gguf_q8_0) == "llama"
    assert choose_backend("auto", tiny_models.mlx_q4) == "mlx"
    assert choose_backend("auto", None) == platform_default()


def test_platform_default(monkeypatch):
    from iisearch_local.backends import registry
    monkeypatch.setattr(registry, "is_apple_silicon", lambda: True)
    assert registry.platform_default() == "mlx"
    monkeypatch.setattr(registry, "is_apple_silicon", lambda: False)
    assert registry.platform_default() == "llama"


def test_forcing_a_backend_that_cannot_read_the_format_is_refused(tiny_models):
    with pytest.raises(BackendError, match="needs the 'mlx' backend"):
        choose_backend("llama", tiny_models.mlx_q4)
    with pytest.raises(BackendError, match="unknown backend 'vllm'"):
        choose_backend("vllm", tiny_models.mlx_q4)


def test_llama_yarn_and_gpu_layers_reach_llama_cpp(tiny_models):
    model = load_backend("llama", tiny_models.gguf_q8_0,
                         LoadOptions(context_size=1024, yarn_factor=4.0, gpu_layers=-1))
    try:
        params = model._llm.context_params
        assert params.rope_scaling_type == llama_cpp.LLAMA_ROPE_SCALING_TYPE_YARN
        assert params.rope_freq_scale == pytest.approx(0.25)
        assert params.yarn_orig_ctx == 32768
        # This CPU-only build offloads nothing, whatever was asked.
        expected = -1 if llama_cpp.llama_supports_gpu_offload() else 0
        assert model._llm.model_params.n_gpu_layers == expected
        assert model.generate("Hi", GenerationOptions(max_tokens=3, temperature=0)).result
    finally:
        model.close()


def test_mlx_yarn_reaches_the_model(tiny_models):
    model = load_backend("mlx", tiny_models.mlx_q4, LoadOptions(context_size=1024, yarn_factor=4.0))
    try:
        rope = model._model.model.layers[0].self_attn.rope
        assert "yarn" in type(rope).__name__.lower()
        assert model.generate("Hi", GenerationOptions(max_tokens=3, temperature=0)).result
    finally:
        model.close()
