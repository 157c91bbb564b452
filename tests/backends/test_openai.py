"""The openai backend against a real OpenAI-compatible server (llama-cpp-python's, tiny model),
plus failures from a scripted server: wrong URL, wrong model, retries, errors mid-stream.

The model has random weights: assertions are about the contract, never about what it says.
"""

from __future__ import annotations

import json
import threading

import pytest
from openai_servers import free_port, llama_cpp_server, scripted_server, sse_completion

from iisearch_local.backends.base import Backend, GenerationOptions, LoadOptions
from iisearch_local.backends.openai import OpenAIBackend, ServerError
from iisearch_local.backends.registry import choose_backend, load_backend

GREEDY = GenerationOptions(max_tokens=40, temperature=0.0, top_k=0, top_p=1.0)
PROMPT = "<|im_start|>user\nWhat is the tallest mountain?<|im_end|>\n<|im_start|>assistant\n<think>\n"


@pytest.fixture(scope="module")
def server_url(tiny_models):
    with llama_cpp_server(tiny_models.gguf_q8_0) as url:
        yield url


@pytest.fixture(scope="module")
def backend(server_url):
    model = load_backend("openai", "", LoadOptions(
        context_size=2048, extra={"openai": {"base_url": server_url + "/v1", "retries": 0}}))
    yield model
    model.close()


def test_loaded_through_the_registry_with_the_served_model(backend, server_url, tiny_models):
    assert isinstance(backend, Backend)
    assert backend.name == "openai"
    assert backend.base_url == server_url  # the pasted /v1 suffix is dropped
    assert backend.model == str(tiny_models.gguf_q8_0)  # the first model /v1/models lists
    assert choose_backend("openai", None) == "openai"


def test_streamed_deltas_join_to_the_full_text(backend):
    generation = backend.generate(PROMPT, GREEDY)
    deltas = list(generation)
    result = generation.result
    assert len(deltas) > 1, "the text arrives streamed, in pieces"
    assert "".join(deltas) == result.text and result.text
    assert result.finish_reason in ("length", "eos")
    assert result.completion_tokens == 40 or result.finish_reason == "eos"
    assert result.prompt_tokens == backend.count_tokens(PROMPT)
    assert not backend.token_counts_estimated  # the server's tokenizer endpoint counted


def test_server_tokenizer_matches_the_local_model(backend, tiny_models):
    local = load_backend("llama", tiny_models.gguf_q8_0, LoadOptions(context_size=256))
    try:
        assert backend.tokenize(PROMPT) == local.tokenize(PROMPT)
    finally:
        local.close()


def test_same_seed_same_text_other_seed_other_text(backend):
    def sample(seed: int) -> str:
        return backend.generate(PROMPT, GenerationOptions(max_tokens=24, temperature=1.0,
                                                          top_k=0, top_p=1.0, seed=seed)).text()
    first = sample(7)
    assert sample(7) == first
    assert sample(8) != first


def test_max_tokens_is_honoured(backend):
    result = backend.generate(PROMPT, GenerationOptions(max_tokens=7, temperature=0.0)).result
    assert result.finish_reason == "length"
    assert result.completion_tokens == 7


@pytest.mark.parametrize("left,right", [(2, 2), (1, 3)])
def test_stop_string_split_across_tokens_is_honoured(backend, left, right):
    """A stop string made of the end of one streamed piece and the start of the next."""
    pieces = list(backend.generate(PROMPT, GREEDY))
    full = "".join(pieces)
    for a, b in zip(pieces, pieces[1:]):
        if len(a) >= left and len(b) >= right and "\ufffd" not in a + b:
            stop = a[-left:] + b[:right]
            break
    else:
        pytest.fail(f"no piece boundary with {left}+{right} characters in {pieces!r}")
    generation = backend.generate(PROMPT, GenerationOptions(
        max_tokens=40, temperature=0.0, top_k=0, top_p=1.0, stop=("never-seen-stop", stop)))
    assert generation.text() == full[: full.find(stop)]
    assert generation.result.finish_reason == "stop"
    assert generation.result.stop_string == stop


def test_earliest_of_several_stop_strings_wins(backend):
    full = backend.generate(PROMPT, GREEDY).text()
    early, late = full[5:8], full[20:24]
    result = backend.generate(PROMPT, GenerationOptions(
        max_tokens=40, temperature=0.0, top_k=0, top_p=1.0, stop=(late, early))).result
    assert result.stop_string == early
    assert result.text == full[: full.find(early)]


def test_cancel_stops_generation(backend):
    cancel = threading.Event()
    generation = backend.generate(PROMPT, GenerationOptions(max_tokens=200, temperature=0.0),
                                  cancel=cancel)
    for count, _ in enumerate(generation, start=1):
        if count == 3:
            cancel.set()
    assert generation.result.finish_reason == "cancelled"
    assert generation.result.completion_tokens < 10


def test_a_prompt_longer_than_the_context_is_refused_before_sending(backend):
    from iisearch_local.backends.base import ContextOverflowError

    with pytest.raises(ContextOverflowError):
        backend.generate("word " * 3000, GREEDY)


# --- failures, on a scripted server ------------------------------------------------------------


def test_wrong_url_names_the_url():
    """Nothing listens on the port: after the retries, the error names the address."""
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerError, match=f"cannot reach the model server at {url}"):
        OpenAIBackend("m", base_url=url, retries=1)


def test_wrong_model_names_it_and_lists_the_served_ones():
    """vLLM answers 404 with an error body for an unknown model; the error lists the real ones."""
    def handle(method, path, body):
        if path == "/v1/models":
            return 200, {"data": [{"id": "II-Search-4B"}, {"id": "other"}]}
        if path == "/v1/completions":
            return 404, {"error": {"message": f"The model `{body['model']}` does not exist."}}
        return 404, {"detail": "Not Found"}

    with scripted_server(handle) as (url, _):
        model = OpenAIBackend("ii-search-typo", base_url=url, retries=0)
        with pytest.raises(ServerError, match="'ii-search-typo'") as caught:
            model.generate("hello", GREEDY).text()
        assert "II-Search-4B, other" in caught.value.hint
        assert model.token_counts_estimated  # no tokenizer endpoint: counts are estimates


def test_server_errors_are_retried_then_the_answer_is_used():
    """The completion fails twice (503, then 429) and succeeds the third time."""
    failures = [(503, {"error": "overloaded"}), (429, {"error": "slow down"})]

    def handle(method, path, body):
        if path == "/v1/models":
            return 200, {"data": [{"id": "m"}]}
        if path == "/v1/completions":
            if failures:
                return failures.pop(0)
            return 200, sse_completion(["Hel", "lo <", "/tool", "_call> more"], finish="stop",
                                       usage={"prompt_tokens": 5, "completion_tokens": 4,
                                              "prompt_tokens_details": {"cached_tokens": 3}})
        return 404, {}

    with scripted_server(handle) as (url, seen):
        model = OpenAIBackend("m", base_url=url, retries=2)
        result = model.generate("hi", GenerationOptions(stop=("</tool_call>",))).result
    assert result.text == "Hello "
    assert result.finish_reason == "stop" and result.stop_string == "</tool_call>"
    assert seen.count(("POST", "/v1/completions")) == 3


def test_retries_are_bounded_and_the_last_error_is_reported():
    """A server that always fails 500: the bounded retries end in an error, not a hang."""
    def handle(method, path, body):
        if path == "/v1/models":
            return 200, {"data": [{"id": "m"}]}
        return 500, {"error": {"message": "CUDA out of memory"}}

    with scripted_server(handle) as (url, seen):
        model = OpenAIBackend("m", base_url=url, retries=2)
        with pytest.raises(ServerError, match="HTTP 500: CUDA out of memory"):
            model.generate("hi", GREEDY).text()
    assert seen.count(("POST", "/v1/completions")) == 3


def test_usage_and_named_stops_from_the_server_are_used():
    """A vLLM-like server: usage with cached tokens, and ``stop_reason`` naming the stop."""
    bodies = []

    def handle(method, path, body):
        if path == "/v1/models":
            return 200, {"data": [{"id": "m"}]}
        if path != "/v1/completions":
            return 404, {}
        bodies.append(body)
        return 200, sse_completion(["The answer"], finish="stop", extra={"stop_reason": "<|im_end|>"},
                                   usage={"prompt_tokens": 50, "completion_tokens": 3,
                                          "prompt_tokens_details": {"cached_tokens": 40}})

    with scripted_server(handle) as (url, _):
        model = OpenAIBackend("m", base_url=url, retries=0)
        options = GenerationOptions(stop=("<|im_end|>", "</tool_call>"), seed=3)
        first = model.generate("hi", options).result
        model.generate("hi", options).text()
    assert first.stop_string == "<|im_end|>" and first.finish_reason == "stop"
    assert (first.completion_tokens, first.prompt_tokens_evaluated) == (3, 10)
    assert "stop" not in bodies[0]  # not known yet whether the server names its stops
    assert bodies[1]["stop"] == ["<|im_end|>", "</tool_call>"]
    assert bodies[0]["stream_options"] == {"include_usage": True} and bodies[0]["seed"] == 3


def test_an_error_event_mid_stream_is_a_clear_error():
    def handle(method, path, body):
        if path == "/v1/models":
            return 200, {"data": [{"id": "m"}]}
        return 200, [json.dumps({"choices": [{"text": "par", "finish_reason": None}]}),
                     json.dumps({"error": {"message": "engine died"}})]

    with scripted_server(handle) as (url, _):
        model = OpenAIBackend("m", base_url=url, retries=0)
        with pytest.raises(ServerError, match="engine died"):
            model.generate("hi", GREEDY).text()
