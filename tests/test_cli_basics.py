"""The command line's plumbing: exact output, clear errors, no tracebacks."""

from __future__ import annotations

import pytest

from iisearch_local.cli import main


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("IISEARCH_HOME", str(tmp_path))
    for name in ("IISEARCH_BACKEND_NAME", "IISEARCH_MODEL_NAME"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_config_show_prints_values_and_sources(home, capsys, monkeypatch):
    (home / "config").mkdir()
    (home / "config" / "config.toml").write_text("[sampling]\ntop_k = 40\n")
    monkeypatch.setenv("IISEARCH_BACKEND_CONTEXT_SIZE", "8192")
    assert main(["--set", "sampling.seed=3", "config", "show"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"sampling.top_k = 40  # {home}/config/config.toml" in lines
    assert "backend.context_size = 8192  # env IISEARCH_BACKEND_CONTEXT_SIZE" in lines
    assert "sampling.seed = 3  # --set" in lines
    assert 'model.name = "II-Search-CIR-4B"  # default' in lines


def test_config_path(home, capsys):
    assert main(["config", "path"]) == 0
    assert capsys.readouterr().out == f"{home}/config/config.toml\n"


def test_bad_setting_is_a_clear_error(capsys):
    assert main(["--set", "sampling.nope=1", "config", "show"]) == 1
    assert capsys.readouterr().err == "Error: --set: unknown setting 'sampling.nope'\n"


def test_generate_with_a_missing_model_says_so(capsys, tmp_path):
    assert main(["generate", "--model", str(tmp_path / "none.gguf"), "hi"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "none.gguf" in err
