"""The contract every model backend implements, and the types it returns.

The research loop only ever talks to a ``Backend``: it renders one growing text trace, asks the
backend to continue it until a stop string, and appends what the tools printed. Backends must
therefore (1) stream text deltas, (2) honour stop strings even when they straddle token
boundaries, and (3) evaluate only the tokens a call adds to the previous trace.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from ..errors import UserFacingError

FinishReason = Literal["stop", "eos", "length", "cancelled"]


@dataclass(frozen=True, kw_only=True)
class GenerationOptions:
    """How to sample one continuation. Defaults follow the authors' demo."""

    max_tokens: int = 4096
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = 20
    repeat_penalty: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GenerationResult:
    """What one call produced, and what it cost."""

    text: str
    finish_reason: FinishReason
    stop_string: str | None = None
    prompt_tokens: int
    prompt_tokens_evaluated: int
    completion_tokens: int
    prompt_seconds: float = 0.0
    generation_seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        if self.generation_seconds <= 0:
            return 0.0
        return self.completion_tokens / self.generation_seconds


class Generation:
    """A streaming generation: iterate for text deltas, then read ``result``.

    Wraps a generator that yields ``str`` deltas and *returns* the ``GenerationResult``.
    """

    def __init__(self, inner: Generator[str, None, GenerationResult]) -> None:
        self._inner = inner
        self._result: GenerationResult | None = None

    def __iter__(self) -> Iterator[str]:
        while True:
            try:
                yield next(self._inner)
            except StopIteration as done:
                self._result = done.value
                return

    @property
    def result(self) -> GenerationResult:
        if self._result is None:
            for _ in self:  # drain whatever the caller did not read
                pass
        assert self._result is not None
        return self._result

    def text(self) -> str:
        """Run to the end and return the full text."""
        return self.result.text


@dataclass(frozen=True, kw_only=True)
class LoadOptions:
    """How to load a model; each backend reads the fields that concern it."""

    context_size: int = 32768
    gpu_layers: int = -1
    batch_size: int = 512
    threads: int = 0
    use_mmap: bool = True
    yarn_factor: float = 0.0
    yarn_original_context: int = 32768
    extra: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """A loaded model that can continue a raw text prompt."""

    name: str
    model_path: Path

    @property
    def context_size(self) -> int: ...

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` with the model's tokenizer; special tokens are recognised."""
        ...

    def detokenize(self, tokens: Sequence[int]) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def generate(
        self,
        prompt: str,
        options: GenerationOptions = GenerationOptions(),
        *,
        cancel: threading.Event | None = None,
    ) -> Generation:
        """Continue ``prompt``; evaluate only the tokens not shared with the previous call."""
        ...

    def close(self) -> None: ...


BackendFactory = Callable[[Path, LoadOptions], Backend]


# --- errors -----------------------------------------------------------------------------------


class BackendError(UserFacingError):
    """A model could not be loaded or run."""


class ModelNotFoundError(BackendError):
    """The model file or folder does not exist."""


class ModelLoadError(BackendError):
    """The file exists but is not a loadable model (truncated, corrupted, wrong format)."""


class UnsupportedModelError(BackendError):
    """A valid model of an architecture or format this backend cannot run."""


class ContextOverflowError(BackendError):
    """The prompt does not fit in the context window."""

    def __init__(self, prompt_tokens: int, context_size: int) -> None:
        super().__init__(
            f"the prompt is {prompt_tokens} tokens but the context holds {context_size}",
            hint="Raise backend.context_size (with backend.yarn_factor for more than 32768) "
            "or shorten the input.",
        )
        self.prompt_tokens = prompt_tokens
        self.context_size = context_size


class BackendUnavailableError(BackendError):
    """The backend's library is not installed on this machine."""
