"""A backend on any OpenAI-compatible server with raw text completions (vLLM, SGLang,
llama.cpp's server, llama-cpp-python's server, LM Studio).

The research loop needs raw continuation of one growing trace, so this talks to
``POST /v1/completions`` (never the chat endpoint) with ``stream: true``. Servers differ in what
they report, so the contract is rebuilt on our side:

* stop strings: our ``StopMatcher`` runs on the stream and closes it at the first stop string, so
  the stop is found and named even when the server cannot say which one ended the text (and an
  end-of-text is never mistaken for a stop). The server is told the stops too (it saves work)
  once it has shown that it names them (vLLM ``stop_reason``, SGLang ``matched_stop``, llama.cpp
  ``stopping_word``).
* token counts: the server's ``usage`` when it sends one, else the server's tokenizer endpoint,
  else an estimate (``token_counts_estimated`` is then True).
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from .base import (
    BackendError,
    ContextOverflowError,
    FinishReason,
    Generation,
    GenerationOptions,
    GenerationResult,
    LoadOptions,
)
from .stops import StopMatcher

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT_SECONDS = 600.0
DEFAULT_RETRIES = 3
BACKOFF_FIRST_SECONDS = 0.25
BACKOFF_MAX_SECONDS = 8.0
CHARS_PER_TOKEN_ESTIMATE = 4  # when the server neither counts nor tokenizes
API_KEY_ENV = "OPENAI_API_KEY"
# Fields in which servers name the stop string that ended a completion.
_STOP_NAME_FIELDS = ("stop_reason", "matched_stop", "stopping_word")
_RETRY_STATUS = {429, 500, 502, 503, 504}


class ServerError(BackendError):
    """The server answered with an error, or could not be reached."""


class OpenAIBackend:
    """A model served by an OpenAI-compatible server; ``model_path`` holds the served model name."""

    name = "openai"

    def __init__(self, model: Path | str = "", options: LoadOptions = LoadOptions(), *,
                 base_url: str | None = None, api_key: str | None = None,
                 timeout: float | None = None, retries: int | None = None,
                 context_size: int | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        settings: Mapping[str, Any] = dict(options.extra.get("openai") or {})  # type: ignore[arg-type]
        self.base_url = (base_url or settings.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        if self.base_url.endswith("/v1"):
            self.base_url = self.base_url[:-3]  # users often paste the /v1 URL
        key = api_key or settings.get("api_key") or os.environ.get(API_KEY_ENV) or ""
        self.retries = int(settings.get("retries", DEFAULT_RETRIES) if retries is None else retries)
        self._context_size = int(context_size or settings.get("context_size") or options.context_size)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            headers=headers, transport=transport,
            timeout=httpx.Timeout(float(timeout or settings.get("timeout")
                                        or DEFAULT_TIMEOUT_SECONDS), connect=10.0))
        served = self.served_models()
        wanted = str(model or settings.get("model") or "")
        if not wanted:
            if not served:
                raise ServerError(f"{self.base_url} lists no models at /v1/models",
                                  hint="Set openai.model to the name the server serves.")
            wanted = served[0]
        self.model = wanted
        self.model_path = Path(wanted)
        self._tokenizer_route: str | None = None  # found on first use
        self._server_names_stops = False
        self.token_counts_estimated = False
        self._lock = threading.Lock()

    # --- HTTP -----------------------------------------------------------------------------

    def _url(self, route: str) -> str:
        return f"{self.base_url}{route}"

    def _send(self, method: str, route: str, *, body: dict | None = None,
              stream: bool = False) -> httpx.Response:
        """One request with bounded retries on connection errors, 429 and 5xx."""
        for attempt in range(self.retries + 1):
            try:
                request = self._client.build_request(method, self._url(route), json=body)
                response = self._client.send(request, stream=stream)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ConnectTimeout) as exc:
                if attempt >= self.retries:
                    raise ServerError(
                        f"cannot reach the model server at {self.base_url} ({exc})",
                        hint="Start the server, or fix openai.base_url "
                             "(e.g. http://127.0.0.1:8000 for vLLM).") from None
            except httpx.TimeoutException:
                raise ServerError(f"the model server at {self.base_url} timed out",
                                  hint="Raise openai.timeout.") from None
            else:
                if response.status_code not in _RETRY_STATUS or attempt >= self.retries:
                    return response
                response.close()
            time.sleep(min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** attempt))
        raise AssertionError("unreachable")

    def served_models(self) -> list[str]:
        """Model names from ``/v1/models`` (empty when the server does not list them)."""
        response = self._send("GET", "/v1/models")
        if response.status_code != 200:
            return []
        try:
            return [str(m["id"]) for m in response.json().get("data", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            return []

    def _fail(self, response: httpx.Response) -> ServerError:
        response.read()
        detail = response.text.strip()[:500]
        try:
            error = response.json().get("error", detail)
            detail = str(error.get("message", error) if isinstance(error, dict) else error)
        except (ValueError, AttributeError):
            pass
        if response.status_code == 404 or "model" in detail.lower():
            models = self.served_models()
            listing = ", ".join(models) if models else "the server did not list its models"
            return ServerError(
                f"the server at {self.base_url} cannot run model {self.model!r} "
                f"(HTTP {response.status_code}: {detail})",
                hint=f"Served models: {listing}. Set openai.model or pass --model.")
        return ServerError(f"the model server answered HTTP {response.status_code}: {detail}")

    # --- tokens ---------------------------------------------------------------------------

    @property
    def context_size(self) -> int:
        return self._context_size

    def _tokenizer_requests(self, text: str) -> list[tuple[str, dict]]:
        return [("/tokenize", {"content": text, "add_special": False, "parse_special": True,
                               "model": self.model, "prompt": text,
                               "add_special_tokens": False}),
                ("/extras/tokenize", {"input": text, "model": self.model})]

    def _server_tokenize(self, text: str) -> list[int] | None:
        """The server's own tokenizer (llama.cpp, vLLM, llama-cpp-python routes), if any."""
        if self._tokenizer_route == "":
            return None
        for route, body in self._tokenizer_requests(text):
            if self._tokenizer_route not in (None, route):
                continue
            response = self._send("POST", route, body=body)
            if response.status_code == 200:
                try:
                    tokens = [int(t) for t in response.json()["tokens"]]
                except (ValueError, KeyError, TypeError):
                    continue
                self._tokenizer_route = route
                return tokens
        self._tokenizer_route = ""
        return None

    def tokenize(self, text: str) -> list[int]:
        tokens = self._server_tokenize(text)
        if tokens is None:
            raise BackendError(f"the server at {self.base_url} has no tokenizer endpoint")
        return tokens

    def detokenize(self, tokens: Sequence[int]) -> str:
        for route, key in (("/detokenize", None), ("/extras/detokenize", "text")):
            response = self._send("POST", route, body={"tokens": list(tokens), "model": self.model})
            if response.status_code == 200:
                data = response.json()
                for name in (key, "content", "prompt", "text"):
                    if name and isinstance(data.get(name), str):
                        return data[name]
        raise BackendError(f"the server at {self.base_url} has no detokenize endpoint")

    def count_tokens(self, text: str) -> int:
        tokens = self._server_tokenize(text)
        if tokens is not None:
            return len(tokens)
        self.token_counts_estimated = True
        return math.ceil(len(text) / CHARS_PER_TOKEN_ESTIMATE)

    # --- generation -----------------------------------------------------------------------

    def generate(self, prompt: str, options: GenerationOptions = GenerationOptions(), *,
                 cancel: threading.Event | None = None) -> Generation:
        prompt_tokens = self.count_tokens(prompt)
        if prompt_tokens >= self.context_size:
            raise ContextOverflowError(prompt_tokens, self.context_size)
        return Generation(self._run(prompt, prompt_tokens, options, cancel))

    def _body(self, prompt: str, options: GenerationOptions) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model, "prompt": prompt, "max_tokens": options.max_tokens,
            "temperature": options.temperature, "top_p": options.top_p, "top_k": options.top_k,
            "stream": True, "stream_options": {"include_usage": True},
        }
        if options.seed is not None:
            body["seed"] = options.seed
        if options.repeat_penalty != 1.0:
            body["repeat_penalty"] = body["repetition_penalty"] = options.repeat_penalty
        if options.stop and self._server_names_stops:
            body["stop"] = list(options.stop)
        return body

    def _run(self, prompt: str, prompt_tokens: int, options: GenerationOptions,
             cancel: threading.Event | None) -> Generator[str, None, GenerationResult]:
        if not self._lock.acquire(blocking=False):
            raise BackendError("this backend is already generating; one call at a time")
        try:
            started = time.perf_counter()
            response = self._send("POST", "/v1/completions", body=self._body(prompt, options),
                                  stream=True)
            try:
                if response.status_code != 200:
                    raise self._fail(response)
                return (yield from self._read_stream(response, prompt_tokens, options, cancel,
                                                     started))
            finally:
                response.close()
        finally:
            self._lock.release()

    def _read_stream(self, response: httpx.Response, prompt_tokens: int,
                     options: GenerationOptions, cancel: threading.Event | None,
                     started: float) -> Generator[str, None, GenerationResult]:
        matcher = StopMatcher(options.stop)
        pieces: list[str] = []
        finish: FinishReason = "length"
        server_finish, server_stop, usage = None, None, None
        first_at: float | None = None
        for chunk in _sse_events(response.iter_lines()):
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or ():
                if any(name in choice for name in _STOP_NAME_FIELDS):
                    self._server_names_stops = True
                server_stop = next((choice[n] for n in _STOP_NAME_FIELDS
                                    if isinstance(choice.get(n), str)), server_stop)
                server_finish = choice.get("finish_reason") or server_finish
                text = matcher.feed(choice.get("text") or "")
                if first_at is None:
                    first_at = time.perf_counter()
                if text:
                    pieces.append(text)
                    yield text
            if matcher.stopped_by is not None:
                finish = "stop"
                break
            if cancel is not None and cancel.is_set():
                finish = "cancelled"
                break
        if matcher.stopped_by is None and finish != "cancelled":
            tail = matcher.flush()
            if tail:
                pieces.append(tail)
                yield tail
            if server_finish == "stop":
                # The server consumed a stop string it names, or it met the end-of-text token.
                named = server_stop if server_stop in options.stop else None
                finish = "stop" if named else "eos"
                matcher.stopped_by = named
        end = time.perf_counter()
        text = "".join(pieces)
        completion, evaluated = self._counts(usage, text, matcher.stopped_by, finish,
                                             options, prompt_tokens)
        first_at = first_at or end
        return GenerationResult(
            text=text, finish_reason=finish, stop_string=matcher.stopped_by,
            prompt_tokens=prompt_tokens, prompt_tokens_evaluated=evaluated,
            completion_tokens=completion, prompt_seconds=first_at - started,
            generation_seconds=end - first_at)

    def _counts(self, usage: Mapping[str, Any] | None, text: str, stop: str | None,
                finish: FinishReason, options: GenerationOptions,
                prompt_tokens: int) -> tuple[int, int]:
        """(completion tokens, prompt tokens the server evaluated), best source first."""
        evaluated = prompt_tokens
        if usage:
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
            if isinstance(cached, int):
                evaluated = max(0, int(usage.get("prompt_tokens", prompt_tokens)) - cached)
            # Usage comes last, so it is only seen when the server finished the completion.
            return int(usage.get("completion_tokens", 0)), evaluated
        if finish == "length":
            return options.max_tokens, evaluated  # the server used the whole budget
        return self.count_tokens(text + (stop or "")), evaluated

    def close(self) -> None:
        self._client.close()


def _sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """JSON payloads of a server-sent-events stream, up to ``[DONE]``."""
    for line in lines:
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            return
        try:
            event = json.loads(payload)
        except ValueError:
            raise ServerError(f"the server sent a malformed stream event: {payload[:200]!r}") from None
        if isinstance(event, dict):
            if "error" in event:
                raise ServerError(f"the server failed while generating: {event['error']}")
            yield event
