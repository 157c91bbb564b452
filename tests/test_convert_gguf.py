"""Our Qwen3 HF -> GGUF writer: exact tensors and metadata, and clear errors on bad checkpoints."""

from __future__ import annotations

import json
import shutil
from unittest import mock

import numpy as np
import pytest

from iisearch_local.convert.errors import ConversionError
from iisearch_local.convert.gguf import convert_hf_to_gguf, gguf_tensor_name, quantize_gguf
from iisearch_local.convert.safetensors_io import read_safetensors
from iisearch_local.testing.tiny_qwen3 import build_tiny_qwen3

pytestmark = pytest.mark.slow
gguf = pytest.importorskip("gguf")

SMALL = {"hidden_size": 32, "heads": 2, "kv_heads": 1, "head_dim": 16, "intermediate": 64}


def _hf_values(folder) -> dict[str, np.ndarray]:
    """Every tensor of a HF folder as float32, keyed by its GGUF name."""
    values = {}
    for path in sorted(folder.glob("*.safetensors")):
        for name, tensor in read_safetensors(path).items():
            values[gguf_tensor_name(name)] = tensor.to_f32()
    return values


def read_gguf(path):
    """``gguf.GGUFReader`` over an in-memory copy of the file.

    GGUFReader slices its np.memmap once per vocabulary string (300k of them) and memmap slicing
    is slow; a plain array makes the same parse ~3x faster. The parsing is still GGUFReader's.
    """
    with mock.patch.object(np, "memmap", lambda file, mode="r": np.fromfile(file, dtype=np.uint8)):
        return gguf.GGUFReader(path)


def _gguf_tensors(reader) -> dict[str, np.ndarray]:
    return {tensor.name: np.asarray(tensor.data) for tensor in reader.tensors}


@pytest.fixture(scope="module")
def f16_reader(tiny_models):
    return read_gguf(tiny_models.gguf_f16)


@pytest.fixture(scope="module")
def sharded_f32(tiny_models, tmp_path_factory):
    """An untied float32 checkpoint split over two shards (the tokenizer is copied, not rebuilt)."""
    folder = tmp_path_factory.mktemp("sharded") / "tiny-untied"
    return build_tiny_qwen3(folder, **SMALL, tie_embeddings=False, shards=2, seed=3, dtype="float32",
                            tokenizer_source=tiny_models.hf)


def test_f16_gguf_holds_the_bf16_weights_within_f16_rounding(tiny_models, f16_reader):
    expected = _hf_values(tiny_models.hf)
    tensors = _gguf_tensors(f16_reader)
    assert set(tensors) == set(expected)  # tied: no output.weight, nothing dropped or invented
    for name, want in expected.items():
        got = tensors[name]
        assert got.shape == want.shape, name
        if want.ndim == 1:  # norms stay f32, exactly
            assert got.dtype == np.float32 and np.array_equal(got, want), name
        else:
            assert got.dtype == np.float16, name
            np.testing.assert_array_equal(got, want.astype(np.float16), err_msg=name)


def test_gguf_metadata_describes_qwen3_and_its_tokenizer(tiny_models, f16_reader):
    config = json.loads((tiny_models.hf / "config.json").read_text())
    fields = f16_reader.fields

    def scalar(key):
        return fields[key].contents()

    assert scalar("general.architecture") == "qwen3"
    assert scalar("qwen3.block_count") == config["num_hidden_layers"]
    assert scalar("qwen3.attention.head_count_kv") == config["num_key_value_heads"]
    assert scalar("qwen3.attention.key_length") == config["head_dim"]
    assert scalar("qwen3.context_length") == config["max_position_embeddings"]
    assert scalar("qwen3.rope.freq_base") == config["rope_theta"]
    assert scalar("tokenizer.ggml.pre") == "qwen2"
    assert scalar("tokenizer.ggml.eos_token_id") == 151645
    assert scalar("tokenizer.ggml.padding_token_id") == 151643
    assert scalar("tokenizer.ggml.add_bos_token") is False
    types = fields["tokenizer.ggml.token_type"]
    token_type = {index: int(types.parts[types.data[index]][0]) for index in (0, 151645, 151667, 151700)}
    assert token_type == {0: 1, 151645: 3, 151667: 4, 151700: 5}  # normal, control, user-defined, unused
    assert len(fields["tokenizer.ggml.tokens"].data) == config["vocab_size"]


def test_f32_gguf_from_sharded_untied_checkpoint_is_exact(sharded_f32, tmp_path):
    from safetensors import safe_open

    out = convert_hf_to_gguf(sharded_f32, tmp_path / "untied-f32.gguf", out_type="f32")
    tensors = _gguf_tensors(read_gguf(out))
    index = json.loads((sharded_f32 / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) == 2
    for hf_name, file_name in index["weight_map"].items():
        with safe_open(sharded_f32 / file_name, framework="numpy") as handle:  # the library's reader
            want = handle.get_tensor(hf_name)
        got = tensors.pop(gguf_tensor_name(hf_name))
        assert got.dtype == np.float32 and np.array_equal(got, want), hf_name
    assert tensors == {}
    assert [p.name for p in tmp_path.iterdir()] == ["untied-f32.gguf"]  # no temp file left


def test_bf16_gguf_runs_like_f32_in_llama_cpp(tiny_models, tmp_path):
    """bf16 output copies the bf16 bits; llama.cpp must compute the same logits as from f32."""
    llama_cpp = pytest.importorskip("llama_cpp")
    prompt = [151644, 872, 198, 9707, 1879, 151645, 198, 151644, 77091, 198]
    logits = {}
    for out_type in ("f32", "bf16"):
        path = convert_hf_to_gguf(tiny_models.hf, tmp_path / f"tiny-{out_type}.gguf", out_type=out_type)
        llm = llama_cpp.Llama(str(path), n_ctx=64, n_threads=1, logits_all=True, verbose=False)
        llm.eval(prompt)
        logits[out_type] = np.array(llm.scores[len(prompt) - 1])
        llm.close()
    assert np.all(np.isfinite(logits["f32"])) and np.std(logits["f32"]) > 0.1
    # ggml rounds activations to bf16 for bf16 matmuls (~1% drift); a wrong layout is off by ~100%.
    np.testing.assert_allclose(logits["bf16"], logits["f32"], atol=0.02 * np.abs(logits["f32"]).max())


def test_missing_config_is_a_clear_error(tiny_models, tmp_path):
    """Tried: a folder with weights but no config.json."""
    folder = tmp_path / "no-config"
    folder.mkdir()
    shutil.copy(tiny_models.hf / "model.safetensors", folder)
    with pytest.raises(ConversionError, match=r"config\.json is missing"):
        convert_hf_to_gguf(folder, tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()


def test_unsupported_architecture_is_a_clear_error(tiny_models, tmp_path):
    """Tried: a Llama config next to Qwen3 weights; nothing may be written."""
    folder = tmp_path / "llama"
    shutil.copytree(tiny_models.hf, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(architectures=["LlamaForCausalLM"], model_type="llama")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionError, match="unsupported architecture.*LlamaForCausalLM"):
        convert_hf_to_gguf(folder, tmp_path / "out.gguf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["llama"]


def test_missing_shard_is_named(sharded_f32, tmp_path):
    """Tried: a sharded checkpoint whose second shard was never downloaded."""
    folder = tmp_path / "partial"
    shutil.copytree(sharded_f32, folder, ignore=shutil.ignore_patterns("model-00002-*"))
    with pytest.raises(ConversionError, match=r"model-00002-of-00002\.safetensors"):
        convert_hf_to_gguf(folder, tmp_path / "out.gguf")


def test_f16_overflow_names_the_tensor_and_leaves_no_file(sharded_f32, tmp_path):
    """Tried: a float32 weight beyond the float16 range (it must not be silently clipped)."""
    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "huge"
    shutil.copytree(sharded_f32, folder)
    shard = folder / "model-00001-of-00002.safetensors"
    tensors = load_file(shard)
    victim = next(name for name in tensors if name.endswith("q_proj.weight"))
    tensors[victim][0, 0] = 1e6
    save_file(tensors, shard, metadata={"format": "pt"})
    with pytest.raises(ConversionError, match=rf"{victim}.*float16 range"):
        convert_hf_to_gguf(folder, tmp_path / "out.gguf", out_type="f16")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge"]


def test_quantize_rejects_unknown_type(tiny_models, tmp_path):
    with pytest.raises(ConversionError, match="unknown quantization 'Q9_9'"):
        quantize_gguf(tiny_models.gguf_f16, tmp_path / "x.gguf", "Q9_9")


def test_yarn_rope_scaling_reaches_llama_cpp(tiny_models, tmp_path):
    """The II-Search cards serve with YaRN x4 over 32768 positions; llama.cpp must see it."""
    llama_cpp = pytest.importorskip("llama_cpp")
    folder = tmp_path / "yarn"
    shutil.copytree(tiny_models.hf, folder)
    config = json.loads((folder / "config.json").read_text())
    config["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}
    (folder / "config.json").write_text(json.dumps(config))
    out = convert_hf_to_gguf(folder, tmp_path / "yarn.gguf")
    metadata = llama_cpp.Llama(str(out), vocab_only=True, verbose=False).metadata
    assert metadata["qwen3.rope.scaling.type"] == "yarn"
    assert float(metadata["qwen3.rope.scaling.factor"]) == 4.0
    assert metadata["qwen3.rope.scaling.original_context_length"] == "32768"
