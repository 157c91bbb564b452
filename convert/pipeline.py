"""Library side of ``iisearch convert gguf|mlx``: a Hugging Face folder to a set of outputs.

GGUF: HF folder -> ``<name>.f16.gguf`` (our streaming writer) -> each requested quantization
(llama.cpp). MLX: HF folder -> ``<name>-MLX-<bits>bit/`` through ``mlx_lm.convert``. Each output
carries the chat template of the model's protocol, is written under a temporary name, and gets a
completion marker (see :mod:`.outputs`) so re-running skips what is already done.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ConversionError
from .gguf import OUT_TYPES, QUANT_TYPES, convert_hf_to_gguf, quantize_gguf
from .gguf_vocab import TOKENIZER_CONFIG_FILE
from .outputs import (
    OutputRecipe, folder_written_whole, gguf_is_done, mark_gguf_done, mark_mlx_done, mlx_is_done, source_fingerprint,
    text_sha256,
)
from .templates import KEEP_REASONING_TEMPLATE, packaged_chat_template

#: The chat template each protocol needs. Both II-Search models keep earlier reasoning in the
#: history, so today both use the same template; the table is where a protocol would diverge.
PROTOCOL_TEMPLATES: dict[str, str] = {"cir": KEEP_REASONING_TEMPLATE, "tools": KEEP_REASONING_TEMPLATE}
MLX_BITS = (4, 8)
MLX_GROUP_SIZES = (32, 64, 128)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ConvertedOutput:
    """One output of a conversion run."""

    path: Path
    kind: str  # "f16", "Q4_K_M", "mlx-4bit"...
    skipped: bool  # already present and complete: nothing was written


def chat_template_for(protocol: str) -> str:
    """The chat template text a model speaking ``protocol`` is converted with."""
    name = PROTOCOL_TEMPLATES.get(protocol)
    if name is None:
        raise ConversionError(f"unknown protocol {protocol!r}", hint=f"Choose one of {', '.join(PROTOCOL_TEMPLATES)}.")
    return packaged_chat_template(name)


def protocol_for_source(src: Path) -> str:
    """The protocol of a checkpoint judged by its folder name (registry match, else a guess)."""
    from ..models.registry import guess_protocol, spec_for_local_path

    spec = spec_for_local_path(Path(src))
    return spec.protocol if spec is not None else guess_protocol(Path(src))


def gguf_file_name(model_name: str, kind: str) -> str:
    """``II-Search-4B.Q4_K_M.gguf``: the naming of the registry's GGUF repositories."""
    return f"{model_name}.{kind}.gguf"


def normalize_quants(quants: list[str] | tuple[str, ...]) -> list[str]:
    """Upper-cased, de-duplicated quantization names; unknown names are refused up front."""
    names = list(dict.fromkeys(quant.upper() for quant in quants))
    unknown = [name for name in names if name not in QUANT_TYPES]
    if unknown:
        raise ConversionError(f"unknown quantization {unknown[0]!r}", hint=f"Choose from {', '.join(QUANT_TYPES)}.")
    return names


def convert_gguf_set(src: Path, *, out_dir: Path | None = None, out_type: str = "f16",
                     quants: list[str] | tuple[str, ...] = (), protocol: str | None = None,
                     progress: Progress | None = None) -> list[ConvertedOutput]:
    """Convert ``src`` to a ``out_type`` GGUF and quantize it to each of ``quants``.

    ``out_dir`` defaults to ``<src>-GGUF`` next to the source folder. Outputs already complete
    for the same source and template are kept (``skipped=True``).
    """
    src = Path(src)
    if out_type not in OUT_TYPES:
        raise ConversionError(f"unknown output type {out_type!r}", hint=f"Choose one of {', '.join(OUT_TYPES)}.")
    quant_names = normalize_quants(quants)
    if not (src / "config.json").is_file():
        raise ConversionError(f"{src / 'config.json'} is missing", hint="Pass a Hugging Face model folder.")
    template = chat_template_for(protocol or protocol_for_source(src))
    fingerprint = source_fingerprint(src)
    out_dir = Path(out_dir) if out_dir is not None else src.with_name(f"{src.name}-GGUF")
    say = progress or (lambda message: None)

    def recipe(kind: str) -> OutputRecipe:
        return OutputRecipe(source=fingerprint, kind=kind, chat_template_sha256=text_sha256(template))

    results: list[ConvertedOutput] = []
    base = out_dir / gguf_file_name(src.name, out_type)
    if gguf_is_done(base, recipe(out_type)):
        say(f"kept {base} (already converted)")
        results.append(ConvertedOutput(base, out_type, skipped=True))
    else:
        say(f"writing {base}")
        convert_hf_to_gguf(src, base, out_type=out_type, chat_template=template)
        mark_gguf_done(base, recipe(out_type))
        results.append(ConvertedOutput(base, out_type, skipped=False))

    for quant in quant_names:
        target = out_dir / gguf_file_name(src.name, quant)
        if gguf_is_done(target, recipe(quant)):
            say(f"kept {target} (already quantized)")
            results.append(ConvertedOutput(target, quant, skipped=True))
            continue
        say(f"quantizing to {target}")
        quantize_gguf(base, target, quant)
        mark_gguf_done(target, recipe(quant))
        results.append(ConvertedOutput(target, quant, skipped=False))
    return results


def mlx_folder_name(model_name: str, bits: int) -> str:
    """``II-Search-4B-MLX-4bit``: the LM Studio style name of an MLX conversion."""
    return f"{model_name}-MLX-{bits}bit"


def convert_mlx(src: Path, *, out_dir: Path | None = None, q_bits: int = 4, group_size: int = 64,
                protocol: str | None = None, progress: Progress | None = None) -> ConvertedOutput:
    """Quantize ``src`` to an MLX folder with ``mlx_lm.convert``, with our chat template.

    The folder is built under a temporary name and renamed when complete; ``out_dir`` is the
    parent folder (default: next to ``src``).
    """
    src = Path(src)
    if q_bits not in MLX_BITS:
        raise ConversionError(f"unsupported MLX bit width {q_bits}", hint=f"Choose one of {MLX_BITS}.")
    if group_size not in MLX_GROUP_SIZES:
        raise ConversionError(f"unsupported MLX group size {group_size}", hint=f"Choose one of {MLX_GROUP_SIZES}.")
    if not (src / "config.json").is_file():
        raise ConversionError(f"{src / 'config.json'} is missing", hint="Pass a Hugging Face model folder.")
    from .gguf import check_architecture
    from .hf_checkpoint import open_checkpoint

    check_architecture(open_checkpoint(src))  # also names missing or truncated shards
    template = chat_template_for(protocol or protocol_for_source(src))
    kind = f"mlx-{q_bits}bit-g{group_size}"
    recipe = OutputRecipe(source=source_fingerprint(src), kind=kind, chat_template_sha256=text_sha256(template))
    parent = Path(out_dir) if out_dir is not None else src.parent
    target = parent / mlx_folder_name(src.name, q_bits)
    say = progress or (lambda message: None)
    if mlx_is_done(target, recipe):
        say(f"kept {target} (already converted)")
        return ConvertedOutput(target, kind, skipped=True)
    try:
        from mlx_lm import convert as mlx_convert
    except ImportError as exc:
        raise ConversionError("MLX conversion needs mlx-lm",
                              hint="Install the 'mlx' extra: pip install 'iisearch-local[mlx]'.") from exc

    say(f"writing {target}")
    # an older or incomplete conversion is replaced only once ours is whole
    with folder_written_whole(target, error=ConversionError, what=f"the MLX folder {target}") as partial:
        with contextlib.redirect_stdout(sys.stderr):  # mlx-lm prints progress; our stdout is the result
            mlx_convert(str(src), mlx_path=str(partial), quantize=True, q_bits=q_bits, q_group_size=group_size)
        set_chat_template(partial, template)
        mark_mlx_done(partial, recipe)
    return ConvertedOutput(target, kind, skipped=False)


def set_chat_template(folder: Path, template: str) -> None:
    """Put ``template`` in tokenizer_config.json and drop a side ``chat_template.jinja`` that would win."""
    config_path = folder / TOKENIZER_CONFIG_FILE
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    config["chat_template"] = template
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "chat_template.jinja").unlink(missing_ok=True)
