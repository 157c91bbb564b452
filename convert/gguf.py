"""Our own streaming Qwen3 Hugging Face -> GGUF converter, and GGUF quantization via llama.cpp.

The converter maps the safetensors shards, converts each tensor a block of rows at a time and
writes it straight into the GGUF file, so peak memory stays around one block whatever the model
size. The file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import errno
import mmap
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import ConversionError
from .gguf_vocab import add_vocab, read_bpe_vocab
from .hf_checkpoint import HfCheckpoint, open_checkpoint
from .safetensors_io import StoredTensor, bf16_to_f32, f32_to_bf16

GGUF_ARCH = "qwen3"
SUPPORTED_ARCHITECTURES = frozenset({"Qwen3ForCausalLM"})
SUPPORTED_MODEL_TYPES = frozenset({"qwen3"})
OUT_TYPES = ("f32", "f16", "bf16")
#: Elements converted per block; bounds peak memory to a few tens of MB per block.
BLOCK_ELEMENTS = 8 * 1024 * 1024
F16_MAX = float(np.finfo(np.float16).max)

_LAYER_PARTS = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_GLOBAL_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_LAYER_PATTERN = re.compile(r"model\.layers\.(\d+)\.(.+)\.weight")
# Buffers some exporters leave in checkpoints; llama.cpp recomputes them.
_IGNORED_SUFFIXES = (".rotary_emb.inv_freq",)


@dataclass(frozen=True)
class PlannedTensor:
    """One GGUF tensor: its name, its source and how it is stored."""

    gguf_name: str
    source: StoredTensor
    out_type: str  # "f32", "f16" or "bf16"


def gguf_tensor_name(hf_name: str) -> str | None:
    """The llama.cpp name of a Qwen3 tensor, or None when it has no GGUF counterpart."""
    if hf_name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[hf_name]
    match = _LAYER_PATTERN.fullmatch(hf_name)
    if match and match.group(2) in _LAYER_PARTS:
        return f"blk.{match.group(1)}.{_LAYER_PARTS[match.group(2)]}.weight"
    return None


def _config_int(config: dict, key: str) -> int:
    value = config.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConversionError(f"config.json has no integer {key!r}")
    return value


def check_architecture(checkpoint: HfCheckpoint) -> None:
    """Refuse anything that is not a Qwen3 causal LM (the only architecture we map)."""
    architectures = checkpoint.config.get("architectures") or []
    model_type = checkpoint.config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES or not SUPPORTED_ARCHITECTURES.intersection(architectures):
        found = ", ".join(architectures) or model_type or "unknown"
        raise ConversionError(
            f"{checkpoint.folder / 'config.json'} describes an unsupported architecture ({found})",
            hint="Only Qwen3ForCausalLM (model_type qwen3) checkpoints can be converted.",
        )


def plan_tensors(checkpoint: HfCheckpoint, *, out_type: str) -> list[PlannedTensor]:
    """Map every checkpoint tensor to its GGUF name and type; fail on unknown or missing tensors."""
    config = checkpoint.config
    tied = bool(config.get("tie_word_embeddings", False))
    planned: dict[str, PlannedTensor] = {}
    for hf_name, tensor in checkpoint.tensors.items():
        if hf_name.endswith(_IGNORED_SUFFIXES) or (tied and hf_name == "lm_head.weight"):
            continue  # a tied head is the embedding matrix; llama.cpp reuses token_embd
        gguf_name = gguf_tensor_name(hf_name)
        if gguf_name is None:
            raise ConversionError(f"tensor {hf_name} has no Qwen3 GGUF mapping",
                                  hint="The checkpoint does not look like a plain Qwen3 model.")
        # Norm scales stay f32, as llama.cpp's own converter keeps every 1-D tensor.
        planned[gguf_name] = PlannedTensor(gguf_name, tensor, "f32" if len(tensor.shape) == 1 else out_type)

    expected = ["token_embd.weight", "output_norm.weight"] + ([] if tied else ["output.weight"])
    for layer in range(_config_int(config, "num_hidden_layers")):
        expected += [f"blk.{layer}.{part}.weight" for part in _LAYER_PARTS.values()]
    vocab_size = _config_int(config, "vocab_size")
    for name in ("token_embd.weight", "output.weight"):
        if name in planned and planned[name].source.shape[0] != vocab_size:
            source = planned[name].source
            raise ConversionError(f"{source.name} has {source.shape[0]} rows but vocab_size in "
                                  f"{checkpoint.folder / 'config.json'} is {vocab_size}",
                                  hint="config.json does not describe these weights.")
    missing = [name for name in expected if name not in planned]
    if missing:
        raise ConversionError(f"{checkpoint.folder} lacks {len(missing)} tensor(s), e.g. {missing[0]}")
    extra = sorted(set(planned) - set(expected))
    if extra:
        raise ConversionError(f"tensor {extra[0]} belongs to a layer beyond num_hidden_layers")
    return [planned[name] for name in expected]


def _add_model_metadata(writer, checkpoint: HfCheckpoint, *, file_type: int) -> int:
    """The ``general.*`` and ``qwen3.*`` keys; returns the vocabulary size."""
    import gguf

    config = checkpoint.config
    hidden = _config_int(config, "hidden_size")
    heads = _config_int(config, "num_attention_heads")
    head_dim = config.get("head_dim") or hidden // heads
    writer.add_type("model")
    writer.add_name(checkpoint.folder.name)
    writer.add_context_length(_config_int(config, "max_position_embeddings"))
    writer.add_embedding_length(hidden)
    writer.add_block_count(_config_int(config, "num_hidden_layers"))
    writer.add_feed_forward_length(_config_int(config, "intermediate_size"))
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_rope_freq_base(float(config.get("rope_theta", 1_000_000.0)))
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    # Qwen3's head_dim is not hidden_size / heads (e.g. 128 vs 80 for the 4B), so always state it.
    writer.add_key_length(int(head_dim))
    writer.add_value_length(int(head_dim))
    scaling = config.get("rope_scaling") or {}
    if (scaling.get("rope_type") or scaling.get("type")) == "yarn":
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(float(scaling["factor"]))
        original = scaling.get("original_max_position_embeddings")
        if original:
            writer.add_rope_scaling_orig_ctx_len(int(original))
    elif scaling:
        kind = scaling.get("rope_type") or scaling.get("type")
        if kind not in (None, "default"):
            raise ConversionError(f"rope scaling {kind!r} is not supported (only yarn)")
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    return _config_int(config, "vocab_size")


def _storage(planned: PlannedTensor) -> tuple[np.dtype, int]:
    """numpy dtype written and the GGML type id of a planned tensor."""
    import gguf

    kinds = {
        "f32": (np.dtype(np.float32), gguf.GGMLQuantizationType.F32),
        "f16": (np.dtype(np.float16), gguf.GGMLQuantizationType.F16),
        "bf16": (np.dtype(np.uint16), gguf.GGMLQuantizationType.BF16),
    }
    return kinds[planned.out_type]


def _release_pages(data: np.ndarray) -> None:
    """Drop a memory-mapped tensor's pages from our resident set once it is written.

    Pages read through a mapping stay resident until it is unmapped; without this, peak memory
    would grow with the checkpoint (all tensors stay mapped until the plan is done).
    """
    mapping = getattr(data, "_mmap", None)
    if mapping is not None and hasattr(mmap, "MADV_DONTNEED"):
        try:
            mapping.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):  # pragma: no cover - a platform that refuses the advice
            pass


def _converted_blocks(planned: PlannedTensor) -> Iterator[np.ndarray]:
    """The tensor's data in the output type, a block of rows at a time."""
    try:
        yield from _blocks_of(planned)
    finally:
        _release_pages(planned.source.data)


def _blocks_of(planned: PlannedTensor) -> Iterator[np.ndarray]:
    source = planned.source
    data = source.data.reshape(source.shape[0], -1) if source.shape else source.data.reshape(1, 1)
    rows_per_block = max(1, BLOCK_ELEMENTS // max(1, data.shape[1]))
    for start in range(0, data.shape[0], rows_per_block):
        raw = data[start:start + rows_per_block]
        if planned.out_type == "bf16" and source.dtype == "BF16":
            yield np.ascontiguousarray(raw)  # bit-exact copy
            continue
        values = bf16_to_f32(raw) if source.dtype == "BF16" else raw.astype(np.float32)
        if planned.out_type == "f32":
            yield values
        elif planned.out_type == "bf16":
            yield f32_to_bf16(values)
        else:
            overflow = np.abs(values) > F16_MAX
            if overflow.any():
                raise ConversionError(
                    f"tensor {source.name} holds values beyond the float16 range "
                    f"(max |x| = {float(np.abs(values).max()):.4g})",
                    hint="Convert with out_type 'bf16' or 'f32' instead of 'f16'.",
                )
            yield values.astype(np.float16)


def convert_hf_to_gguf(src: Path, out: Path, *, out_type: str = "f16", chat_template: str | None = None) -> Path:
    """Convert a Qwen3 Hugging Face folder into one GGUF file (``f32``, ``f16`` or ``bf16``).

    ``chat_template`` replaces the checkpoint's own template in ``tokenizer.chat_template``.
    """
    import gguf

    if out_type not in OUT_TYPES:
        raise ConversionError(f"unknown output type {out_type!r}", hint=f"Choose one of {', '.join(OUT_TYPES)}.")
    checkpoint = open_checkpoint(Path(src))
    check_architecture(checkpoint)
    tensors = plan_tensors(checkpoint, out_type=out_type)
    file_type = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                 "bf16": gguf.LlamaFileType.MOSTLY_BF16}[out_type]

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    writer = gguf.GGUFWriter(partial, GGUF_ARCH)
    try:
        vocab_size = _add_model_metadata(writer, checkpoint, file_type=int(file_type))
        vocab = read_bpe_vocab(checkpoint, vocab_size=vocab_size)
        if chat_template is not None:
            vocab = replace(vocab, chat_template=chat_template)
        add_vocab(writer, vocab, pre_tokenizer="qwen2")
        for planned in tensors:
            dtype, ggml_type = _storage(planned)
            count = int(np.prod(planned.source.shape, dtype=np.int64))
            writer.add_tensor_info(planned.gguf_name, planned.source.shape, dtype, count * dtype.itemsize,
                                   raw_dtype=ggml_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        _write_tensor_data(writer, tensors)
        writer.close()
        os.replace(partial, out)
    except BaseException as exc:
        try:
            writer.close()
        except OSError:
            pass  # flushing after a failed write (a full disk) fails again; the file goes anyway
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise ConversionError(f"no space left on the device while writing {out}",
                                  hint="Free some disk space or pass another output folder; "
                                       "the partial file was removed.") from exc
        raise
    return out


def _write_block(handle, block: np.ndarray) -> None:
    """Append one converted block to the open GGUF file (a seam: tests inject write failures)."""
    block.astype(block.dtype.newbyteorder("<"), copy=False).tofile(handle)


def _write_tensor_data(writer, tensors: list[PlannedTensor]) -> None:
    """Stream every tensor into the data section, each padded to the file's alignment."""
    (handle,) = writer.fout  # a single output file: we never split
    writer.write_padding(handle, handle.tell())
    for planned in tensors:
        dtype, _ = _storage(planned)
        expected = int(np.prod(planned.source.shape, dtype=np.int64)) * dtype.itemsize
        written = 0
        for block in _converted_blocks(planned):
            _write_block(handle, block)
            written += block.nbytes
        if written != expected:  # would silently shift every later tensor
            raise ConversionError(f"tensor {planned.source.name}: wrote {written} bytes, expected {expected}")
        writer.write_padding(handle, written)


#: Quantization names accepted by :func:`quantize_gguf` (llama.cpp's ``llama-quantize`` names).
QUANT_TYPES = ("Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q4_K_M", "Q4_K_S", "Q4_0", "Q3_K_M", "Q2_K",
               "IQ4_NL", "IQ4_XS", "F16", "BF16")


def quantize_gguf(src: Path, out: Path, quant: str, *, threads: int = 0) -> Path:
    """Quantize a GGUF with llama.cpp (``quant`` like ``Q8_0`` or ``Q4_K_M``), atomically."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise ConversionError("quantizing needs llama-cpp-python",
                              hint="Install the 'llama' extra: pip install 'iisearch-local[llama]'.") from exc
    name = quant.upper()
    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{name}", None) if name in QUANT_TYPES else None
    if ftype is None:
        raise ConversionError(f"unknown quantization {quant!r}", hint=f"Choose one of {', '.join(QUANT_TYPES)}.")
    src, out = Path(src), Path(out)
    if not src.is_file():
        raise ConversionError(f"{src} does not exist")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        status = llama_cpp.llama_model_quantize(os.fsencode(src), os.fsencode(partial), params)
        if status != 0:
            # llama.cpp reports a full disk only on its own stderr; name the likely cause here.
            low_space = shutil.disk_usage(out.parent).free < src.stat().st_size
            raise ConversionError(f"llama.cpp failed to quantize {src} to {name} (status {status})",
                                  hint=f"{out.parent} is nearly full; free some space." if low_space else None)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out
