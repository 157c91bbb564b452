"""``iisearch export lmstudio``: LM Studio's folder layout, its models-folder discovery, model cards."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from iisearch_local.cli import main
from iisearch_local.convert.errors import ConversionError
from iisearch_local.convert.lmstudio import MODELS_DIR_ENV, find_models_dir

CARD = "README.md"


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """An empty home folder: no LM Studio installed, nothing configured."""
    folder = tmp_path / "user"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder / ".config"))
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    return folder


@pytest.fixture()
def outputs(tiny_models, tmp_path):
    """A `convert` output folder: two GGUF quantizations and an MLX folder of the CIR model."""
    folder = tmp_path / "II-Search-CIR-4B-GGUF"
    folder.mkdir()
    os.symlink(tiny_models.gguf_f16, folder / "II-Search-CIR-4B.f16.gguf")
    os.symlink(tiny_models.gguf_q8_0, folder / "II-Search-CIR-4B.Q8_0.gguf")
    (folder / "II-Search-CIR-4B.Q8_0.gguf.convert.json").write_text("{}")  # markers are not exported
    mlx = folder / "II-Search-CIR-4B-MLX-4bit"
    mlx.mkdir()
    for path in tiny_models.mlx_q4.iterdir():
        os.symlink(path, mlx / path.name)
    (mlx / "convert.json").write_text("{}")
    return folder


def test_models_dir_discovery_order(home, tmp_path, monkeypatch):
    with pytest.raises(ConversionError, match="models folder was not found"):
        find_models_dir()
    (home / ".cache" / "lm-studio").mkdir(parents=True)
    assert find_models_dir() == home / ".cache" / "lm-studio" / "models"  # older releases
    (home / ".lmstudio").mkdir()
    assert find_models_dir() == home / ".lmstudio" / "models"  # the current default wins
    (home / ".config" / "LM Studio").mkdir(parents=True)
    (home / ".config" / "LM Studio" / "settings.json").write_text(json.dumps({"downloadsFolder": "/app/models"}))
    assert find_models_dir() == Path("/app/models")  # the app's settings name the folder
    (home / ".lmstudio" / "settings.json").write_text(json.dumps({"downloadsFolder": "~/big-disk/llms"}))
    assert find_models_dir() == home / "big-disk" / "llms"  # home settings before app settings
    (home / ".config" / "LM Studio" / "settings.json").unlink()
    moved = tmp_path / "moved-home"
    moved.mkdir()
    (home / ".lmstudio-home-pointer").write_text(f"{moved}\n")
    assert find_models_dir() == moved / "models"  # the pointer names the home; it has no settings
    (home / ".lmstudio-home-pointer").write_text(str(tmp_path / "gone"))
    assert find_models_dir() == home / "big-disk" / "llms"  # a stale pointer is ignored
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "env"))
    assert find_models_dir() == tmp_path / "env"
    assert find_models_dir(tmp_path / "arg") == tmp_path / "arg"


def test_export_places_files_in_lmstudio_layout_with_a_model_card(home, outputs, tiny_models, capsys):
    (home / ".lmstudio").mkdir()
    assert main(["export", "lmstudio", str(outputs)]) == 0
    models = home / ".lmstudio" / "models"
    gguf_dir = models / "Intelligent-Internet" / "II-Search-CIR-4B-GGUF"
    mlx_dir = models / "Intelligent-Internet" / "II-Search-CIR-4B-MLX-4bit"
    assert sorted(p.name for p in gguf_dir.iterdir()) == [
        "II-Search-CIR-4B-Q8_0.gguf", "II-Search-CIR-4B-f16.gguf", CARD]
    copied = gguf_dir / "II-Search-CIR-4B-Q8_0.gguf"
    assert not copied.is_symlink() and copied.read_bytes() == tiny_models.gguf_q8_0.read_bytes()
    assert sorted(p.name for p in mlx_dir.iterdir()) == sorted(
        [p.name for p in tiny_models.mlx_q4.iterdir() if p.name != CARD] + [CARD])
    card = (gguf_dir / CARD).read_text()
    assert "| temperature | 0.6 |" in card and "| top_p | 0.95 |" in card
    assert "| top_k | 20 (unverified) |" in card
    assert "Stop strings: `<end_code>`, `<|im_end|>`" in card and "Protocol: `cir`" in card
    assert (mlx_dir / CARD).read_text().startswith("# II-Search-CIR-4B-MLX-4bit\n")
    lines = capsys.readouterr().out.splitlines()
    assert lines.count(f"copy\t{copied}") == 1

    # A second export keeps the identical files and rewrites only the cards.
    assert main(["export", "lmstudio", str(outputs)]) == 0
    actions = {line.split("\t")[0] for line in capsys.readouterr().out.splitlines()}
    assert actions == {"kept", "card"}

    # A re-quantized file of exactly the same size (a new fine-tune) must not be skipped as "kept".
    requantized = outputs / "II-Search-CIR-4B.Q8_0.gguf"
    fresh = bytearray(requantized.read_bytes())
    fresh[-1] ^= 0xFF
    requantized.unlink()
    requantized.write_bytes(bytes(fresh))
    assert main(["export", "lmstudio", str(outputs)]) == 0
    assert f"copy\t{copied}" in capsys.readouterr().out.splitlines()
    assert copied.read_bytes() == bytes(fresh)


def test_hardlink_symlink_and_dry_run(home, outputs, tmp_path, capsys):
    models = tmp_path / "lm"
    source = outputs / "II-Search-CIR-4B.Q8_0.gguf"
    assert main(["export", "lmstudio", str(source), "--models-dir", str(models), "--dry-run"]) == 0
    assert not models.exists()
    planned = capsys.readouterr().out.splitlines()
    target = models / "Intelligent-Internet" / "II-Search-CIR-4B-GGUF" / "II-Search-CIR-4B-Q8_0.gguf"
    assert planned == [f"copy\t{target}", f"card\t{target.parent / CARD}"]

    assert main(["export", "lmstudio", str(source), "--models-dir", str(models), "--hardlink"]) == 0
    assert os.path.samefile(target, source) and not target.is_symlink()
    target.unlink()
    assert main(["export", "lmstudio", str(source), "--models-dir", str(models), "--symlink",
                 "--publisher", "me", "--name", "cir-test"]) == 0
    linked = models / "me" / "cir-test-GGUF" / "cir-test-Q8_0.gguf"
    assert linked.is_symlink() and os.path.samefile(linked, source)


def test_unknown_local_model_gets_local_publisher_and_defaults(home, tiny_models, tmp_path):
    models = tmp_path / "lm"
    assert main(["export", "lmstudio", str(tiny_models.gguf_f16), "--models-dir", str(models)]) == 0
    folder = models / "local" / "tiny-qwen3-GGUF"
    assert (folder / "tiny-qwen3-f16.gguf").is_file()
    assert "not a model iisearch-local knows by name" in (folder / CARD).read_text()


def test_bad_export_inputs_are_clear_errors(home, tmp_path, capsys):
    """Tried: a missing path, a folder with nothing to export, a non-GGUF file, a hostile name."""
    models = ["--models-dir", str(tmp_path / "lm")]
    assert main(["export", "lmstudio", str(tmp_path / "nope"), *models]) == 1
    assert "neither an existing file or folder nor a known model name" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["export", "lmstudio", str(tmp_path / "empty"), *models]) == 1
    assert "holds no .gguf file and no MLX folder" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("x")
    assert main(["export", "lmstudio", str(tmp_path / "notes.txt"), *models]) == 1
    assert "is not a .gguf file" in capsys.readouterr().err
    (tmp_path / "m.Q8_0.gguf").write_bytes(b"GGUF")
    assert main(["export", "lmstudio", str(tmp_path / "m.Q8_0.gguf"), "--name", "../escape", *models]) == 1
    assert "cannot be a folder name" in capsys.readouterr().err
    assert not (tmp_path / "lm").exists()
    assert main(["export", "lmstudio", "II-Search-4B", *models]) == 1  # known, but never downloaded
    assert "has nothing downloaded to export" in capsys.readouterr().err
