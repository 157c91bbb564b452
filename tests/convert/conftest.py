"""Fixtures for the conversion command tests: tiny checkpoints named like the real models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def linked_checkpoint(source: Path, folder: Path) -> Path:
    """A checkpoint folder whose files are symlinks to ``source``'s (a free copy under a new name)."""
    folder.mkdir(parents=True)
    for path in source.iterdir():
        os.symlink(path, folder / path.name)
    return folder


@pytest.fixture()
def cir_checkpoint(tiny_models, tmp_path) -> Path:
    """The tiny bf16 model under the CIR model's name (the registry maps it to protocol 'cir')."""
    return linked_checkpoint(tiny_models.hf, tmp_path / "II-Search-CIR-4B")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("IISEARCH_HOME", str(tmp_path / "home"))
