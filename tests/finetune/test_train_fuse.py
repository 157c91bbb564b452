"""``iisearch finetune fuse``: the fused model runs in MLX, converts to GGUF, runs in llama.cpp.

Bad input: adapters fused onto a base of another shape, a missing or broken adapter_config.json,
an output folder that is something else. Each is a clear error and changes nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")

from train_helpers import tokenized_examples, write_built_dataset, write_config  # noqa: E402

from iisearch_local.cli import main  # noqa: E402
from iisearch_local.convert.templates import packaged_chat_template  # noqa: E402
from iisearch_local.finetune.config import load_train_config  # noqa: E402
from iisearch_local.finetune.fuse import FuseError, fuse_adapters  # noqa: E402
from iisearch_local.finetune.examples import tokenizer_fingerprint  # noqa: E402
from iisearch_local.finetune.train import train  # noqa: E402
from iisearch_local.testing.tiny_qwen3 import build_tiny_qwen3  # noqa: E402

PROMPT_IDS = [151644, 872, 198, 3838, 374, 279, 6722, 30]  # "<|im_start|>user\nWhat is the capital?"


def _train_adapters(base: Path, folder: Path, *, iters: int = 3) -> Path:
    examples = tokenized_examples(base, 3)
    data = write_built_dataset(folder / "data", base, examples, fingerprint=tokenizer_fingerprint(base))
    config = write_config(folder / "train.toml", base=base, out=folder / "adapters",
                          phases=[("p1", data, 1.0)], train={"iters": iters, "learning_rate": 1e-2})
    train(load_train_config(config))
    return folder / "adapters"


@pytest.fixture(scope="module")
def lora_adapters(tiny_models, tmp_path_factory) -> Path:
    return _train_adapters(tiny_models.hf, tmp_path_factory.mktemp("lora"))


def _logits(model) -> np.ndarray:
    return np.array(model(mx.array([PROMPT_IDS]))[0].astype(mx.float32))


def _llama_generates(gguf: Path) -> str:
    llama_cpp = pytest.importorskip("llama_cpp")
    llm = llama_cpp.Llama(str(gguf), n_ctx=128, n_threads=1, seed=1, verbose=False)
    out = llm.create_completion("<|im_start|>user\nhello<|im_end|>\n", max_tokens=4, temperature=0.0)
    assert out["usage"]["completion_tokens"] >= 1
    return out["choices"][0]["text"]


def _converted(fused: Path, tmp_path: Path) -> Path:
    out = tmp_path / "gguf"
    assert main(["convert", "gguf", str(fused), "--out", str(out)]) == 0
    (gguf,) = out.glob("*.f16.gguf")
    return gguf


def test_fused_lora_model_runs_in_mlx_converts_to_gguf_and_runs_in_llama_cpp(tiny_models, lora_adapters,
                                                                             tmp_path, capsys):
    from mlx_lm import generate, load

    fused = tmp_path / "fused"
    assert main(["finetune", "fuse", "--base", str(tiny_models.hf), "--adapters", str(lora_adapters),
                 "--out", str(fused)]) == 0
    assert capsys.readouterr().out.strip() == str(fused)
    names = {path.name for path in fused.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "fuse.json"} <= names
    assert "chat_template.jinja" not in names and not any(name.startswith(".") for name in names)
    assert json.loads((fused / "tokenizer_config.json").read_text())["chat_template"] == packaged_chat_template()
    assert json.loads((fused / "fuse.json").read_text())["fused_modules"] == 14  # 7 linears x 2 layers

    model, tokenizer = load(str(fused))
    with_adapters, _ = load(str(tiny_models.hf), adapter_path=str(lora_adapters))
    base, _ = load(str(tiny_models.hf))
    fused_logits, adapter_logits, base_logits = _logits(model), _logits(with_adapters), _logits(base)
    # the fused weights are bf16(W + BA): equal to base + adapters up to bf16 rounding...
    assert (fused_logits.argmax(-1) == adapter_logits.argmax(-1)).mean() >= 0.75
    assert np.abs(fused_logits - adapter_logits).mean() < 0.1 * np.abs(adapter_logits - base_logits).mean()
    assert np.abs(fused_logits - base_logits).mean() > 0.05  # ...and not the base: the training counts
    assert isinstance(generate(model, tokenizer, prompt="hello", max_tokens=4), str)

    gguf = _converted(fused, tmp_path)
    _llama_generates(gguf)
    # the MLX conversion and the LM Studio export take it too
    assert main(["convert", "mlx", str(fused), "--out", str(tmp_path / "mlx")]) == 0
    (mlx_folder,) = (tmp_path / "mlx").iterdir()
    assert main(["export", "lmstudio", str(mlx_folder), "--models-dir", str(tmp_path / "lms"), "--symlink"]) == 0
    assert any(path.name == "config.json" for path in (tmp_path / "lms").rglob("*"))


def test_qlora_on_the_4bit_base_fuses_dequantized_and_converts(tiny_models, tmp_path, capsys):
    """A quantized base: fusing dequantizes by default (and says so) so GGUF conversion works."""
    from mlx_lm import load

    if tiny_models.mlx_q4 is None:
        pytest.skip("no MLX 4-bit tiny model")
    adapters = _train_adapters(tiny_models.mlx_q4, tmp_path / "qlora", iters=2)
    fused = tmp_path / "fused"
    assert main(["finetune", "fuse", "--base", str(tiny_models.mlx_q4), "--adapters", str(adapters),
                 "--out", str(fused)]) == 0
    assert "dequantized" in capsys.readouterr().err
    config = json.loads((fused / "config.json").read_text())
    assert "quantization" not in config and "quantization_config" not in config
    assert all(value.dtype != mx.uint32 for value in mx.load(str(fused / "model.safetensors")).values())
    _llama_generates(_converted(fused, tmp_path))

    kept = fuse_adapters(tiny_models.mlx_q4, adapters, tmp_path / "kept", dequantize=False)
    assert kept.quantized and "stays quantized" in kept.notes[0]
    model, _ = load(str(kept.path))
    assert np.isfinite(_logits(model)).all()


@pytest.fixture(scope="module")
def other_bases(tiny_models, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bases")
    return {"narrow": build_tiny_qwen3(root / "narrow", hidden_size=32, tokenizer_source=tiny_models.hf),
            "deep": build_tiny_qwen3(root / "deep", layers=3, tokenizer_source=tiny_models.hf)}


@pytest.mark.parametrize("which, message", [
    ("narrow", "trained on a model with hidden_size 64; this base has hidden_size 32"),
    ("deep", "trained on a model with num_hidden_layers 2; this base has num_hidden_layers 3"),
])
def test_adapters_fused_onto_a_base_of_another_shape_are_refused(other_bases, lora_adapters, tmp_path,
                                                                 which, message):
    with pytest.raises(FuseError, match=message):
        fuse_adapters(other_bases[which], lora_adapters, tmp_path / "fused")
    assert not (tmp_path / "fused").exists()


@pytest.mark.parametrize("which, message", [
    ("narrow", r"do not fit the base model .* adapter shape \(64, 8\) does not match model parameter shape "
               r"\(32, 8\)"),
    ("deep", r"do not fit the base model .* no weights for 14 adapter tensors .*model\.layers\.2\."),
])
def test_plain_mlx_lm_adapters_on_another_base_are_refused_by_the_tensor_check(
        other_bases, lora_adapters, tmp_path, which, message):
    """Adapters without our base_model record (as plain `mlx_lm lora` writes them)."""
    plain = tmp_path / "plain"
    shutil.copytree(lora_adapters, plain, ignore=shutil.ignore_patterns("checkpoints"))
    config = json.loads((plain / "adapter_config.json").read_text())
    del config["base_model"]
    (plain / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(FuseError, match=message):
        fuse_adapters(other_bases[which], plain, tmp_path / "fused")
    assert not (tmp_path / "fused").exists()


def test_missing_or_broken_adapter_files_and_a_foreign_out_folder_are_clear(tiny_models, lora_adapters,
                                                                          tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(lora_adapters, broken, ignore=shutil.ignore_patterns("checkpoints"))
    (broken / "adapter_config.json").write_text("{oops")
    args = ["finetune", "fuse", "--base", str(tiny_models.hf), "--out", str(tmp_path / "fused")]
    assert main(args + ["--adapters", str(broken)]) == 1
    assert "adapter_config.json cannot be read" in capsys.readouterr().err
    (broken / "adapter_config.json").unlink()
    assert main(args + ["--adapters", str(broken)]) == 1
    assert "adapter_config.json is missing" in capsys.readouterr().err
    assert not (tmp_path / "fused").exists()

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FuseError, match="is not a fused model folder"):
        fuse_adapters(tiny_models.hf, lora_adapters, foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
