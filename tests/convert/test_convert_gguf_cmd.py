"""``iisearch convert gguf``: HF folder -> f16 -> quants, our chat template, resumable and atomic."""

from __future__ import annotations

import json

import pytest

from iisearch_local.cli import main
from iisearch_local.convert import gguf as gguf_module
from iisearch_local.convert.outputs import gguf_marker_path
from iisearch_local.convert.pipeline import convert_gguf_set
from iisearch_local.convert.templates import packaged_chat_template

llama_cpp = pytest.importorskip("llama_cpp")

STOCK_TEMPLATE = "{%- for message in messages %}{{ message['content'] }}{% endfor %}"


def _chat_template(path) -> str:
    return llama_cpp.Llama(str(path), vocab_only=True, verbose=False).metadata["tokenizer.chat_template"]


def _with_stock_template(folder):
    """Replace the (symlinked) tokenizer_config.json by one carrying a different template."""
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config_path.unlink()
    config["chat_template"] = STOCK_TEMPLATE
    config_path.write_text(json.dumps(config))
    return folder


def test_convert_gguf_makes_f16_and_quants_with_our_template(cir_checkpoint, tmp_path, capsys):
    _with_stock_template(cir_checkpoint)
    out = tmp_path / "out"
    assert main(["convert", "gguf", str(cir_checkpoint), "--quant", "q8_0", "--quant", "Q4_K_M",
                 "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in lines] == [["f16", "written"], ["Q8_0", "written"],
                                                       ["Q4_K_M", "written"]]
    names = sorted(path.name for path in out.iterdir())
    assert names == sorted(f"II-Search-CIR-4B.{kind}.gguf{suffix}" for kind in ("f16", "Q8_0", "Q4_K_M")
                           for suffix in ("", ".convert.json"))
    for kind in ("f16", "Q8_0", "Q4_K_M"):
        path = out / f"II-Search-CIR-4B.{kind}.gguf"
        # the source's stock template is replaced by ours, and llama.cpp quantize keeps it
        assert _chat_template(path) == packaged_chat_template()
    q4 = llama_cpp.Llama(str(out / "II-Search-CIR-4B.Q4_K_M.gguf"), vocab_only=True, verbose=False)
    assert q4.metadata["general.file_type"] == str(int(llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M))


def test_rerun_skips_complete_outputs_and_redoes_damaged_ones(cir_checkpoint, tmp_path):
    out = tmp_path / "out"
    first = convert_gguf_set(cir_checkpoint, out_dir=out, quants=["Q8_0"])
    assert [result.skipped for result in first] == [False, False]
    stamps = {result.path: result.path.stat().st_mtime_ns for result in first}

    again = convert_gguf_set(cir_checkpoint, out_dir=out, quants=["Q8_0"])
    assert [result.skipped for result in again] == [True, True]
    assert {result.path: result.path.stat().st_mtime_ns for result in again} == stamps

    # A truncated quant (same marker, wrong size) is redone; the intact f16 is kept.
    q8 = out / "II-Search-CIR-4B.Q8_0.gguf"
    with q8.open("r+b") as handle:
        handle.truncate(q8.stat().st_size // 2)
    third = convert_gguf_set(cir_checkpoint, out_dir=out, quants=["Q8_0"])
    assert [result.skipped for result in third] == [True, False]
    assert q8.stat().st_size == json.loads(gguf_marker_path(q8).read_text())["size"]

    # A file without its marker (a run killed between rename and marker) is not trusted.
    gguf_marker_path(q8).unlink()
    assert [r.skipped for r in convert_gguf_set(cir_checkpoint, out_dir=out, quants=["Q8_0"])] == [True, False]

    # The recipe holds the template's hash, not the protocol name: both protocols share one today.
    redo = convert_gguf_set(cir_checkpoint, out_dir=out, quants=["Q8_0"], protocol="tools")
    assert [result.skipped for result in redo] == [True, True]
    # An output made with another template is redone.
    marker = json.loads(gguf_marker_path(q8).read_text())
    marker["chat_template_sha256"] = "0" * 64
    gguf_marker_path(q8).write_text(json.dumps(marker))
    assert [r.skipped for r in convert_gguf_set(cir_checkpoint, out_dir=out, quants=["Q8_0"])] == [True, False]


def test_interrupted_f16_write_leaves_nothing_that_looks_complete(cir_checkpoint, tmp_path, monkeypatch):
    """Tried: Ctrl-C in the middle of the tensor data; then an ordinary re-run."""
    out = tmp_path / "out"
    calls = []

    def interrupt(handle, block):
        calls.append(block.nbytes)
        if len(calls) == 3:
            raise KeyboardInterrupt
        block.tofile(handle)

    monkeypatch.setattr(gguf_module, "_write_block", interrupt)
    with pytest.raises(KeyboardInterrupt):
        convert_gguf_set(cir_checkpoint, out_dir=out, quants=["Q8_0"])
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    results = convert_gguf_set(cir_checkpoint, out_dir=out, quants=["Q8_0"])
    assert [result.skipped for result in results] == [False, False]


def test_interrupted_quantize_leaves_no_partial_file(cir_checkpoint, tmp_path, monkeypatch):
    """Tried: llama.cpp killed half-way through writing the quantized file."""
    out = tmp_path / "out"
    real_quantize = llama_cpp.llama_model_quantize

    def half_then_interrupt(src, dst, params):
        real_quantize(src, dst, params)
        with open(dst, "r+b") as handle:  # the bytes on disk when the process died
            handle.truncate(1000)
        raise KeyboardInterrupt

    monkeypatch.setattr(llama_cpp, "llama_model_quantize", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        convert_gguf_set(cir_checkpoint, out_dir=out, quants=["Q8_0"])
    assert sorted(path.name for path in out.iterdir()) == ["II-Search-CIR-4B.f16.gguf",
                                                          "II-Search-CIR-4B.f16.gguf.convert.json"]


def test_unknown_quant_is_refused_before_any_work(cir_checkpoint, tmp_path, capsys):
    """Tried: a typo in --quant; the f16 conversion must not even start."""
    assert main(["convert", "gguf", str(cir_checkpoint), "--quant", "Q4_K_X", "--out", str(tmp_path / "o")]) == 1
    assert "unknown quantization 'Q4_K_X'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
