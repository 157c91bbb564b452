"""The training config: recipe defaults, relative paths, overrides, and clear errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from iisearch_local.errors import ConfigError
from iisearch_local.finetune.config import TrainSettings, load_train_config

MINIMAL = """
[model]
base = "models/base"

[[phases]]
name = "phase1"
data = "data/p1"
proportion = 2

[[phases]]
data = "/abs/p2"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf" / "train.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_follow_the_recipe_and_paths_resolve_against_the_config_folder(tmp_path):
    config = load_train_config(_write(tmp_path, MINIMAL))
    folder = (tmp_path / "conf").resolve()
    assert config.base == folder / "models" / "base"
    assert config.out == folder / "adapters"
    assert [(p.name, p.data, p.proportion) for p in config.phases] == [
        ("phase1", folder / "data" / "p1", 2.0), ("phase2", Path("/abs/p2"), 1.0)]
    s = config.train
    assert (s.learning_rate, s.epochs, s.max_length, s.fine_tune_type) == (1e-5, 4.0, 26000, "lora")
    assert (s.batch_size, s.grad_accumulation, s.grad_checkpoint, s.num_layers) == (1, 8, True, -1)
    assert config.lora_parameters() == {"rank": 8, "scale": 20.0, "dropout": 0.0}
    assert s == TrainSettings()


def test_overrides_set_values_with_toml_syntax_and_cwd_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_train_config(_write(tmp_path, MINIMAL), overrides=[
        "train.learning_rate=3e-4", "train.iters=5", "train.fine_tune_type=dora", "lora.rank=4",
        "train.grad_checkpoint=false", "out=runs/a", 'model.base="other"'])
    assert config.train.learning_rate == 3e-4 and config.train.iters == 5
    assert config.train.fine_tune_type == "dora" and config.lora.rank == 4
    assert config.train.grad_checkpoint is False
    assert config.out == tmp_path / "runs" / "a"  # typed on the command line: relative to cwd
    assert config.base == tmp_path / "other"


@pytest.mark.parametrize("text, override, named", [
    (MINIMAL + "\n[train]\nlearning_rat = 1e-4\n", None, "train.learning_rat"),
    ("colour = 1\n" + MINIMAL, None, "'colour'"),
    (MINIMAL.replace('proportion = 2', 'proportion = 2\nweight = 1'), None, "phases[0].weight"),
    (MINIMAL + "\n[lora]\nalpha = 16\n", None, "lora.alpha"),
    (MINIMAL, "train.batchsize=2", "train.batchsize"),
    (MINIMAL.replace("[model]", "[model]\npath = 'x'"), None, "model.path"),
])
def test_unknown_keys_are_errors_naming_the_key(tmp_path, text, override, named):
    """A typo in a key must not be silently ignored (training hours with the wrong setting)."""
    with pytest.raises(ConfigError, match="unknown key") as caught:
        load_train_config(_write(tmp_path, text), overrides=[override] if override else [])
    assert named in str(caught.value)


@pytest.mark.parametrize("override, named", [
    ("train.learning_rate=-1e-5", "train.learning_rate"),
    ("train.fine_tune_type=qlora", "train.fine_tune_type"),
    ("train.optimizer=sgd", "train.optimizer"),
    ("train.batch_size=0", "train.batch_size"),
    ("train.num_layers=0", "train.num_layers"),
    ("lora.dropout=1.5", "lora.dropout"),
    ("train.epochs=many", "train.epochs"),  # a word where a number belongs
    ("train.grad_checkpoint=1", "train.grad_checkpoint"),
    ("train.iters=2.5", "train.iters"),
    ("train.learning_rate=nan", "train.learning_rate"),
])
def test_bad_values_are_errors_naming_the_key(tmp_path, override, named):
    with pytest.raises(ConfigError) as caught:
        load_train_config(_write(tmp_path, MINIMAL), overrides=[override])
    assert named in str(caught.value)


@pytest.mark.parametrize("text, message", [
    ("[model]\nbase = 'x'\n", "no [[phases]]"),
    (MINIMAL.replace('base = "models/base"', ""), "model.base"),
    (MINIMAL.replace("proportion = 2", "proportion = 0"), "phases[0].proportion"),
    (MINIMAL.replace('data = "/abs/p2"', 'data = "/abs/p2"\nname = "phase1"'), "two phases are named"),
    ("[model\nbase = 1", "not valid TOML"),
])
def test_structural_problems_are_clear(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_train_config(_write(tmp_path, text))


def test_a_missing_config_file_and_phase_overrides_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the training config"):
        load_train_config(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="phases"):
        load_train_config(_write(tmp_path, MINIMAL), overrides=["phases.name=x"])
    with pytest.raises(ConfigError, match="section.key=value"):
        load_train_config(_write(tmp_path, MINIMAL), overrides=["train.iters"])
