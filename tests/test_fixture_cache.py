"""The tiny-model cache: built once, never half-built, one builder at a time.

The real builder takes ~20 s, so these tests swap in a quick one that writes the same layout; the
caching, locking and atomic rename around it are the real code.
"""

from __future__ import annotations

import threading
import time

import pytest

from iisearch_local.testing import fixtures


class QuickBuilder:
    """Writes placeholder files where the real builder writes models, counting its runs."""

    def __init__(self, *, fail: bool = False, delay: float = 0.0) -> None:
        self.runs = 0
        self.fail = fail
        self.delay = delay

    def __call__(self, workdir):
        self.runs += 1
        (workdir / "hf").mkdir()
        (workdir / "tiny-qwen3-f16.gguf").write_bytes(b"GGUF")
        time.sleep(self.delay)
        if self.fail:
            raise KeyboardInterrupt  # like a user pressing Ctrl-C in the middle of a build
        return {"hf": "hf", "gguf_f16": "tiny-qwen3-f16.gguf", "gguf_q8_0": None, "mlx_q4": None}


def test_built_once_then_reused(tmp_path, monkeypatch):
    builder = QuickBuilder()
    monkeypatch.setattr(fixtures, "build_all", builder)
    first = fixtures.ensure_tiny_models(tmp_path)
    second = fixtures.ensure_tiny_models(tmp_path)
    assert builder.runs == 1 and first == second
    assert first.root.name == fixtures.fixture_key() and first.gguf_f16.read_bytes() == b"GGUF"
    assert first.gguf_q8_0 is None and first.mlx_q4 is None


def test_interrupted_build_never_looks_complete(tmp_path, monkeypatch):
    """Tried: a build killed half-way, plus a leftover temp folder from an older crash."""
    (tmp_path / f"{fixtures.BUILD_PREFIX}old-123").mkdir()
    monkeypatch.setattr(fixtures, "build_all", QuickBuilder(fail=True))
    with pytest.raises(KeyboardInterrupt):
        fixtures.ensure_tiny_models(tmp_path)
    assert not (tmp_path / fixtures.fixture_key()).exists()
    assert not list(tmp_path.glob(f"{fixtures.BUILD_PREFIX}*"))  # nothing half-built is left behind

    builder = QuickBuilder()
    monkeypatch.setattr(fixtures, "build_all", builder)
    assert fixtures.ensure_tiny_models(tmp_path).hf.is_dir() and builder.runs == 1


def test_concurrent_callers_build_once(tmp_path, monkeypatch):
    builder = QuickBuilder(delay=0.3)
    monkeypatch.setattr(fixtures, "build_all", builder)
    results = []
    threads = [threading.Thread(target=lambda: results.append(fixtures.ensure_tiny_models(tmp_path)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builder.runs == 1 and len(results) == 3 and len(set(results)) == 1


def test_cache_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(fixtures.CACHE_ENV, str(tmp_path / "elsewhere"))
    assert fixtures.default_cache_dir() == tmp_path / "elsewhere"


def test_missing_llama_cpp_sources_say_how_to_get_them(tmp_path, monkeypatch):
    """Tried: pointing the builder at a folder without the extracted llama.cpp sources."""
    from iisearch_local.testing.qwen_tokenizer import LLAMA_CPP_SRC_ENV, LlamaCppSourceMissing

    monkeypatch.setenv(LLAMA_CPP_SRC_ENV, str(tmp_path))
    with pytest.raises(LlamaCppSourceMissing, match="ggml-vocab-qwen2.gguf") as caught:
        fixtures.ensure_tiny_models(tmp_path / "cache")
    assert "scripts/test" in str(caught.value)
