"""Training checkpoints: ``out/checkpoints/step-000123/``, each written whole or not at all.

A checkpoint folder holds ``adapters.safetensors`` (the trainable parameters), its own
``adapter_config.json`` (so mlx-lm can load any checkpoint as an adapter folder),
``optimizer.safetensors`` (``tree_flatten(optimizer.state)``) and ``state.json`` (step, data
position, seed, random state, loss history and the run's *identity*: the settings a resumed run
must share). It is built in a hidden temporary folder and renamed into place, so a process killed
at any moment leaves the previous checkpoint intact and never a half-written one under a real name.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserFacingError

CHECKPOINTS_DIR = "checkpoints"
ADAPTERS_FILE = "adapters.safetensors"
ADAPTER_CONFIG_FILE = "adapter_config.json"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "state.json"
STATE_FORMAT = 1
_NAME = re.compile(r"^step-(\d{6,})$")


class CheckpointError(UserFacingError):
    """A checkpoint cannot be read, or belongs to a different training run."""


@dataclass
class CheckpointState:
    """Everything besides tensors that a resumed run needs to continue exactly."""

    step: int  # optimizer steps done
    total_steps: int
    position: int  # micro-batches consumed from the data stream (step * grad_accumulation)
    epoch: float
    seed: int
    rng_state: list[int]  # mx.random.state[0] (dropout draws)
    losses: list[float] = field(default_factory=list)  # train loss of every step so far
    val_losses: list[list[float]] = field(default_factory=list)  # [step, loss] pairs
    identity: dict[str, Any] = field(default_factory=dict)
    format: int = STATE_FORMAT


def checkpoint_name(step: int) -> str:
    return f"step-{step:06d}"


def list_checkpoints(out: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``out/checkpoints``, oldest first (temp folders are ignored)."""
    folder = Path(out) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(out: Path) -> Path | None:
    found = list_checkpoints(out)
    return found[-1][1] if found else None


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":  # directories cannot be opened for fsync on Windows
        return
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def save_checkpoint(out: Path, state: CheckpointState, *, adapters: dict, optimizer_state: dict,
                    adapter_config: dict, keep: int = 0) -> Path:
    """Write a checkpoint atomically and prune all but the newest ``keep`` (0 = keep all)."""
    import mlx.core as mx

    folder = Path(out) / CHECKPOINTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / checkpoint_name(state.step)
    temp = folder / f".{final.name}.partial-{os.getpid()}"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    mx.save_safetensors(str(temp / ADAPTERS_FILE), adapters)
    mx.save_safetensors(str(temp / OPTIMIZER_FILE), optimizer_state)
    _write_json(temp / ADAPTER_CONFIG_FILE, adapter_config)
    _write_json(temp / STATE_FILE, asdict(state))  # last: its presence marks the folder complete
    for path in temp.iterdir():
        _fsync_file(path)
    if final.exists():  # a checkpoint of the same step from an earlier run: replace it whole
        stale = folder / f".{final.name}.stale-{os.getpid()}"
        os.replace(final, stale)
        shutil.rmtree(stale, ignore_errors=True)
    os.replace(temp, final)
    _fsync_dir(folder)
    if keep > 0:
        for _step, old in list_checkpoints(out)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def publish_adapters(out: Path, adapters_file: Path, adapter_config: dict) -> None:
    """Copy a checkpoint's adapters to ``out/`` (what ``mlx_lm.load(base, adapter_path=out)`` reads)."""
    out = Path(out)
    temp_weights = out / f".{ADAPTERS_FILE}.partial-{os.getpid()}"
    shutil.copyfile(adapters_file, temp_weights)
    _fsync_file(temp_weights)
    temp_config = out / f".{ADAPTER_CONFIG_FILE}.partial-{os.getpid()}"
    _write_json(temp_config, adapter_config)
    # weights first: a reader that finds the new config next to old weights would be worse
    os.replace(temp_weights, out / ADAPTERS_FILE)
    os.replace(temp_config, out / ADAPTER_CONFIG_FILE)
    _fsync_dir(out)


def load_checkpoint(path: Path) -> tuple[CheckpointState, dict, dict]:
    """``(state, adapter tensors, flat optimizer state)`` of a checkpoint folder."""
    import mlx.core as mx

    try:
        raw = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        state = CheckpointState(**raw)
        adapters = mx.load(str(path / ADAPTERS_FILE))
        optimizer_state = mx.load(str(path / OPTIMIZER_FILE))
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"the checkpoint {path} cannot be read: {exc}",
                              hint="Delete that folder to resume from the one before it.") from None
    if state.format != STATE_FORMAT:
        raise CheckpointError(f"the checkpoint {path} has format {state.format}, expected {STATE_FORMAT}")
    return state, adapters, optimizer_state


def check_identity(saved: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    """Refuse to resume when a setting that shapes the training run has changed."""
    differences = [f"{key}: {saved.get(key)!r} in the checkpoint, {current.get(key)!r} now"
                   for key in sorted(set(saved) | set(current)) if saved.get(key) != current.get(key)]
    if differences:
        raise CheckpointError(
            f"{path} belongs to a different training run; changed: " + "; ".join(differences),
            hint="Resume with the same config, or pass --no-resume to start over (the old "
                 "checkpoints are moved aside, not deleted).")


def set_aside(out: Path) -> Path | None:
    """Move ``out/checkpoints`` to ``out/checkpoints.old-<time>`` before a fresh start."""
    folder = Path(out) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return None
    target = folder.with_name(f"{CHECKPOINTS_DIR}.old-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.replace(folder, target)
    return target


def remove_partials(out: Path) -> None:
    """Delete temporary folders and files a killed run left behind (never a complete checkpoint)."""
    out = Path(out)
    for parent in (out, out / CHECKPOINTS_DIR):
        if not parent.is_dir():
            continue
        for path in parent.glob(".*.partial-*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
