"""``iisearch convert verify``: converted models against the unquantized checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from iisearch_local.cli import main
from iisearch_local.convert.errors import ConversionError
from iisearch_local.convert.gguf import convert_hf_to_gguf
from iisearch_local.convert.verify import THRESHOLDS, compare_logits, verify_conversions, verify_token_sequences
from iisearch_local.testing.tiny_qwen3 import build_tiny_qwen3

pytest.importorskip("llama_cpp")


def test_compare_logits_matches_a_hand_computation():
    reference = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]))
    converted = np.log(np.array([[0.25, 0.5, 0.25], [0.1, 0.8, 0.1]]))
    agreement, kl = compare_logits(reference + 3.0, converted)  # a constant shift changes nothing
    want_first = 0.5 * np.log(0.5 / 0.25) + 0.25 * np.log(0.25 / 0.5)
    assert agreement == 0.5
    assert kl == pytest.approx(want_first / 2)
    with pytest.raises(ConversionError, match="logit shapes differ"):
        compare_logits(reference, converted[:, :2])


def test_prompts_are_chat_formatted_token_sequences(tiny_models):
    sequences = verify_token_sequences(tiny_models.hf, prompts=3)
    assert len(sequences) == 3 and all(len(tokens) > 15 for tokens in sequences)
    assert all(tokens[0] == 151644 and tokens[-2] == 151645 for tokens in sequences)  # <|im_start|> ... <|im_end|>


@pytest.mark.parametrize("reference", ["gguf", "mlx"])
def test_faithful_conversions_pass(tiny_models, reference):
    if reference == "mlx":
        pytest.importorskip("mlx_lm")
    converted = [tiny_models.gguf_f16, tiny_models.gguf_q8_0] + ([tiny_models.mlx_q4] if reference == "mlx" else [])
    reports = verify_conversions(tiny_models.hf, converted, prompts=2, reference=reference)
    assert [report.kind for report in reports] == ["F16", "Q8_0", "mlx-4bit"][: len(converted)]
    assert all(report.passed for report in reports), reports
    f16 = reports[0]
    assert f16.top1_agreement >= 0.98 and f16.mean_kl < 1e-3
    assert reports[1].mean_kl > f16.mean_kl  # quantization costs something, and it shows


def test_wrong_weights_fail_with_a_nonzero_exit(tiny_models, tmp_path, capsys):
    """Tried: a GGUF converted from another checkpoint (other seed) passed off as this one's."""
    other = build_tiny_qwen3(tmp_path / "other", seed=7, tokenizer_source=tiny_models.hf)
    impostor = convert_hf_to_gguf(other, tmp_path / "impostor.f16.gguf")
    code = main(["convert", "verify", str(tiny_models.hf), str(tiny_models.gguf_f16), str(impostor),
                 "--prompts", "2", "--reference", "gguf"])
    captured = capsys.readouterr()
    assert code == 1
    rows = [line.split("\t") for line in captured.out.splitlines()[1:]]
    assert [(row[0], row[1]) for row in rows] == [("pass", "F16"), ("FAIL", "F16")]
    assert float(rows[1][3]) > THRESHOLDS["F16"].max_mean_kl
    assert "1 of 2 conversion(s) differ" in captured.err


def test_verify_needs_the_tokenizer(tiny_models, tmp_path):
    """Tried: a checkpoint folder without tokenizer.json."""
    with pytest.raises(ConversionError, match=r"tokenizer\.json is missing"):
        verify_conversions(tmp_path, [tiny_models.gguf_f16])
