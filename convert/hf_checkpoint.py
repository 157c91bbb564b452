"""Open a Hugging Face checkpoint folder: its config, its (possibly sharded) safetensors, its tokenizer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ConversionError
from .safetensors_io import StoredTensor, read_safetensors

CONFIG_FILE = "config.json"
SINGLE_WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX_FILE = "model.safetensors.index.json"


@dataclass(frozen=True)
class HfCheckpoint:
    """A checkpoint folder with its parsed ``config.json`` and every tensor memory-mapped."""

    folder: Path
    config: dict
    tensors: dict[str, StoredTensor]

    def read_json(self, file_name: str) -> dict | None:
        """A JSON side file of the checkpoint (tokenizer files...), or None when absent."""
        return read_json_file(self.folder / file_name) if (self.folder / file_name).is_file() else None


def read_json_file(path: Path) -> dict:
    """Parse a JSON file, turning a missing or broken file into a ConversionError naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConversionError(f"{path} is missing", hint="Is this a Hugging Face model folder?") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConversionError(f"{path} cannot be read: {exc}") from exc


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint, from its shard index when there is one."""
    index_path = folder / WEIGHTS_INDEX_FILE
    if index_path.is_file():
        weight_map = read_json_file(index_path).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ConversionError(f"{index_path} has no weight_map")
        files = [folder / name for name in dict.fromkeys(weight_map.values())]
        for path in files:
            if not path.is_file():
                raise ConversionError(
                    f"shard {path.name} listed in {index_path.name} is missing from {folder}",
                    hint="The download may be incomplete; fetch the missing file again.",
                )
        return files
    single = folder / SINGLE_WEIGHTS_FILE
    if single.is_file():
        return [single]
    raise ConversionError(
        f"no weights in {folder}: neither {SINGLE_WEIGHTS_FILE} nor {WEIGHTS_INDEX_FILE} exists",
        hint="Only safetensors checkpoints are supported.",
    )


def open_checkpoint(folder: Path) -> HfCheckpoint:
    """Read ``config.json`` and map all weight shards of a Hugging Face model folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConversionError(f"{folder} is not a folder", hint="Pass the Hugging Face model folder.")
    config = read_json_file(folder / CONFIG_FILE)
    tensors: dict[str, StoredTensor] = {}
    for path in weight_files(folder):
        for name, tensor in read_safetensors(path).items():
            if name in tensors:
                raise ConversionError(f"tensor {name} appears in more than one shard ({path.name})")
            tensors[name] = tensor
    return HfCheckpoint(folder=folder, config=config, tensors=tensors)
