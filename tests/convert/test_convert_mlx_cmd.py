"""``iisearch convert mlx``: mlx-lm quantization with our chat template, atomic and resumable."""

from __future__ import annotations

import json

import pytest

from iisearch_local.cli import main
from iisearch_local.convert.outputs import MLX_MARKER_FILE
from iisearch_local.convert.pipeline import convert_mlx
from iisearch_local.convert.templates import packaged_chat_template

pytest.importorskip("mlx.core")
mlx_lm = pytest.importorskip("mlx_lm")


def test_convert_mlx_writes_quantized_folder_with_our_template(cir_checkpoint, tmp_path, capsys):
    config_path = cir_checkpoint / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config_path.unlink()
    config["chat_template"] = "{{ messages[0]['content'] }}"  # a template that drops the history
    config_path.write_text(json.dumps(config))
    (cir_checkpoint / "chat_template.jinja").write_text("{{ 'side file' }}")  # would win in transformers

    assert main(["convert", "mlx", str(cir_checkpoint), "--q-bits", "8", "--group-size", "64",
                 "--out", str(tmp_path / "out")]) == 0
    folder = tmp_path / "out" / "II-Search-CIR-4B-MLX-8bit"
    assert capsys.readouterr().out.split("\t")[:2] == ["mlx-8bit-g64", "written"]
    assert json.loads((folder / "config.json").read_text())["quantization"]["bits"] == 8
    assert json.loads((folder / "tokenizer_config.json").read_text())["chat_template"] == packaged_chat_template()
    assert not (folder / "chat_template.jinja").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [folder.name]  # no temp folder left

    _, tokenizer = mlx_lm.load(str(folder))
    chat = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>\nr\n</think>\n\na"},
            {"role": "user", "content": "again"}]
    rendered = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert "<think>\nr\n</think>" in rendered and rendered.endswith("<|im_start|>assistant\n")


def test_mlx_rerun_is_skipped_and_damage_is_redone(cir_checkpoint, tmp_path):
    first = convert_mlx(cir_checkpoint, out_dir=tmp_path, q_bits=4)
    assert not first.skipped and (first.path / MLX_MARKER_FILE).is_file()
    assert convert_mlx(cir_checkpoint, out_dir=tmp_path, q_bits=4).skipped
    weights = first.path / "model.safetensors"
    with weights.open("r+b") as handle:  # truncated after the marker was written
        handle.truncate(weights.stat().st_size - 10)
    again = convert_mlx(cir_checkpoint, out_dir=tmp_path, q_bits=4)
    assert not again.skipped and mlx_lm.load(str(again.path))


def test_interrupted_mlx_conversion_leaves_no_folder(cir_checkpoint, tmp_path, monkeypatch):
    """Tried: mlx-lm fails half-way (weights written, then an error); nothing may look complete."""
    import mlx_lm as package

    real_convert = package.convert

    def convert_then_fail(*args, **kwargs):
        real_convert(*args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(package, "convert", convert_then_fail)
    from iisearch_local.convert.errors import ConversionError

    with pytest.raises(ConversionError, match="II-Search-CIR-4B-MLX-4bit.*No space left"):
        convert_mlx(cir_checkpoint, out_dir=tmp_path / "out", q_bits=4)
    assert list((tmp_path / "out").iterdir()) == []
