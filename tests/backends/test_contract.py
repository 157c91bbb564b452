"""The backend contract, run identically on llama.cpp and MLX with tiny real Qwen3 models.

The models have random weights, so their text is noise; every assertion is about the contract
(streaming, stops, limits, seeds, prefix reuse), never about what the text says.
"""

from __future__ import annotations

import threading

import pytest

from iisearch_local.backends.base import GenerationOptions, LoadOptions
from iisearch_local.backends.registry import load_backend

GREEDY = GenerationOptions(max_tokens=40, temperature=0.0, top_k=0, top_p=1.0)
PROMPT = "<|im_start|>user\nWhat is the tallest mountain?<|im_end|>\n<|im_start|>assistant\n<think>\n"


@pytest.fixture(scope="module", params=["llama", "mlx"])
def backend(request, tiny_models):
    path = tiny_models.gguf_q8_0 if request.param == "llama" else tiny_models.mlx_q4
    model = load_backend(request.param, path, LoadOptions(context_size=2048))
    yield model
    model.close()


def _token_texts(backend, options=GREEDY) -> list[str]:
    """Per-token text pieces of one greedy run (no stop strings, so nothing is held back)."""
    return list(backend.generate(PROMPT, options))


def test_streamed_deltas_join_to_the_full_text(backend):
    generation = backend.generate(PROMPT, GREEDY)
    deltas = list(generation)
    result = generation.result
    assert "".join(deltas) == result.text
    assert result.text, "a random model still produces text"
    assert result.finish_reason in ("length", "eos")
    assert result.completion_tokens == 40 or result.finish_reason == "eos"
    assert result.prompt_tokens == backend.count_tokens(PROMPT)


def test_greedy_generation_is_repeatable(backend):
    assert backend.generate(PROMPT, GREEDY).text() == backend.generate(PROMPT, GREEDY).text()


def test_same_seed_same_text_other_seed_other_text(backend):
    def sample(seed: int) -> str:
        return backend.generate(PROMPT, GenerationOptions(max_tokens=24, temperature=1.0,
                                                          top_k=0, top_p=1.0, seed=seed)).text()
    first = sample(7)
    assert sample(7) == first
    # Over a 151k-token vocabulary two seeds agreeing on 24 tokens would mean the seed is ignored.
    assert sample(8) != first


def test_max_tokens_is_honoured(backend):
    result = backend.generate(PROMPT, GenerationOptions(max_tokens=7, temperature=0.0)).result
    assert result.finish_reason == "length"
    assert result.completion_tokens == 7


@pytest.mark.parametrize("left,right", [(2, 2), (1, 3)])
def test_stop_string_split_across_tokens_is_honoured(backend, left, right):
    """A stop string made of the end of one token and the start of the next still stops."""
    pieces = _token_texts(backend)
    full = "".join(pieces)
    for i in range(len(pieces) - 1):
        a, b = pieces[i], pieces[i + 1]
        if len(a) >= left and len(b) >= right and "\ufffd" not in a + b:
            stop = a[-left:] + b[:right]
            break
    else:
        pytest.fail(f"no token boundary with {left}+{right} characters in {pieces!r}")
    generation = backend.generate(PROMPT, GenerationOptions(
        max_tokens=40, temperature=0.0, top_k=0, top_p=1.0, stop=("never-seen-stop", stop)))
    text = generation.text()
    assert text == full[: full.find(stop)]
    assert generation.result.finish_reason == "stop"
    assert generation.result.stop_string == stop


def test_earliest_of_several_stop_strings_wins(backend):
    full = "".join(_token_texts(backend))
    early, late = full[5:8], full[20:24]
    result = backend.generate(PROMPT, GenerationOptions(
        max_tokens=40, temperature=0.0, top_k=0, top_p=1.0, stop=(late, early))).result
    assert result.stop_string == early
    assert result.text == full[: full.find(early)]


def test_growing_trace_evaluates_only_new_tokens(backend):
    """Ten calls on a trace that grows like a research session: prompt work stays incremental."""
    trace = PROMPT
    total_evaluated = total_appended = 0
    for turn in range(10):
        result = backend.generate(trace, GenerationOptions(max_tokens=6, temperature=0.0)).result
        observation = f"\n```output\nresult {turn}: the page says something new\n```\n"
        before = backend.count_tokens(trace)
        trace += result.text + observation
        appended = backend.count_tokens(trace) - before
        if turn > 0:
            # Only the previous turn's output and observation (plus a boundary token) are new.
            assert result.prompt_tokens_evaluated <= last_appended + 2, (turn, result)
            total_evaluated += result.prompt_tokens_evaluated
            total_appended += last_appended
        last_appended = appended
    assert total_evaluated <= 1.1 * total_appended


def test_a_repeated_prompt_reevaluates_one_token(backend):
    backend.generate(PROMPT, GenerationOptions(max_tokens=3, temperature=0.0)).text()
    again = backend.generate(PROMPT, GenerationOptions(max_tokens=3, temperature=0.0)).result
    assert again.prompt_tokens_evaluated == 1


def test_cancel_stops_generation(backend):
    cancel = threading.Event()
    generation = backend.generate(PROMPT, GenerationOptions(max_tokens=200, temperature=0.0),
                                  cancel=cancel)
    for count, _ in enumerate(generation, start=1):
        if count == 3:
            cancel.set()
    assert generation.result.finish_reason == "cancelled"
    assert generation.result.completion_tokens < 10


def test_special_tokens_are_single_ids_and_round_trip(backend):
    text = "<|im_start|>assistant\n<think>\nplan</think>\n<tool_call>\n{}\n</tool_call><|im_end|>"
    ids = backend.tokenize(text)
    for token, expected in (("<think>", 151667), ("</think>", 151668), ("<tool_call>", 151657),
                            ("<|im_start|>", 151644), ("<|im_end|>", 151645)):
        assert expected in ids, token
    assert backend.detokenize(ids) == text


def test_both_backends_tokenize_alike(tiny_models):
    llama = load_backend("llama", tiny_models.gguf_q8_0, LoadOptions(context_size=256))
    mlx = load_backend("mlx", tiny_models.mlx_q4, LoadOptions(context_size=256))
    try:
        for text in (PROMPT, "Ünïcode ✓ 🦙 and  spaces\n\n\tTabs", "print(web_search(query='x'))"):
            assert llama.tokenize(text) == mlx.tokenize(text)
    finally:
        llama.close()
        mlx.close()
