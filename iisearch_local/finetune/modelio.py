"""Loading the base model for training and describing the adapters trained on it.

``adapter_config.json`` is written in mlx-lm's format (``fine_tune_type``, ``num_layers``,
``lora_parameters``), so ``mlx_lm.load(base, adapter_path=out)``, ``mlx_lm fuse`` and
``mlx_lm generate --adapter-path`` take our adapters as they are. We add ``base_model`` (the
shape of the model they were trained on) to name a mismatch plainly when fusing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UserFacingError
from .config import TrainConfig

# The config.json keys that decide whether adapters fit a model.
SHAPE_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "intermediate_size",
              "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size")


class ModelLoadError(UserFacingError):
    """The base model folder cannot be loaded by MLX."""


def load_base(path: Path) -> tuple[Any, dict]:
    """``(model, config)`` of an MLX or Hugging Face model folder, via mlx-lm."""
    try:
        from mlx_lm.utils import load_model
    except ImportError:
        raise ModelLoadError("training and fusing need MLX (mlx-lm is not installed)",
                             hint="pip install 'iisearch-local[finetune]'") from None
    path = Path(path)
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{path} is not a model folder (no config.json)",
                             hint="Give an MLX or Hugging Face model folder.")
    try:
        return load_model(path)
    except (FileNotFoundError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"cannot load the model {path} with MLX: {exc}") from None


def vocab_size(model_config: dict) -> int | None:
    size = model_config.get("vocab_size") or model_config.get("text_config", {}).get("vocab_size")
    return int(size) if size else None


def base_shape(model_config: dict) -> dict[str, Any]:
    """The config values adapters depend on (absent keys are left out)."""
    source = {**model_config.get("text_config", {}), **model_config}
    return {key: source[key] for key in SHAPE_KEYS if key in source}


def is_quantized(model) -> bool:
    import mlx.nn as nn

    return any(isinstance(module, (nn.QuantizedLinear, nn.QuantizedEmbedding))
               for _name, module in model.named_modules())


def prepare_model(model, config: TrainConfig) -> int:
    """Freeze ``model`` and make the trained part trainable; returns the trainable parameter count."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.utils import linear_to_lora_layers

    s = config.train
    layers = model.layers
    if s.num_layers > len(layers):
        raise ModelLoadError(f"train.num_layers is {s.num_layers} but the model has {len(layers)} layers",
                             hint="Use -1 to train all layers.")
    mx.random.seed(s.seed)  # the LoRA A matrices start random: the seed makes them repeatable
    model.freeze()
    if s.fine_tune_type == "full":
        if is_quantized(model):
            raise ModelLoadError("full fine-tuning needs an unquantized base model",
                                 hint="Use the Hugging Face (bf16) folder, or fine_tune_type = \"lora\".")
        for layer in layers[-max(s.num_layers, 0):]:
            layer.unfreeze()
    else:
        try:
            linear_to_lora_layers(model, s.num_layers, config.lora_parameters(),
                                  use_dora=s.fine_tune_type == "dora")
        except ValueError as exc:
            raise ModelLoadError(f"cannot add {s.fine_tune_type} layers to this model: {exc}") from None
    return sum(value.size for _name, value in tree_flatten(model.trainable_parameters()))


def adapter_config(config: TrainConfig, model_config: dict) -> dict[str, Any]:
    """The ``adapter_config.json`` of a run (mlx-lm's keys plus ``base_model``)."""
    s = config.train
    return {
        "fine_tune_type": s.fine_tune_type,
        "num_layers": s.num_layers,
        "lora_parameters": None if s.fine_tune_type == "full" else config.lora_parameters(),
        "model": str(config.base),
        "base_model": base_shape(model_config),
        "trainer": "iisearch-local",
    }
