"""Turn a Hugging Face byte-level BPE tokenizer (Qwen family) into GGUF tokenizer metadata."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConversionError
from .hf_checkpoint import HfCheckpoint

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
CHAT_TEMPLATE_FILE = "chat_template.jinja"  # newer transformers store the template on its own
# GGUF token types (llama.cpp's llama_token_type).
NORMAL, CONTROL, USER_DEFINED, UNUSED = 1, 3, 4, 5


@dataclass(frozen=True)
class GgufVocab:
    """Everything llama.cpp needs to rebuild the tokenizer."""

    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    eos_id: int
    pad_id: int | None
    bos_id: int | None
    add_bos: bool
    chat_template: str | None


def _merge_text(merge: object) -> str:
    # tokenizers writes merges either as "a b" strings or (since 0.20) as ["a", "b"] pairs.
    if isinstance(merge, str):
        return merge
    if isinstance(merge, list) and len(merge) == 2:
        return f"{merge[0]} {merge[1]}"
    raise ConversionError(f"unexpected merge entry {merge!r} in {TOKENIZER_FILE}")


def _token_text(value: object) -> str | None:
    # tokenizer_config.json holds special tokens as plain strings or as AddedToken dicts.
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _chat_template(checkpoint: HfCheckpoint, tokenizer_config: dict) -> str | None:
    template = tokenizer_config.get("chat_template")
    if isinstance(template, list):  # named templates: llama.cpp wants the default one
        named = {entry.get("name"): entry.get("template") for entry in template if isinstance(entry, dict)}
        template = named.get("default")
    if isinstance(template, str):
        return template
    side_file = checkpoint.folder / CHAT_TEMPLATE_FILE
    return side_file.read_text(encoding="utf-8") if side_file.is_file() else None


def read_bpe_vocab(checkpoint: HfCheckpoint, *, vocab_size: int) -> GgufVocab:
    """Tokens padded to ``vocab_size`` with ``[PADn]``, their types, merges and special ids."""
    tokenizer = checkpoint.read_json(TOKENIZER_FILE)
    if tokenizer is None:
        raise ConversionError(f"{checkpoint.folder / TOKENIZER_FILE} is missing",
                              hint="The GGUF needs the tokenizer; copy tokenizer.json next to config.json.")
    model = tokenizer.get("model") or {}
    if model.get("type") != "BPE" or not isinstance(model.get("vocab"), dict):
        raise ConversionError(f"{TOKENIZER_FILE} in {checkpoint.folder} is not a byte-level BPE tokenizer")
    tokenizer_config = checkpoint.read_json(TOKENIZER_CONFIG_FILE) or {}

    by_id: dict[int, tuple[str, int]] = {index: (text, NORMAL) for text, index in model["vocab"].items()}
    for added in tokenizer.get("added_tokens", []):
        # Special added tokens are control tokens; the rest (Qwen3's <think>, <tool_call>...) are
        # user-defined: always matched as one token, but printed like text.
        by_id[int(added["id"])] = (added["content"], CONTROL if added.get("special") else USER_DEFINED)
    largest = max(by_id)
    if largest >= vocab_size:
        raise ConversionError(
            f"{checkpoint.folder / TOKENIZER_FILE} has token id {largest} but vocab_size in config.json is "
            f"only {vocab_size}", hint="The tokenizer does not belong to this model.")
    tokens: list[str] = []
    types: list[int] = []
    for index in range(vocab_size):
        text, kind = by_id.get(index, (f"[PAD{index}]", UNUSED))
        tokens.append(text)
        types.append(kind)

    ids = {text: index for index, text in enumerate(tokens)}

    def special_id(key: str, fallback: object = None) -> int | None:
        text = _token_text(tokenizer_config.get(key))
        if text is not None:
            if text not in ids:
                raise ConversionError(f"{key} {text!r} of {TOKENIZER_CONFIG_FILE} is not in the vocabulary")
            return ids[text]
        return fallback if isinstance(fallback, int) else None

    eos_id = special_id("eos_token", checkpoint.config.get("eos_token_id"))
    if eos_id is None:
        raise ConversionError(f"{checkpoint.folder} names no end-of-sequence token")
    return GgufVocab(
        tokens=tokens,
        token_types=types,
        merges=[_merge_text(merge) for merge in model.get("merges", [])],
        eos_id=eos_id,
        pad_id=special_id("pad_token"),
        bos_id=special_id("bos_token", checkpoint.config.get("bos_token_id")),
        add_bos=bool(tokenizer_config.get("add_bos_token", False)),
        chat_template=_chat_template(checkpoint, tokenizer_config),
    )


def add_vocab(writer, vocab: GgufVocab, *, pre_tokenizer: str) -> None:
    """Write the ``tokenizer.*`` keys of a GPT-2 style (byte-level BPE) vocabulary."""
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre_tokenizer)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.token_types)
    writer.add_token_merges(vocab.merges)
    writer.add_eos_token_id(vocab.eos_id)
    if vocab.pad_id is not None:
        writer.add_pad_token_id(vocab.pad_id)
    if vocab.bos_id is not None:
        writer.add_bos_token_id(vocab.bos_id)
    writer.add_add_bos_token(vocab.add_bos)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)

