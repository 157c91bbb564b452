"""``iisearch models``: exact output for list / pull / path, clear errors without tracebacks.

Downloads go to ``fake_hub.RunningHub`` on 127.0.0.1; nothing reaches beyond the loopback.
"""

from __future__ import annotations

import os

import pytest
from fake_hub import RunningHub, isolate_hub_client

from iisearch_local.backends import registry as backend_registry
from iisearch_local.cli import main

GGUF_REPO = "mradermacher/II-Search-CIR-4B-GGUF"
GGUF_FILE = "II-Search-CIR-4B.Q4_K_M.gguf"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    refused = isolate_hub_client(monkeypatch, tmp_path)
    # Bare `pull` follows the platform's backend: pin it, so the output is the same on a Mac.
    monkeypatch.setattr(backend_registry, "platform_default", lambda: "llama")
    with RunningHub() as running:
        running.hub.add_repo(GGUF_REPO, {GGUF_FILE: os.urandom(200_000)})
        running.hub.add_repo("mlx-community/II-Search-CIR-4B-4bit",
                             {"config.json": b"{}", "model.safetensors": os.urandom(50_000),
                              "README.md": b"card"})
        yield running
    assert refused == [], "something tried to reach beyond 127.0.0.1"


@pytest.fixture
def models(tmp_path):
    return tmp_path / "home" / "cache" / "models"


def run(hub, *args: str) -> int:
    return main(["--set", f"hub.endpoint={hub.endpoint}", *args])


def test_list_with_nothing_downloaded(hub, models, capsys):
    assert run(hub, "models", "list") == 0
    assert capsys.readouterr().out == (
        "NAME              PROTOCOL  INSTALLED\n"
        "II-Search-4B      tools     -\n"
        "II-Search-CIR-4B  cir       -\n"
        "\n"
        f"Downloaded models live in {models}\n")


def test_pull_then_list_then_path(hub, models, capsys):
    gguf = models / "mradermacher--II-Search-CIR-4B-GGUF" / GGUF_FILE
    assert run(hub, "models", "pull", "II-Search-CIR-4B", "--no-progress") == 0
    assert capsys.readouterr().out == f"Downloaded II-Search-CIR-4B (GGUF Q4_K_M) to {gguf}\n"

    assert run(hub, "models", "pull", "II-Search-CIR-4B", "--bits", "4", "--no-progress") == 0
    mlx = models / "mlx-community--II-Search-CIR-4B-4bit"
    assert capsys.readouterr().out == f"Downloaded II-Search-CIR-4B (MLX 4bit) to {mlx}\n"

    assert run(hub, "models", "list") == 0
    assert capsys.readouterr().out.splitlines()[2] == \
        "II-Search-CIR-4B  cir       gguf Q4_K_M; mlx 4bit"

    assert run(hub, "models", "path", "II-Search-CIR-4B", "--quant", "q4_k_m") == 0
    assert capsys.readouterr().out == f"{gguf}\n"
    assert run(hub, "models", "path", "II-Search-CIR-4B", "--mlx") == 0
    assert capsys.readouterr().out == f"{mlx}\n"
    assert run(hub, "--set", "backend.name=llama", "models", "path") == 0  # model.name default
    assert capsys.readouterr().out == f"{gguf}\n"

    hub.hub.requests.clear()
    assert run(hub, "models", "pull", "II-Search-CIR-4B", "--no-progress") == 0
    assert capsys.readouterr().out == \
        f"II-Search-CIR-4B (GGUF Q4_K_M) is already downloaded: {gguf}\n"
    assert hub.hub.requests == []


def test_pull_with_a_progress_bar_keeps_stdout_clean(hub, models, capsys):
    assert run(hub, "models", "pull", "II-Search-CIR-4B", "--progress") == 0
    captured = capsys.readouterr()
    assert captured.out == (f"Downloaded II-Search-CIR-4B (GGUF Q4_K_M) to "
                            f"{models / 'mradermacher--II-Search-CIR-4B-GGUF' / GGUF_FILE}\n")
    assert GGUF_FILE in captured.err  # the bar went to stderr


def test_path_of_a_model_not_downloaded_says_what_to_run(hub, capsys):
    assert run(hub, "models", "path", "II-Search-4B", "--quant", "Q8_0") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("Error: II-Search-4B (GGUF Q8_0) is not downloaded yet\n"
                            "Run `iisearch models pull II-Search-4B --quant Q8_0`, or pass a local "
                            ".gguf file or MLX folder instead of the name.\n")


def test_path_of_a_local_file_is_the_file(hub, tmp_path, capsys):
    local = tmp_path / "mine.gguf"
    local.write_bytes(b"GGUF")
    assert run(hub, "models", "path", str(local)) == 0
    assert capsys.readouterr().out == f"{local}\n"


def test_pull_while_offline_is_a_clear_error(hub, capsys):
    assert run(hub, "--set", "hub.offline=true", "models", "pull", "II-Search-CIR-4B",
               "--quant", "Q8_0") == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "Error: cannot download II-Search-CIR-4B (GGUF Q8_0): offline mode is on "
        "(hub.offline = true)\n"
        "To download it, set hub.offline = false and run `iisearch models pull II-Search-CIR-4B "
        "--quant Q8_0`; or pass a local .gguf file or MLX folder instead of a model name.\n")
    assert hub.hub.requests == []


def test_pull_of_an_unknown_model_lists_the_known_ones(hub, capsys):
    assert run(hub, "models", "pull", "II-Search-9B", "--no-progress") == 1
    assert capsys.readouterr().err == (
        "Error: unknown model 'II-Search-9B'\n"
        "Known models: II-Search-4B, II-Search-CIR-4B (`iisearch models list`). A local .gguf "
        "file or MLX folder can be passed instead of a name.\n")


def test_quant_and_bits_together_is_a_usage_error(hub, capsys):
    assert run(hub, "models", "pull", "II-Search-4B", "--quant", "Q8_0", "--bits", "4") == 2
    assert "use either --quant or --bits, not both" in capsys.readouterr().err
    assert hub.hub.requests == []


def test_a_bare_pull_fetches_the_configured_model_in_the_backends_format(hub, models, capsys,
                                                                         monkeypatch):
    """On Apple Silicon ``auto`` means MLX, so `pull` without options must fetch MLX weights."""
    monkeypatch.setattr(backend_registry, "platform_default", lambda: "mlx")
    assert run(hub, "models", "pull", "--no-progress") == 0
    mlx = models / "mlx-community--II-Search-CIR-4B-4bit"
    assert capsys.readouterr().out == f"Downloaded II-Search-CIR-4B (MLX 4bit) to {mlx}\n"
    assert run(hub, "models", "path") == 0
    assert capsys.readouterr().out == f"{mlx}\n"
    assert run(hub, "--set", "backend.name=llama", "models", "pull", "--no-progress") == 0
    assert capsys.readouterr().out.startswith("Downloaded II-Search-CIR-4B (GGUF Q4_K_M) to ")
