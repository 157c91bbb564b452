"""Broken checkpoints and a full disk: each a clear error naming the file, and no output left behind.

All go through ``iisearch convert gguf`` (exit code 1, message on stderr, no traceback), except the
ones that need a seam or a library call to provoke.
"""

from __future__ import annotations

import errno
import json
import shutil
import struct

import pytest

from iisearch_local.cli import main
from iisearch_local.convert import gguf as gguf_module
from iisearch_local.convert.errors import ConversionError
from iisearch_local.convert.outputs import folder_written_whole
from iisearch_local.convert.pipeline import convert_gguf_set, convert_mlx
from iisearch_local.testing.tiny_qwen3 import build_tiny_qwen3

SMALL = {"hidden_size": 32, "heads": 2, "kv_heads": 1, "head_dim": 16, "intermediate": 64}


@pytest.fixture(scope="module")
def sharded(tiny_models, tmp_path_factory):
    """A small float32 checkpoint in two shards (tokenizer copied from the cached tiny model)."""
    folder = tmp_path_factory.mktemp("bad") / "sharded"
    return build_tiny_qwen3(folder, **SMALL, shards=2, dtype="float32", tokenizer_source=tiny_models.hf)


@pytest.fixture()
def broken(sharded, tmp_path):
    """A private copy of the sharded checkpoint to damage."""
    return shutil.copytree(sharded, tmp_path / "broken")


def _convert(folder, tmp_path, capsys) -> str:
    out = tmp_path / "out"
    assert main(["convert", "gguf", str(folder), "--out", str(out)]) == 1
    assert not out.exists() or list(out.iterdir()) == []  # nothing written, not even a temp file
    return capsys.readouterr().err


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_missing_config(broken, tmp_path, capsys):
    """Tried: weights and tokenizer but no config.json."""
    (broken / "config.json").unlink()
    assert f"Error: {broken / 'config.json'} is missing" in _convert(broken, tmp_path, capsys)


def test_unsupported_architecture(broken, tmp_path, capsys):
    """Tried: a Mistral config over Qwen3 weights."""
    _edit_json(broken / "config.json", architectures=["MistralForCausalLM"], model_type="mistral")
    err = _convert(broken, tmp_path, capsys)
    assert f"{broken / 'config.json'} describes an unsupported architecture (MistralForCausalLM)" in err


def test_missing_shard(broken, tmp_path, capsys):
    """Tried: the index lists two shards, the second was never downloaded."""
    (broken / "model-00002-of-00002.safetensors").unlink()
    err = _convert(broken, tmp_path, capsys)
    assert "shard model-00002-of-00002.safetensors listed in model.safetensors.index.json is missing" in err


def test_truncated_shard(broken, tmp_path, capsys):
    """Tried: the first shard cut short, as an interrupted download leaves it."""
    shard = broken / "model-00001-of-00002.safetensors"
    with shard.open("r+b") as handle:
        handle.truncate(shard.stat().st_size - 100)
    err = _convert(broken, tmp_path, capsys)
    assert str(shard) in err and "but the file has only" in err and "(truncated?)" in err


def test_truncated_shard_header(broken, tmp_path, capsys):
    """Tried: a shard cut inside its JSON header."""
    shard = broken / "model-00002-of-00002.safetensors"
    with shard.open("r+b") as handle:
        handle.truncate(40)
    assert f"{shard} has a corrupt safetensors header" in _convert(broken, tmp_path, capsys)


def test_shard_header_lies_about_sizes(broken, tmp_path, capsys):
    """Tried: a header whose shape for one tensor disagrees with its data_offsets (same file size)."""
    shard = broken / "model-00002-of-00002.safetensors"
    raw = shard.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    victim = next(name for name, info in header.items() if name != "__metadata__" and len(info["shape"]) == 2)
    header[victim]["shape"][0] *= 2  # claims twice the rows its bytes hold
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    shard.write_bytes(struct.pack("<Q", len(encoded)) + encoded + raw[8 + length:])
    err = _convert(broken, tmp_path, capsys)
    assert f"{shard}: the header lies about tensor {victim}" in err and "data_offsets span" in err


def test_config_vocab_size_disagrees_with_embeddings(broken, tmp_path, capsys):
    """Tried: config.json's vocab_size shrunk below the embedding rows (a config from another model)."""
    _edit_json(broken / "config.json", vocab_size=151000)
    err = _convert(broken, tmp_path, capsys)
    assert "model.embed_tokens.weight has 151936 rows but vocab_size in" in err


def test_tokenizer_not_matching_vocab_size(broken, tmp_path, capsys):
    """Tried: a tokenizer whose added tokens go past the model's vocab_size (embeddings agree with config)."""
    tokenizer = json.loads((broken / "tokenizer.json").read_text())
    tokenizer["added_tokens"].append({"id": 200000, "content": "<extra>", "special": True})
    (broken / "tokenizer.json").write_text(json.dumps(tokenizer))
    err = _convert(broken, tmp_path, capsys)
    assert f"{broken / 'tokenizer.json'} has token id 200000 but vocab_size in config.json is only 151936" in err


def test_full_disk_is_named_and_leaves_nothing(sharded, tmp_path, monkeypatch):
    """Tried: the disk fills up half-way through the tensor data (ENOSPC injected at the write seam)."""
    written = []

    def fill_up(handle, block):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(block.nbytes)
        block.tofile(handle)

    monkeypatch.setattr(gguf_module, "_write_block", fill_up)
    out = tmp_path / "out"
    with pytest.raises(ConversionError, match=r"no space left on the device while writing .*sharded\.f16\.gguf"):
        convert_gguf_set(sharded, out_dir=out)
    assert list(out.iterdir()) == []


def test_mlx_refuses_broken_checkpoints_before_mlx_runs(broken, tmp_path):
    """Tried: the MLX converter on a checkpoint with a missing shard; mlx-lm must not even start."""
    (broken / "model-00001-of-00002.safetensors").unlink()
    with pytest.raises(ConversionError, match="model-00001-of-00002.safetensors"):
        convert_mlx(broken, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_folder_that_fails_half_written_keeps_the_older_one(tmp_path):
    """Tried: the disk fills up while an MLX / fused model folder is written over an older one."""
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("earlier output")
    with pytest.raises(ConversionError, match=r"writing the folder .*model failed: .*No space left"):
        with folder_written_whole(target, error=ConversionError, what=f"the folder {target}") as partial:
            partial.mkdir()
            (partial / "half.bin").write_bytes(b"x")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary folder left
    assert [p.name for p in target.iterdir()] == ["old.txt"]

    with folder_written_whole(target, error=ConversionError, what="the folder") as partial:
        partial.mkdir()
        (partial / "new.txt").write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert [p.name for p in target.iterdir()] == ["new.txt"]
