"""Bad models give a clear, typed error that names the file; nothing crashes."""

from __future__ import annotations

import json
import shutil

import pytest

from iisearch_local.backends.base import (
    ContextOverflowError,
    GenerationOptions,
    LoadOptions,
    ModelLoadError,
    ModelNotFoundError,
    UnsupportedModelError,
)
from iisearch_local.backends.registry import load_backend


@pytest.mark.parametrize("name", ["llama", "mlx"])
def test_missing_model(tmp_path, name):
    with pytest.raises(ModelNotFoundError, match="not found"):
        load_backend(name, tmp_path / "nothing-here" / ("m.gguf" if name == "llama" else ""))


def test_truncated_gguf(tmp_path, tiny_models):
    """The first half of a real GGUF: the header reads, the tensor data is cut off."""
    data = tiny_models.gguf_q8_0.read_bytes()
    broken = tmp_path / "half.gguf"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="half.gguf"):
        load_backend("llama", broken)


def test_gguf_truncated_inside_its_header(tmp_path, tiny_models):
    broken = tmp_path / "header.gguf"
    broken.write_bytes(tiny_models.gguf_q8_0.read_bytes()[:100])
    with pytest.raises(ModelLoadError, match="truncated"):
        load_backend("llama", broken)


def test_not_a_gguf(tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"<html>404 not found</html>" * 10)
    with pytest.raises(ModelLoadError, match="not a GGUF file"):
        load_backend("llama", fake)


def test_gguf_of_an_unknown_architecture(tmp_path):
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "alien.gguf"
    writer = gguf.GGUFWriter(str(path), "alienformer")
    writer.add_block_count(1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(UnsupportedModelError, match="alienformer"):
        load_backend("llama", path)


def test_mlx_folder_of_an_unknown_model_type(tmp_path, tiny_models):
    folder = tmp_path / "alien"
    shutil.copytree(tiny_models.mlx_q4, folder)
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "alienformer"
    config["architectures"] = ["AlienformerForCausalLM"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedModelError, match="alienformer"):
        load_backend("mlx", folder)


def test_mlx_folder_with_truncated_weights(tmp_path, tiny_models):
    folder = tmp_path / "cut"
    shutil.copytree(tiny_models.mlx_q4, folder)
    for weights in folder.glob("*.safetensors"):
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelLoadError, match="cut"):
        load_backend("mlx", folder)


def test_mlx_folder_without_config(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="config.json"):
        load_backend("mlx", tmp_path)


def test_gguf_given_to_mlx_is_refused(tiny_models):
    with pytest.raises(Exception, match="needs the 'llama' backend"):
        load_backend("mlx", tiny_models.gguf_q8_0)


@pytest.mark.parametrize("name", ["llama", "mlx"])
def test_prompt_longer_than_the_context(tiny_models, name):
    path = tiny_models.gguf_q8_0 if name == "llama" else tiny_models.mlx_q4
    model = load_backend(name, path, LoadOptions(context_size=64))
    try:
        # llama.cpp may round the window up (to 256); the error states the real size.
        with pytest.raises(ContextOverflowError, match=f"context holds {model.context_size}"):
            model.generate("word " * 1000, GenerationOptions(max_tokens=4))
        # The backend is still usable afterwards.
        assert model.generate("short", GenerationOptions(max_tokens=2, temperature=0)).result
    finally:
        model.close()
