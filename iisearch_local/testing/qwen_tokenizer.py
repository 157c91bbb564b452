"""Rebuild the Qwen3 Hugging Face tokenizer offline from llama.cpp's vendored Qwen2 vocabulary.

llama.cpp ships ``models/ggml-vocab-qwen2.gguf`` (the full 151,936-entry Qwen vocabulary and its
151,387 merges) with reference tokenizations next to it. From that we write a byte-level BPE
``tokenizer.json`` plus ``tokenizer_config.json`` carrying the Qwen3 added tokens at their real ids,
so tests never download a tokenizer from a hub.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserFacingError

LLAMA_CPP_SRC_ENV = "IISEARCH_LLAMA_CPP_SRC"
# Where scripts/_setup.sh extracts them (IISEARCH_BUILD_CACHE/llama.cpp-src-<version>).
DEFAULT_LLAMA_CPP_SRC = Path.home() / ".cache" / "iisearch-local" / "build" / "llama.cpp-src-0.3.36"
VOCAB_RELATIVE_PATH = Path("models") / "ggml-vocab-qwen2.gguf"

#: Ids below this are ordinary BPE tokens; from here on the Qwen vocabulary holds added tokens.
FIRST_ADDED_ID = 151643
#: Rows of the embedding matrix (the vocabulary is padded to this size).
PADDED_VOCAB_SIZE = 151936
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"

# The Qwen2 pre-tokenizer: contractions, letter runs with one optional leading non-letter, single
# digits, punctuation runs, newline runs and whitespace (same split llama.cpp calls "qwen2").
QWEN2_SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


@dataclass(frozen=True)
class AddedToken:
    """One Qwen3 added token; ``special`` tokens are control tokens, the rest are plain text."""

    id: int
    content: str
    special: bool


_ADDED = [
    ENDOFTEXT, IM_START, IM_END, "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
    "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>",
    "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
]
# In Qwen3 the tool and reasoning markers are ordinary (non-special) added tokens.
_NOT_SPECIAL = {"<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>"}
QWEN3_ADDED_TOKENS: tuple[AddedToken, ...] = tuple(
    AddedToken(FIRST_ADDED_ID + offset, text, text not in _NOT_SPECIAL) for offset, text in enumerate(_ADDED)
)


class LlamaCppSourceMissing(UserFacingError):
    """The extracted llama.cpp sources (vocabularies, reference tokenizations) are not there."""


def llama_cpp_source_dir() -> Path:
    """The extracted llama.cpp source tree (``$IISEARCH_LLAMA_CPP_SRC`` or the default cache path)."""
    root = Path(os.environ.get(LLAMA_CPP_SRC_ENV) or DEFAULT_LLAMA_CPP_SRC).expanduser()
    if not (root / VOCAB_RELATIVE_PATH).is_file():
        raise LlamaCppSourceMissing(
            f"llama.cpp sources not found: {root / VOCAB_RELATIVE_PATH} does not exist",
            hint=f"Run scripts/test once (it downloads and extracts them), or set {LLAMA_CPP_SRC_ENV}.",
        )
    return root


def qwen2_vocab_path() -> Path:
    """Path of llama.cpp's ``ggml-vocab-qwen2.gguf``."""
    return llama_cpp_source_dir() / VOCAB_RELATIVE_PATH


def read_gguf_vocab(path: Path) -> tuple[list[str], list[str]]:
    """Token strings and merges (``"a b"``) stored in a GGUF file's tokenizer metadata."""
    import gguf  # imported late: only the fixture builder needs it

    reader = gguf.GGUFReader(path)

    def strings(key: str) -> list[str]:
        field = reader.fields[key]
        # Decoding the raw parts directly is ~100x faster than ReaderField.contents().
        return [bytes(field.parts[index]).decode("utf-8") for index in field.data]

    return strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges")


def build_qwen3_tokenizer(vocab_path: Path | None = None):
    """A ``tokenizers.Tokenizer`` equal to Qwen3's: byte-level BPE, NFC, Qwen2 split, added tokens."""
    from tokenizers import AddedToken as HfAddedToken
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    tokens, merges = read_gguf_vocab(vocab_path or qwen2_vocab_path())
    vocab = {text: index for index, text in enumerate(tokens[:FIRST_ADDED_ID])}
    pairs = [tuple(merge.split(" ", 1)) for merge in merges]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    # Added one by one, in id order, so each lands on its real Qwen3 id right after the BPE vocab.
    for added in QWEN3_ADDED_TOKENS:
        token = HfAddedToken(added.content, special=added.special, normalized=False)
        if added.special:
            tokenizer.add_special_tokens([token])
        else:
            tokenizer.add_tokens([token])
        if tokenizer.token_to_id(added.content) != added.id:
            raise RuntimeError(f"added token {added.content!r} did not get id {added.id}")
    return tokenizer


def tokenizer_config(chat_template: str) -> dict:
    """``tokenizer_config.json`` for the Qwen3 tokenizer: eos ``<|im_end|>``, pad ``<|endoftext|>``, no bos."""
    return {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(added.id): {
                "content": added.content, "lstrip": False, "normalized": False,
                "rstrip": False, "single_word": False, "special": added.special,
            }
            for added in QWEN3_ADDED_TOKENS
        },
        "bos_token": None,
        "chat_template": chat_template,
        "clean_up_tokenization_spaces": False,
        "eos_token": IM_END,
        "errors": "replace",
        "model_max_length": 131072,
        "pad_token": ENDOFTEXT,
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


def write_qwen3_tokenizer(out_dir: Path, *, vocab_path: Path | None = None) -> None:
    """Write ``tokenizer.json`` and ``tokenizer_config.json`` (with our chat template) into ``out_dir``."""
    from ..convert.templates import packaged_chat_template

    out_dir.mkdir(parents=True, exist_ok=True)
    build_qwen3_tokenizer(vocab_path).save(str(out_dir / "tokenizer.json"))
    config = tokenizer_config(packaged_chat_template())
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


REFERENCE_SEPARATOR = "\n__ggml_vocab_test__\n"


def reference_tokenizations() -> list[tuple[str, list[int]]]:
    """llama.cpp's reference Qwen2 tokenizations: (text, expected ids) pairs from ``.inp``/``.out``."""
    vocab = qwen2_vocab_path()
    inputs = vocab.with_name(vocab.name + ".inp").read_text(encoding="utf-8").split(REFERENCE_SEPARATOR)
    outputs = vocab.with_name(vocab.name + ".out").read_text(encoding="utf-8").split("\n")
    # Both files end with a terminator, leaving one empty trailing entry.
    inputs, outputs = inputs[:-1], outputs[:-1]
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} reference inputs but {len(outputs)} reference outputs")
    return [(text, [int(token) for token in line.split()]) for text, line in zip(inputs, outputs)]
