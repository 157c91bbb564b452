"""Phase mixing by proportion, tokenizer checks, and bad dataset input reaching the CLI clearly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from train_helpers import tokenized_examples, write_built_dataset, write_config

from iisearch_local.cli import main
from iisearch_local.finetune.config import PhaseConfig
from iisearch_local.finetune.examples import DatasetError, TokenizedExample
from iisearch_local.finetune.mixing import mix_counts, mix_phases, sample_phase


def _examples(count: int, length: int = 6, tag: int = 0) -> list[TokenizedExample]:
    return [TokenizedExample([tag, i] + [1] * (length - 2), [(1, length)]) for i in range(count)]


def test_counts_follow_the_documented_rule():
    # total 10 + 30 = 40 split 3:1 -> 30 and 10
    assert mix_counts([10, 30], [3.0, 1.0]) == [30, 10]
    assert mix_counts([5, 5, 5], [1.0, 1.0, 1.0]) == [5, 5, 5]
    assert mix_counts([100, 1], [1.0, 1e-9]) == [101, 1]  # never below one example


def test_sampling_repeats_whole_copies_then_subsamples_deterministically():
    examples = _examples(4)
    picked = sample_phase(examples, 10, np.random.default_rng([0, 0]))
    assert len(picked) == 10
    counts = {id(e): sum(p is e for p in picked) for e in examples}
    assert sorted(counts.values()) == [2, 2, 3, 3]  # 2 full copies + 2 of the 4 drawn once more
    again = sample_phase(examples, 10, np.random.default_rng([0, 0]))
    assert [id(e) for e in again] == [id(e) for e in picked]
    fewer = sample_phase(examples, 3, np.random.default_rng([0, 0]))
    assert len({id(e) for e in fewer}) == 3  # without replacement


def test_phases_mix_by_proportion_with_a_report(tiny_models, tmp_path):
    long_one = TokenizedExample([5] * 40, [(1, 40)])
    first = write_built_dataset(tmp_path / "p1", tiny_models.hf, _examples(6, tag=1) + [long_one],
                                _examples(2, tag=1))
    second = write_built_dataset(tmp_path / "p2", tiny_models.hf, _examples(2, tag=2), [long_one])
    phases = [PhaseConfig("p1", first, 1.0), PhaseConfig("p2", second, 1.0)]
    mixed = mix_phases(phases, base_dir=tiny_models.hf, vocab_size=151936, max_length=20, seed=0)
    one, two = mixed.phases
    assert (one.available, one.used, one.repeated, one.dropped_too_long) == (6, 4, 0, 1)
    assert (two.available, two.used, two.repeated, two.dropped_too_long) == (2, 4, 2, 0)
    assert (one.valid, two.valid, two.valid_dropped_too_long) == (2, 0, 1)
    assert one.tokenizer_checked and two.tokenizer_checked
    assert sorted(e.tokens[0] for e in mixed.train) == [1] * 4 + [2] * 4
    assert len(mixed.valid) == 2 and mixed.dropped_too_long == 2
    same = mix_phases(phases, base_dir=tiny_models.hf, vocab_size=151936, max_length=20, seed=0)
    assert [e.tokens for e in same.train] == [e.tokens for e in mixed.train]


def test_a_dataset_from_another_tokenizer_is_refused(tiny_models, tmp_path):
    folder = write_built_dataset(tmp_path / "p1", tiny_models.hf, _examples(2), fingerprint="0123456789abcdef")
    phases = [PhaseConfig("p1", folder, 1.0)]
    with pytest.raises(DatasetError, match="another tokenizer") as caught:
        mix_phases(phases, base_dir=tiny_models.hf, vocab_size=151936, max_length=20, seed=0)
    assert "0123456789abcdef" in str(caught.value)
    relaxed = mix_phases(phases, base_dir=tiny_models.hf, vocab_size=151936, max_length=20, seed=0,
                         check_tokenizer=False)
    assert not relaxed.phases[0].tokenizer_checked and len(relaxed.train) == 2


def test_missing_folders_and_all_too_long_phases_are_clear(tiny_models, tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        mix_phases([PhaseConfig("p1", tmp_path / "nowhere", 1.0)], base_dir=tiny_models.hf,
                   vocab_size=None, max_length=20, seed=0)
    folder = write_built_dataset(tmp_path / "p1", tiny_models.hf, _examples(3, length=30))
    with pytest.raises(DatasetError, match="no training example fits max_length 20 .3 dropped"):
        mix_phases([PhaseConfig("p1", folder, 1.0)], base_dir=tiny_models.hf, vocab_size=None,
                   max_length=20, seed=0)


@pytest.mark.parametrize("bad_line, message", [
    ("", "line 2: the line is empty"),
    ('{"tokens": [1, 2], "trained": [[0, 5]]}', "line 2: bad trained range"),
    ("{not json", "line 2: not valid JSON"),
    ('{"tokens": [1, 999999999], "trained": [[1, 2]]}', "line 2: token id 999999999 is outside"),
])
def test_a_malformed_dataset_line_stops_training_with_its_line_number(tiny_models, tmp_path, capsys,
                                                                       bad_line, message):
    """A broken line in train.jsonl: the CLI names the file and line and trains nothing."""
    folder = write_built_dataset(tmp_path / "p1", tiny_models.hf, tokenized_examples(tiny_models.hf, 2))
    lines = (folder / "train.jsonl").read_text().splitlines()
    (folder / "train.jsonl").write_text("\n".join([lines[0], bad_line, lines[1]]) + "\n")
    config = write_config(tmp_path / "c.toml", base=tiny_models.hf, out=tmp_path / "out",
                          phases=[("p1", folder, 1.0)])
    assert main(["finetune", "train", str(config)]) == 1
    err = capsys.readouterr().err
    assert message in err and str(folder / "train.jsonl") in err
    assert not (tmp_path / "out" / "adapters.safetensors").exists()


def test_too_long_examples_are_reported_by_the_cli(tiny_models, tmp_path, capsys):
    """Two of three examples exceed max_length: training runs on the rest and says what it dropped."""
    examples = tokenized_examples(tiny_models.hf, 3)
    long_ones = [TokenizedExample(e.tokens * 3, [(s + len(e) * k, t + len(e) * k) for k in range(3)
                                                 for s, t in e.trained]) for e in examples[:2]]
    folder = write_built_dataset(tmp_path / "p1", tiny_models.hf, long_ones + examples[2:])
    config = write_config(tmp_path / "c.toml", base=tiny_models.hf, out=tmp_path / "out",
                          phases=[("p1", folder, 1.0)], train={"iters": 1, "max_length": 60})
    assert main(["finetune", "train", str(config)]) == 0
    captured = capsys.readouterr()
    assert "2 dropped as longer than 60 tokens" in captured.err
    assert "phase p1: 1 examples used of 1 (0 repeated, 2 dropped as too long)" in captured.out
    saved = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert saved["fine_tune_type"] == "lora"
