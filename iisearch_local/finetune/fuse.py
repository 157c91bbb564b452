"""``iisearch finetune fuse``: merge trained adapters into the base and save a plain model folder.

The result is a Hugging Face-layout folder (``config.json``, safetensors, tokenizer files, our
keep-reasoning chat template in ``tokenizer_config.json``) that ``iisearch convert gguf|mlx`` and
``iisearch export lmstudio`` take. A quantized (MLX) base is dequantized by default, since the
converters need full-precision weights; ``dequantize=False`` keeps an MLX-only quantized folder.
The folder is written under a temporary name, gets a ``fuse.json`` marker, then is renamed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserFacingError
from .checkpoints import ADAPTER_CONFIG_FILE, ADAPTERS_FILE
from .config import FINE_TUNE_TYPES
from .modelio import base_shape, is_quantized, load_base

MARKER_FILE = "fuse.json"
ADAPTER_LEAVES = ("lora_a", "lora_b", "m")  # the tensors LoRA / DoRA layers add


class FuseError(UserFacingError):
    """The adapters cannot be fused into that base, or the output cannot be written."""


@dataclass(frozen=True)
class FuseResult:
    """A fused model folder and how it was made."""

    path: Path
    fused_modules: int
    dequantized: bool
    quantized: bool  # the saved folder still holds quantized weights (MLX-only)
    notes: tuple[str, ...]


def read_adapter_config(adapters: Path) -> dict:
    """The adapter folder's ``adapter_config.json``, checked enough for mlx-lm to use it."""
    path = Path(adapters) / ADAPTER_CONFIG_FILE
    if not Path(adapters).is_dir():
        raise FuseError(f"the adapter folder {adapters} does not exist")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FuseError(f"{path} is missing", hint="Give the `out` folder of a training run "
                        "(it holds adapters.safetensors and adapter_config.json).") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FuseError(f"{path} cannot be read: {exc}") from None
    if not isinstance(config, dict):
        raise FuseError(f"{path} is not a JSON object")
    kind = config.setdefault("fine_tune_type", "lora")
    if kind not in FINE_TUNE_TYPES:
        raise FuseError(f"{path}: unknown fine_tune_type {kind!r}")
    if kind != "full" and (not isinstance(config.get("lora_parameters"), dict)
                           or not isinstance(config.get("num_layers"), int)):
        raise FuseError(f"{path}: a {kind} adapter needs num_layers and lora_parameters")
    if not (Path(adapters) / ADAPTERS_FILE).is_file():
        raise FuseError(f"{Path(adapters) / ADAPTERS_FILE} is missing")
    return config


def _check_recorded_shape(adapter_config: dict, model_config: dict, base: Path) -> None:
    recorded = adapter_config.get("base_model")
    if not isinstance(recorded, dict):
        return  # adapters from plain mlx-lm: the tensor check below still catches a mismatch
    current = base_shape(model_config)
    differing = [key for key in recorded if key in current and recorded[key] != current[key]]
    if differing:
        trained = ", ".join(f"{key} {recorded[key]}" for key in differing)
        now = ", ".join(f"{key} {current[key]}" for key in differing)
        raise FuseError(f"the adapters do not match the base model {base}: they were trained on a "
                        f"model with {trained}; this base has {now}",
                        hint="Fuse onto the model named in the training config's model.base.")


def _apply_adapters(model, adapters: Path, adapter_config: dict, base: Path) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.tuner.utils import load_adapters

    try:
        load_adapters(model, str(adapters))
    except (ValueError, KeyError, TypeError) as exc:
        detail = str(exc).strip().replace("\n", " ")
        raise FuseError(f"the adapters in {adapters} do not fit the base model {base}: {detail}",
                        hint="Fuse onto the model the adapters were trained on.") from None
    if adapter_config["fine_tune_type"] == "full":
        return
    stored = set(mx.load(str(adapters / ADAPTERS_FILE)))
    expected = {name for name, _ in tree_flatten(model.parameters())
                if name.rsplit(".", 1)[-1] in ADAPTER_LEAVES}
    missing = sorted(expected - stored)
    if missing:
        raise FuseError(f"the adapters in {adapters} do not fit the base model {base}: they have no "
                        f"weights for {len(missing)} adapter tensors of this model (e.g. {missing[0]}); "
                        "it has more layers or other modules than the model they were trained on",
                        hint="Fuse onto the model the adapters were trained on.")


def fuse_adapters(base: Path, adapters: Path, out: Path, *, dequantize: bool | None = None,
                  protocol: str | None = None, progress: Callable[[str], None] | None = None) -> FuseResult:
    """Fuse ``adapters`` into ``base`` and save the model to ``out``.

    ``dequantize=None`` dequantizes exactly when the base is quantized (the converters need it).
    ``protocol`` picks the chat template (default: guessed from the base folder's name).
    """
    from mlx.utils import tree_unflatten
    from mlx_lm.utils import dequantize_model, load_tokenizer, save

    from ..convert.outputs import file_sha256, folder_written_whole
    from ..convert.pipeline import chat_template_for, protocol_for_source, set_chat_template

    base, adapters, out = Path(base), Path(adapters), Path(out)
    say = progress or (lambda message: None)
    if out.exists() and any(out.iterdir()) and not (out / MARKER_FILE).is_file():
        raise FuseError(f"{out} exists and is not a fused model folder",
                        hint="Choose a new --out folder; nothing was changed.")
    adapter_config = read_adapter_config(adapters)
    model, model_config = load_base(base)
    _check_recorded_shape(adapter_config, model_config, base)
    quantized = is_quantized(model)
    dequantize = quantized if dequantize is None else dequantize
    notes: list[str] = []
    if quantized and dequantize:
        notes.append("the base is quantized: the fused model is dequantized so `iisearch convert` can take it")
    elif quantized:
        notes.append("the fused model stays quantized: MLX can run it, `iisearch convert` cannot")
    _apply_adapters(model, adapters, adapter_config, base)
    fused = [(name, module.fuse(dequantize=dequantize)) for name, module in model.named_modules()
             if hasattr(module, "fuse")]
    if fused:
        model.update_modules(tree_unflatten(fused))
    if dequantize:
        model = dequantize_model(model)
        model_config.pop("quantization", None)
        model_config.pop("quantization_config", None)
    say(f"fused {len(fused)} modules; writing {out}")

    tokenizer = load_tokenizer(base, eos_token_ids=model_config.get("eos_token_id"))
    template = chat_template_for(protocol or protocol_for_source(base))
    # an earlier fuse output (checked above) is replaced only once ours is whole
    with folder_written_whole(out, error=FuseError, what=str(out)) as partial:
        save(partial, base, model, tokenizer, model_config, donate_model=False)
        set_chat_template(partial, template)
        marker = {"base": str(base), "adapters": str(adapters),
                  "adapters_sha256": file_sha256(adapters / ADAPTERS_FILE),
                  "fine_tune_type": adapter_config["fine_tune_type"], "fused_modules": len(fused),
                  "dequantized": bool(quantized and dequantize), "quantized": bool(quantized and not dequantize),
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (partial / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return FuseResult(path=out, fused_modules=len(fused), dequantized=bool(quantized and dequantize),
                      quantized=bool(quantized and not dequantize), notes=tuple(notes))
