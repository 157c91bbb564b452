"""The MLX backend (mlx-lm): MLX / safetensors folders on Apple Silicon (and MLX's CPU build).

Prefix reuse: we keep one mlx-lm prompt cache across calls together with the tokens it holds
(``prefix.TokenHistory``); each call trims the cache back to the part the new prompt shares and
feeds only the remaining tokens.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

import mlx.core as mx
from mlx_lm.generate import generate_step
from mlx_lm.models.cache import make_prompt_cache, trim_prompt_cache
from mlx_lm.sample_utils import make_logits_processors, make_sampler
from mlx_lm.utils import load as mlx_load

from .base import (
    BackendError,
    ContextOverflowError,
    Generation,
    GenerationOptions,
    GenerationResult,
    LoadOptions,
    ModelLoadError,
    ModelNotFoundError,
    UnsupportedModelError,
)
from .prefix import TokenHistory
from .streaming import stream_text


def _byte_level_alphabet() -> dict[str, int]:
    """Map the printable characters of byte-level BPE vocabularies back to raw bytes."""
    direct = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
              *range(ord("®"), ord("ÿ") + 1)]
    mapping = {chr(b): b for b in direct}
    shifted = 0
    for b in range(256):
        if b not in direct:
            mapping[chr(256 + shifted)] = b
            shifted += 1
    return mapping


def token_bytes_table(hf_tokenizer, vocab_size: int) -> list[bytes]:
    """Raw bytes of every token id, so detokenizing is exact for any prefix of a stream.

    (mlx-lm's streaming detokenizer trims a leading space at the start of a stream, which
    would corrupt a continued research trace.)
    """
    alphabet = _byte_level_alphabet()
    table = [b""] * vocab_size
    for piece, index in hf_tokenizer.get_vocab().items():
        if index < vocab_size:
            table[index] = bytes(alphabet[ch] for ch in piece) if all(
                ch in alphabet for ch in piece) else piece.encode("utf-8")
    for index, added in hf_tokenizer.added_tokens_decoder.items():
        if index < vocab_size:
            table[index] = added.content.encode("utf-8")
    return table


def _check_folder(path: Path) -> dict:
    if not path.exists():
        raise ModelNotFoundError(f"model folder not found: {path}")
    if path.is_file():
        raise UnsupportedModelError(
            f"{path} is a single file; the MLX backend needs an MLX or safetensors folder",
            hint="A .gguf file runs with --backend llama.")
    config_file = path / "config.json"
    if not config_file.exists():
        raise ModelLoadError(f"{path} has no config.json: not an MLX / Hugging Face model folder")
    try:
        return json.loads(config_file.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{config_file}: not valid JSON ({exc})") from None


class MlxBackend:
    """An MLX model folder loaded with mlx-lm."""

    name = "mlx"

    def __init__(self, model_path: Path, options: LoadOptions = LoadOptions()) -> None:
        self.model_path = Path(model_path)
        config = _check_folder(self.model_path)
        overrides: dict[str, object] = {}
        if options.yarn_factor > 0:
            overrides["rope_scaling"] = {
                "type": "yarn", "rope_type": "yarn", "factor": options.yarn_factor,
                "original_max_position_embeddings": options.yarn_original_context}
        try:
            self._model, self._tokenizer = mlx_load(str(self.model_path), model_config=overrides)
        except ValueError as exc:
            if "not supported" in str(exc):
                raise UnsupportedModelError(
                    f"{self.model_path}: mlx-lm cannot run model type "
                    f"{config.get('model_type')!r}") from None
            raise ModelLoadError(f"{self.model_path}: {exc}") from None
        except (FileNotFoundError, OSError, RuntimeError, KeyError) as exc:
            raise ModelLoadError(f"{self.model_path}: the weights could not be read ({exc})",
                                 hint="The folder may be incomplete or corrupted; "
                                 "download or convert it again.") from None
        self._context_size = options.context_size
        hf = self._tokenizer._tokenizer
        vocab_size = int(config.get("vocab_size") or len(hf))
        self._token_bytes = token_bytes_table(hf, max(vocab_size, len(hf)))
        self._eos = set(self._tokenizer.eos_token_ids)
        if hf.eos_token_id is not None:
            self._eos.add(hf.eos_token_id)
        self._cache = make_prompt_cache(self._model)
        self._history = TokenHistory(self._token_bytes.__getitem__)
        self._lock = threading.Lock()

    @property
    def context_size(self) -> int:
        return self._context_size

    def tokenize(self, text: str) -> list[int]:
        return list(self._tokenizer._tokenizer.encode(text, add_special_tokens=False))

    def detokenize(self, tokens: Sequence[int]) -> str:
        return b"".join(self._token_bytes[t] for t in tokens).decode("utf-8", errors="replace")

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def generate(self, prompt: str, options: GenerationOptions = GenerationOptions(), *,
                 cancel: threading.Event | None = None) -> Generation:
        tokens, cached = self._history.plan(prompt, self.tokenize)
        if len(tokens) >= self.context_size:
            raise ContextOverflowError(len(tokens), self.context_size)
        return Generation(self._run(tokens, cached, options, cancel))

    def _rewind_to(self, cached: int, tokens: list[int]) -> int:
        """Trim the prompt cache to the ``cached`` shared tokens; return how many are kept."""
        keep = min(cached, len(tokens) - 1)  # the last prompt token must be fed for logits
        surplus = self._cache[0].offset - keep
        if surplus > 0:
            trim_prompt_cache(self._cache, surplus)
        self._history.truncate(keep)
        return keep

    def _run(self, tokens: list[int], cached: int, options: GenerationOptions,
             cancel: threading.Event | None) -> Generator[str, None, GenerationResult]:
        if not self._lock.acquire(blocking=False):
            raise BackendError("this model is already generating; one call at a time per backend")
        try:
            start = time.perf_counter()
            reuse = self._rewind_to(cached, tokens)
            mx.random.seed(options.seed if options.seed is not None else random.getrandbits(31))
            budget = min(options.max_tokens, self.context_size - len(tokens))
            sampler = make_sampler(temp=options.temperature, top_p=options.top_p,
                                   top_k=options.top_k)
            processors = (make_logits_processors(repetition_penalty=options.repeat_penalty)
                          if options.repeat_penalty != 1.0 else None)
            steps = generate_step(mx.array(tokens[reuse:]), self._model, max_tokens=budget,
                                  sampler=sampler, logits_processors=processors,
                                  prompt_cache=self._cache)
            generated: list[int] = []

            def sampled() -> Iterator[int]:
                for token, _ in steps:
                    generated.append(token)
                    yield token

            try:
                return (yield from stream_text(
                    sampled(), token_bytes=self._token_bytes.__getitem__,
                    is_end=self._eos.__contains__, options=options, budget=budget, cancel=cancel,
                    prompt_tokens=len(tokens), prompt_evaluated=len(tokens) - reuse,
                    started=start))
            finally:
                steps.close()
                # The cache holds the prompt and the generated tokens that were fed back in.
                self._history.set((tokens + generated)[: self._cache[0].offset])
        finally:
            self._lock.release()

    def close(self) -> None:
        self._cache = make_prompt_cache(self._model)
        self._history.truncate(0)
