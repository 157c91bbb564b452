"""``iisearch generate`` streams raw text from a real tiny GGUF and a real tiny MLX model."""

from __future__ import annotations

import pytest

from iisearch_local.cli import main


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("IISEARCH_HOME", str(tmp_path))


@pytest.mark.parametrize("backend", ["llama", "mlx"])
def test_generate_streams_from_a_tiny_model(tiny_models, capsys, backend):
    path = tiny_models.gguf_q8_0 if backend == "llama" else tiny_models.mlx_q4
    args = ["generate", "--model", str(path), "--backend", backend, "--max-tokens", "12",
            "--temperature", "0", "--set", "backend.context_size=512", "Hello"]
    # --set is a group option: it must come before the subcommand.
    args = args[-3:-1] + args[:-3] + args[-1:]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert out.endswith("\n") and len(out.strip()) > 0
    assert f"[{backend}] 12 tokens" in err
    assert "finish: length" in err


def test_generate_auto_picks_llama_for_a_gguf(tiny_models, capsys):
    assert main(["generate", "--model", str(tiny_models.gguf_q8_0), "--max-tokens", "3",
                 "--temperature", "0", "Hi"]) == 0
    assert "[llama] 3 tokens" in capsys.readouterr().err


def test_generate_stops_at_a_stop_string(tiny_models, capsys):
    assert main(["generate", "--model", str(tiny_models.gguf_q8_0), "--max-tokens", "40",
                 "--temperature", "0", "--no-stats", "Hi"]) == 0
    full = capsys.readouterr().out.rstrip("\n")
    stop = full[10:13]
    assert main(["generate", "--model", str(tiny_models.gguf_q8_0), "--max-tokens", "40",
                 "--temperature", "0", "--stop", stop, "Hi"]) == 0
    out, err = capsys.readouterr()
    assert out == full[: full.find(stop)] + "\n"
    assert f"finish: stop ({stop!r})" in err
