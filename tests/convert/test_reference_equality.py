"""Our GGUF against llama.cpp's reference converter's, tensor for tensor (needs torch: slow, optional)."""

from __future__ import annotations

import numpy as np
import pytest

from iisearch_local.convert.gguf import convert_hf_to_gguf
from iisearch_local.convert.reference import reference_unavailable_reason, run_reference_converter
from iisearch_local.testing.tiny_qwen3 import build_tiny_qwen3

pytestmark = pytest.mark.slow
gguf = pytest.importorskip("gguf")

# Keys both converters must agree on exactly (general.name and the like may differ by design).
SHARED_KEYS = (
    "general.architecture", "general.file_type", "qwen3.block_count", "qwen3.context_length",
    "qwen3.embedding_length", "qwen3.feed_forward_length", "qwen3.attention.head_count",
    "qwen3.attention.head_count_kv", "qwen3.rope.freq_base", "qwen3.attention.layer_norm_rms_epsilon",
    "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.eos_token_id",
)


@pytest.mark.parametrize("tied", [True, False])
def test_our_gguf_equals_llama_cpp_reference(tiny_models, tmp_path, tied):
    reason = reference_unavailable_reason()
    if reason:
        pytest.skip(reason)
    src = build_tiny_qwen3(tmp_path / "hf", tie_embeddings=tied, tokenizer_source=tiny_models.hf)
    ours = gguf.GGUFReader(convert_hf_to_gguf(src, tmp_path / "ours.gguf", out_type="f16"))
    theirs = gguf.GGUFReader(run_reference_converter(src, tmp_path / "theirs.gguf", out_type="f16"))
    ours_tensors = {tensor.name: tensor for tensor in ours.tensors}
    theirs_tensors = {tensor.name: tensor for tensor in theirs.tensors}
    assert sorted(ours_tensors) == sorted(theirs_tensors)
    for name, mine in ours_tensors.items():
        other = theirs_tensors[name]
        assert mine.tensor_type == other.tensor_type, name
        assert np.array_equal(np.asarray(mine.data), np.asarray(other.data)), name
    for key in SHARED_KEYS:
        assert ours.fields[key].contents() == theirs.fields[key].contents(), key
    assert ours.fields["tokenizer.ggml.tokens"].contents() == theirs.fields["tokenizer.ggml.tokens"].contents()
