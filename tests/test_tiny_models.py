"""The tiny offline Qwen3 test models: tokenizer fidelity, and that llama.cpp and MLX run them."""

from __future__ import annotations

import json

import pytest

from iisearch_local.convert.templates import packaged_chat_template
from iisearch_local.testing.qwen_tokenizer import IM_END, QWEN3_ADDED_TOKENS, reference_tokenizations

pytestmark = pytest.mark.slow

CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Capital of France?"},
    {"role": "assistant", "content": "<think>\nEasy: Paris.\n</think>\n\nParis."},
    {"role": "user", "content": "And of Italy?"},
]
GENERATED_TOKENS = 32


@pytest.fixture(scope="module")
def hf_tokenizer(tiny_models):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tiny_models.hf / "tokenizer.json"))


@pytest.fixture(scope="module")
def llama_vocab(tiny_models):
    llama_cpp = pytest.importorskip("llama_cpp")
    return llama_cpp.Llama(str(tiny_models.gguf_f16), vocab_only=True, verbose=False)


def test_hf_tokenizer_reproduces_llama_cpp_reference_tokenizations(hf_tokenizer):
    cases = reference_tokenizations()
    assert len(cases) > 40
    mismatches = [(text, ids, hf_tokenizer.encode(text, add_special_tokens=False).ids)
                  for text, ids in cases if hf_tokenizer.encode(text, add_special_tokens=False).ids != ids]
    assert mismatches == []


def test_added_tokens_are_single_ids_with_qwen3_flags(tiny_models, hf_tokenizer):
    config = json.loads((tiny_models.hf / "tokenizer_config.json").read_text())
    for added in QWEN3_ADDED_TOKENS:
        assert hf_tokenizer.encode(added.content, add_special_tokens=False).ids == [added.id]
        assert config["added_tokens_decoder"][str(added.id)]["special"] is added.special
    assert config["eos_token"] == IM_END and config["pad_token"] == "<|endoftext|>"
    assert config["bos_token"] is None and config["add_bos_token"] is False
    # No BOS/EOS is ever added around a plain encode.
    assert hf_tokenizer.encode("hi", add_special_tokens=True).ids == [6023]


def test_llama_cpp_tokenizes_like_hf(llama_vocab, hf_tokenizer):
    for added in QWEN3_ADDED_TOKENS:
        assert llama_vocab.tokenize(added.content.encode(), add_bos=False, special=True) == [added.id]
    for text, _ in reference_tokenizations():
        expected = hf_tokenizer.encode(text, add_special_tokens=False).ids
        assert llama_vocab.tokenize(text.encode(), add_bos=False, special=False) == expected, text
    # Control tokens are only parsed on request; Qwen3's non-special <think> is always one token.
    assert llama_vocab.tokenize(IM_END.encode(), add_bos=False, special=False) != [151645]
    assert llama_vocab.tokenize(b"<think>", add_bos=False, special=False) == [151667]
    assert llama_vocab.token_eos() == 151645


def test_chat_template_keeps_earlier_reasoning(tiny_models):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    config = json.loads((tiny_models.hf / "tokenizer_config.json").read_text())
    assert config["chat_template"] == packaged_chat_template()
    template = ImmutableSandboxedEnvironment().from_string(config["chat_template"])
    rendered = template.render(messages=CHAT, add_generation_prompt=True)
    assert rendered == (
        "<|im_start|>system\nYou are terse.<|im_end|>\n"
        "<|im_start|>user\nCapital of France?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\nEasy: Paris.\n</think>\n\nParis.<|im_end|>\n"
        "<|im_start|>user\nAnd of Italy?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    separate = [{"role": "assistant", "content": "Paris.", "reasoning_content": "Easy."}]
    assert template.render(messages=separate, add_generation_prompt=False) == (
        "<|im_start|>assistant\n<think>\nEasy.\n</think>\n\nParis.<|im_end|>\n")


@pytest.mark.parametrize("variant", ["gguf_f16", "gguf_q8_0"])
def test_gguf_generates_varied_text_in_llama_cpp(tiny_models, variant):
    llama_cpp = pytest.importorskip("llama_cpp")
    path = getattr(tiny_models, variant)
    assert path is not None, "llama-cpp-python is installed, so the quantized fixture must exist"
    llm = llama_cpp.Llama(str(path), n_ctx=256, n_threads=1, seed=7, verbose=False)
    assert llm.metadata["tokenizer.chat_template"] == packaged_chat_template()
    result = llm.create_chat_completion(CHAT, max_tokens=GENERATED_TOKENS, temperature=0.0)
    text = result["choices"][0]["message"]["content"]
    ids = llm.tokenize(text.encode(), add_bos=False, special=True)
    # A random model that echoed one token forever would make useless test traffic.
    assert len(set(ids)) >= GENERATED_TOKENS // 2, text


def test_mlx_model_loads_and_generates(tiny_models):
    mlx_lm = pytest.importorskip("mlx_lm")
    assert tiny_models.mlx_q4 is not None
    config = json.loads((tiny_models.mlx_q4 / "config.json").read_text())
    assert config["quantization"]["bits"] == 4 and config["model_type"] == "qwen3"
    model, tokenizer = mlx_lm.load(str(tiny_models.mlx_q4))
    prompt = tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("Paris.<|im_end|>\n<|im_start|>user\nAnd of Italy?<|im_end|>\n<|im_start|>assistant\n")
    text = mlx_lm.generate(model, tokenizer, prompt, max_tokens=GENERATED_TOKENS)
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert len(set(ids)) >= GENERATED_TOKENS // 2, text
