"""The llama.cpp backend (llama-cpp-python): GGUF models on CPU, CUDA or Metal.

Prefix reuse: llama.cpp keeps the KV cache of the last call's tokens. Before each call we match
the new prompt against those tokens (``prefix.TokenHistory``), rewind the cache to the shared
part and evaluate only the rest, so a trace that grows by one observation costs one observation.
"""

from __future__ import annotations

import ctypes
import random
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import llama_cpp

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
from .gguf_header import GGUFHeaderError, read_gguf_header
from .prefix import TokenHistory
from .streaming import stream_text

# llama.cpp phrases that tell an unknown architecture apart from a damaged file.
_UNSUPPORTED_MARKERS = ("unknown model architecture", "unsupported model architecture")


@contextmanager
def _captured_llama_log() -> Iterator[list[str]]:
    """Collect llama.cpp's log lines while loading, so a failure can say why."""
    lines: list[str] = []

    @llama_cpp.llama_log_callback
    def collect(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        lines.append(text.decode("utf-8", errors="replace"))

    llama_cpp.llama_log_set(collect, ctypes.c_void_p(0))
    try:
        yield lines
    finally:
        from llama_cpp import _logger  # restore the library's own logger callback

        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))


def find_gguf(path: Path) -> Path:
    """Accept a .gguf file, or a folder holding exactly one (or one first shard)."""
    if not path.exists():
        raise ModelNotFoundError(f"model file not found: {path}")
    if path.is_file():
        return path
    candidates = sorted(p for p in path.glob("*.gguf") if "-of-" not in p.name or "-00001-of-" in p.name)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise UnsupportedModelError(f"{path} holds no .gguf file",
                                    hint="The llama.cpp backend needs a GGUF model; "
                                    "an MLX or safetensors folder needs --backend mlx.")
    raise ModelLoadError(f"{path} holds several .gguf files; pass one of them: "
                         + ", ".join(p.name for p in candidates))


class LlamaCppBackend:
    """A GGUF model loaded with llama.cpp."""

    name = "llama"

    def __init__(self, model_path: Path, options: LoadOptions = LoadOptions()) -> None:
        self.model_path = find_gguf(Path(model_path))
        try:
            header = read_gguf_header(self.model_path)
        except GGUFHeaderError as exc:
            raise ModelLoadError(f"{self.model_path}: {exc}") from None
        kwargs: dict[str, object] = {}
        if options.yarn_factor > 0:
            kwargs.update(rope_scaling_type=llama_cpp.LLAMA_ROPE_SCALING_TYPE_YARN,
                          rope_freq_scale=1.0 / options.yarn_factor,
                          yarn_orig_ctx=options.yarn_original_context)
        gpu_layers = options.gpu_layers if llama_cpp.llama_supports_gpu_offload() else 0
        with _captured_llama_log() as log:
            try:
                self._llm = llama_cpp.Llama(
                    model_path=str(self.model_path), n_ctx=options.context_size,
                    n_gpu_layers=gpu_layers, n_batch=options.batch_size,
                    n_threads=options.threads or None, use_mmap=options.use_mmap,
                    verbose=False, **kwargs)
            except (ValueError, RuntimeError, OSError) as exc:
                raise self._load_error(header.architecture, "".join(log), exc) from None
        self._vocab = self._llm._model.vocab
        self._piece_cache: dict[int, bytes] = {}
        self._history = TokenHistory(self._token_bytes)
        self._lock = threading.Lock()

    def _token_bytes(self, token: int) -> bytes:
        piece = self._piece_cache.get(token)
        if piece is None:
            piece = self._piece_cache[token] = self._llm.detokenize([token], special=True)
        return piece

    def _load_error(self, architecture: str | None, log: str, exc: Exception) -> Exception:
        if any(marker in log for marker in _UNSUPPORTED_MARKERS):
            return UnsupportedModelError(
                f"{self.model_path}: llama.cpp cannot run architecture {architecture!r}")
        detail = next((line.strip() for line in log.splitlines()
                       if "error" in line.lower() or "failed" in line.lower()), str(exc))
        return ModelLoadError(f"{self.model_path}: not a loadable GGUF model ({detail})",
                              hint="The file may be truncated or corrupted; download or convert it again.")

    @property
    def context_size(self) -> int:
        return self._llm.n_ctx()

    def tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def detokenize(self, tokens: Sequence[int]) -> str:
        return self._llm.detokenize(list(tokens), special=True).decode("utf-8", errors="replace")

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def generate(self, prompt: str, options: GenerationOptions = GenerationOptions(), *,
                 cancel: threading.Event | None = None) -> Generation:
        tokens, cached = self._history.plan(prompt, self.tokenize)
        if len(tokens) >= self.context_size:
            raise ContextOverflowError(len(tokens), self.context_size)
        return Generation(self._run(tokens, cached, options, cancel))

    def _run(self, tokens: list[int], cached: int, options: GenerationOptions,
             cancel: threading.Event | None) -> Generator[str, None, GenerationResult]:
        llm = self._llm
        if not self._lock.acquire(blocking=False):
            raise BackendError("this model is already generating; one call at a time per backend")
        try:
            start = time.perf_counter()
            # Keep at least one token to evaluate: sampling needs fresh logits.
            reuse = min(cached, len(tokens) - 1)
            llm.n_tokens = reuse  # eval() drops the KV cache past this point
            llm.set_seed(options.seed if options.seed is not None else random.getrandbits(31))
            stream = llm.generate(tokens[reuse:], reset=False, temp=options.temperature,
                                  top_k=options.top_k, top_p=options.top_p, min_p=0.0,
                                  repeat_penalty=options.repeat_penalty)
            try:
                return (yield from stream_text(
                    stream, token_bytes=self._token_bytes,
                    is_end=lambda token: llama_cpp.llama_vocab_is_eog(self._vocab, token),
                    options=options, budget=min(options.max_tokens, self.context_size - len(tokens)),
                    cancel=cancel, prompt_tokens=len(tokens), prompt_evaluated=len(tokens) - reuse,
                    started=start))
            finally:
                stream.close()
                self._history.set(llm.input_ids[: llm.n_tokens].tolist())
        finally:
            self._lock.release()

    def close(self) -> None:
        llm, self._llm = getattr(self, "_llm", None), None
        if llm is not None:
            llm.close()
