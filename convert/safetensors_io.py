"""Minimal memory-mapped safetensors reading and writing that understands bfloat16.

numpy has no bfloat16, so ``safetensors``' numpy frontend refuses BF16 tensors. The file format is
simple (8-byte little-endian header length, JSON header, raw little-endian data), so we map the data
ourselves: BF16 tensors come back as ``uint16`` views and :func:`bf16_to_f32` widens them.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConversionError

#: Headers larger than this are not safetensors files (the format caps them at 100 MB).
MAX_HEADER_BYTES = 100 * 1024 * 1024
#: safetensors dtype name -> numpy dtype of the stored bytes (BF16 is kept as raw uint16).
STORAGE_DTYPES: dict[str, np.dtype] = {
    "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "F64": np.dtype("<f8"), "I64": np.dtype("<i8"), "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"), "I8": np.dtype("i1"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}


class SafetensorsFormatError(ConversionError):
    """A safetensors file is truncated, corrupt or uses a dtype we cannot read."""


@dataclass(frozen=True)
class StoredTensor:
    """A tensor inside a safetensors file: its safetensors dtype, shape and a read-only memmap."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    data: np.ndarray  # storage dtype (uint16 for BF16), memory-mapped

    def to_f32(self) -> np.ndarray:
        """The values as float32 (a copy; BF16 is widened exactly)."""
        if self.dtype == "BF16":
            return bf16_to_f32(self.data)
        return self.data.astype(np.float32)


def bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    """Widen raw bfloat16 bits (uint16) to float32: bf16 is the top half of an f32."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(values: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 bits (round to nearest even), returned as uint16."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def read_safetensors(path: Path) -> dict[str, StoredTensor]:
    """Map every tensor of one safetensors file without reading the data into memory."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise SafetensorsFormatError(f"{path} is too short to be a safetensors file")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
            raise SafetensorsFormatError(f"{path} has a corrupt safetensors header: it claims {header_len} "
                                         f"bytes but the file has {size} (truncated or not safetensors)")
        try:
            header = json.loads(handle.read(header_len))
        except ValueError as exc:
            raise SafetensorsFormatError(f"{path} has an unreadable safetensors header: {exc}") from exc
    base = 8 + header_len
    tensors: dict[str, StoredTensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = STORAGE_DTYPES.get(info.get("dtype", ""))
        if dtype is None:
            raise SafetensorsFormatError(f"{path}: tensor {name} has unsupported dtype {info.get('dtype')!r}")
        shape = tuple(int(dim) for dim in info["shape"])
        start, end = (int(offset) for offset in info["data_offsets"])
        count = int(np.prod(shape, dtype=np.int64))
        if end - start != count * dtype.itemsize:
            raise SafetensorsFormatError(
                f"{path}: the header lies about tensor {name}: shape {list(shape)} of {info['dtype']} needs "
                f"{count * dtype.itemsize} bytes but its data_offsets span {end - start}")
        if start < 0 or base + end > size:
            raise SafetensorsFormatError(
                f"{path}: tensor {name} ends at byte {base + end} but the file has only {size} bytes (truncated?)",
                hint="The download may be incomplete; fetch this file again.")
        data = np.memmap(path, dtype=dtype, mode="r", offset=base + start, shape=shape) if count else np.zeros(shape, dtype)
        tensors[name] = StoredTensor(name=name, dtype=info["dtype"], shape=shape, data=data)
    return tensors


_DTYPE_NAMES = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16"}


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], *, bf16: frozenset[str] = frozenset(),
                      metadata: dict[str, str] | None = None) -> int:
    """Write tensors (names in ``bf16`` hold raw uint16 bf16 bits) and return the data size in bytes."""
    header: dict[str, object] = {"__metadata__": metadata or {"format": "pt"}}
    offset = 0
    for name, array in tensors.items():
        dtype = "BF16" if name in bf16 else _DTYPE_NAMES.get(array.dtype)
        if dtype is None or (dtype == "BF16" and array.dtype != np.uint16):
            raise ValueError(f"cannot store tensor {name} of dtype {array.dtype}")
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header to 8 bytes with spaces
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)))
        handle.write(encoded)
        for array in tensors.values():
            handle.write(np.ascontiguousarray(array).tobytes())
    return offset
