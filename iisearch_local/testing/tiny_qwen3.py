"""Build a tiny random-weight Qwen3 checkpoint in Hugging Face layout, offline and without torch.

The checkpoint has the exact Qwen3 tensor names and shapes (q_norm/k_norm included), the real
151,936-row vocabulary and tokenizer, so llama.cpp, MLX and our converter treat it like the real
II-Search models, only thousands of times smaller.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..convert.safetensors_io import f32_to_bf16, write_safetensors
from .qwen_tokenizer import FIRST_ADDED_ID, PADDED_VOCAB_SIZE, write_qwen3_tokenizer

WeightDtype = Literal["bfloat16", "float16", "float32"]
BOS_TOKEN_ID = FIRST_ADDED_ID  # <|endoftext|>; Qwen3 never adds it, but the config names it
EOS_TOKEN_ID = FIRST_ADDED_ID + 2  # <|im_end|>
MAX_POSITIONS = 40960  # what Qwen3 configs declare
ROPE_THETA = 1_000_000.0
RMS_NORM_EPS = 1e-6
# With tied embeddings a weak random model just echoes its input token (its own embedding wins
# the logit dot product). Small embeddings and strong layers make the layers' output dominate the
# residual stream, so generations wander through the vocabulary (checked: ~60 distinct tokens in 60).
EMBEDDING_STD = 0.5
LAYER_GAIN = 3.0
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


@dataclass(frozen=True)
class TinyQwen3Shape:
    """Dimensions of a tiny Qwen3 model."""

    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    head_dim: int = 16
    intermediate: int = 128
    vocab_size: int = PADDED_VOCAB_SIZE


def qwen3_config(shape: TinyQwen3Shape, *, tie_embeddings: bool, dtype: WeightDtype) -> dict:
    """A Hugging Face ``config.json`` for a Qwen3ForCausalLM of the given shape."""
    return {
        "architectures": ["Qwen3ForCausalLM"],
        "attention_bias": False,
        "attention_dropout": 0.0,
        "bos_token_id": BOS_TOKEN_ID,
        "eos_token_id": EOS_TOKEN_ID,
        "head_dim": shape.head_dim,
        "hidden_act": "silu",
        "hidden_size": shape.hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": shape.intermediate,
        "max_position_embeddings": MAX_POSITIONS,
        "max_window_layers": shape.layers,
        "model_type": "qwen3",
        "num_attention_heads": shape.heads,
        "num_hidden_layers": shape.layers,
        "num_key_value_heads": shape.kv_heads,
        "rms_norm_eps": RMS_NORM_EPS,
        "rope_scaling": None,
        "rope_theta": ROPE_THETA,
        "sliding_window": None,
        "tie_word_embeddings": tie_embeddings,
        "torch_dtype": dtype,
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": shape.vocab_size,
    }


def qwen3_tensor_shapes(shape: TinyQwen3Shape, *, tie_embeddings: bool) -> dict[str, tuple[int, ...]]:
    """Every Qwen3 tensor name with its (out, in) shape, in checkpoint order."""
    hidden, q_width, kv_width = shape.hidden_size, shape.heads * shape.head_dim, shape.kv_heads * shape.head_dim
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (shape.vocab_size, hidden)}
    for index in range(shape.layers):
        prefix = f"model.layers.{index}"
        shapes.update({
            f"{prefix}.input_layernorm.weight": (hidden,),
            f"{prefix}.self_attn.q_proj.weight": (q_width, hidden),
            f"{prefix}.self_attn.k_proj.weight": (kv_width, hidden),
            f"{prefix}.self_attn.v_proj.weight": (kv_width, hidden),
            f"{prefix}.self_attn.o_proj.weight": (hidden, q_width),
            f"{prefix}.self_attn.q_norm.weight": (shape.head_dim,),
            f"{prefix}.self_attn.k_norm.weight": (shape.head_dim,),
            f"{prefix}.post_attention_layernorm.weight": (hidden,),
            f"{prefix}.mlp.gate_proj.weight": (shape.intermediate, hidden),
            f"{prefix}.mlp.up_proj.weight": (shape.intermediate, hidden),
            f"{prefix}.mlp.down_proj.weight": (hidden, shape.intermediate),
        })
    shapes["model.norm.weight"] = (hidden,)
    if not tie_embeddings:
        shapes["lm_head.weight"] = (shape.vocab_size, hidden)
    return shapes


def random_qwen3_weights(shape: TinyQwen3Shape, *, tie_embeddings: bool, seed: int) -> dict[str, np.ndarray]:
    """Float32 random weights: norms near 1, projections scaled by ``LAYER_GAIN / sqrt(fan_in)``."""
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}
    for name, dims in qwen3_tensor_shapes(shape, tie_embeddings=tie_embeddings).items():
        if len(dims) == 1:  # RMSNorm scales
            values = 1.0 + 0.1 * rng.standard_normal(dims)
        elif name.endswith(("embed_tokens.weight", "lm_head.weight")):
            values = EMBEDDING_STD * rng.standard_normal(dims)
        else:
            values = (LAYER_GAIN / np.sqrt(dims[1])) * rng.standard_normal(dims)
        weights[name] = values.astype(np.float32)
    return weights


def _split_into_shards(names: list[str], sizes: dict[str, int], shards: int) -> list[list[str]]:
    """Consecutive groups of tensors with roughly equal byte counts (never an empty group)."""
    target = sum(sizes.values()) / shards
    groups: list[list[str]] = [[]]
    filled = 0
    for position, name in enumerate(names):
        remaining_names, remaining_groups = len(names) - position, shards - len(groups)
        if groups[-1] and remaining_groups > 0 and (filled >= target * len(groups) or remaining_names <= remaining_groups):
            groups.append([])
        groups[-1].append(name)
        filled += sizes[name]
    return groups


def build_tiny_qwen3(
    out_dir: Path,
    *,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    head_dim: int = 16,
    intermediate: int = 128,
    tie_embeddings: bool = True,
    shards: int = 1,
    seed: int = 0,
    dtype: WeightDtype = "bfloat16",
    tokenizer_source: Path | None = None,
) -> Path:
    """Write a random-weight Qwen3 checkpoint (config, safetensors, tokenizer) into ``out_dir``.

    ``shards > 1`` splits the weights over several files with a ``model.safetensors.index.json``;
    ``tokenizer_source`` copies the tokenizer files from another tiny model instead of rebuilding them.
    """
    shape = TinyQwen3Shape(hidden_size, layers, heads, kv_heads, head_dim, intermediate)
    if shards < 1:
        raise ValueError("shards must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = random_qwen3_weights(shape, tie_embeddings=tie_embeddings, seed=seed)
    if dtype == "bfloat16":
        stored = {name: f32_to_bf16(values) for name, values in weights.items()}
    elif dtype in ("float16", "float32"):
        stored = {name: values.astype(dtype) for name, values in weights.items()}
    else:
        raise ValueError(f"unsupported dtype {dtype!r}")
    bf16 = frozenset(stored) if dtype == "bfloat16" else frozenset()

    names = list(stored)
    groups = _split_into_shards(names, {name: stored[name].nbytes for name in names}, shards)
    if len(groups) == 1:
        write_safetensors(out_dir / "model.safetensors", stored, bf16=bf16)
    else:
        weight_map: dict[str, str] = {}
        total = 0
        for number, group in enumerate(groups, start=1):
            file_name = f"model-{number:05d}-of-{len(groups):05d}.safetensors"
            total += write_safetensors(out_dir / file_name, {name: stored[name] for name in group}, bf16=bf16)
            weight_map.update(dict.fromkeys(group, file_name))
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")

    config = qwen3_config(shape, tie_embeddings=tie_embeddings, dtype=dtype)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    generation = {"bos_token_id": BOS_TOKEN_ID, "eos_token_id": [EOS_TOKEN_ID, BOS_TOKEN_ID],
                  "pad_token_id": BOS_TOKEN_ID, "do_sample": True, "temperature": 0.6, "top_p": 0.95}
    (out_dir / "generation_config.json").write_text(json.dumps(generation, indent=2) + "\n")
    if tokenizer_source is None:
        write_qwen3_tokenizer(out_dir)
    else:  # rebuilding the tokenizer takes ~10 s; reuse one already written
        for file_name in TOKENIZER_FILES:
            shutil.copyfile(Path(tokenizer_source) / file_name, out_dir / file_name)
    return out_dir
