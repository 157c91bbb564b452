"""Layered configuration: defaults < file < environment < --set, with provenance."""

from __future__ import annotations

import pytest

from iisearch_local.config import load_config
from iisearch_local.errors import ConfigError
from iisearch_local.paths import user_dirs


def test_iisearch_home_moves_every_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("IISEARCH_HOME", str(tmp_path))
    dirs = user_dirs()
    assert dirs.config == tmp_path / "config"
    assert dirs.data == tmp_path / "data"
    assert dirs.cache == tmp_path / "cache"
    assert dirs.config_file == tmp_path / "config" / "config.toml"


def test_defaults_file_and_env_layering(tmp_path):
    config_file = tmp_path / "config.toml"
    config_file.write_text('[sampling]\ntemperature = 1\n[backend]\nname = "mlx"\n')
    config = load_config(config_file, environ={"IISEARCH_BACKEND_NAME": "llama"})
    assert config.get("sampling.temperature") == 1.0
    assert config.source("sampling.temperature") == str(config_file)
    assert config.get("backend.name") == "llama"
    assert config.source("backend.name") == "env IISEARCH_BACKEND_NAME"
    assert config.get("sampling.top_p") == 0.95
    assert config.source("sampling.top_p") == "default"


def test_set_assignments_are_typed(tmp_path):
    config = load_config(tmp_path / "none.toml", environ={}).with_assignments(
        ["sampling.top_k=40", "hub.offline=true", "model.name=my-model"])
    assert config.get("sampling.top_k") == 40
    assert config.get("hub.offline") is True
    assert config.get("model.name") == "my-model"
    assert config.source("sampling.top_k") == "--set"


@pytest.mark.parametrize("text,message", [
    ("[sampling]\ntemprature = 0.5\n", "unknown setting 'sampling.temprature'"),
    ("[sampling]\ntemperature = 'hot'\n", "sampling.temperature must be float"),
    ("[sampling\n", "not valid TOML"),
])
def test_bad_config_file_names_the_problem(tmp_path, text, message):
    config_file = tmp_path / "config.toml"
    config_file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(config_file, environ={})


def test_bad_env_value_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="IISEARCH_SAMPLING_TOP_K"):
        load_config(tmp_path / "none.toml", environ={"IISEARCH_SAMPLING_TOP_K": "many"})


def test_plugin_sections_are_free_form(tmp_path):
    config_file = tmp_path / "config.toml"
    config_file.write_text('[plugins.mine]\nanything = 3\n')
    assert load_config(config_file, environ={}).get("plugins.mine.anything") == 3
