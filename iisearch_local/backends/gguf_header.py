"""Just enough of the GGUF header to give clear errors before llama.cpp sees a file.

llama.cpp reports a bad file as a bare "failed to load model"; reading the magic, version and
``general.architecture`` ourselves lets us say *what* is wrong (not a GGUF, truncated, unknown
architecture) and name the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

GGUF_MAGIC = b"GGUF"
# Scalar value types of the GGUF key/value section: type id -> struct format.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
# A real header never needs more than this to reach general.architecture.
_MAX_KEYS_SCANNED = 64


class GGUFHeaderError(ValueError):
    """The file is not a readable GGUF header."""


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    tensor_count: int
    kv_count: int
    architecture: str | None


def read_gguf_header(path: Path) -> GGUFHeader:
    """Parse the fixed header and scan the first keys for ``general.architecture``."""
    with path.open("rb") as handle:
        def take(fmt: str) -> tuple:
            size = struct.calcsize("<" + fmt)
            raw = handle.read(size)
            if len(raw) != size:
                raise GGUFHeaderError("the file ends inside its header (truncated)")
            return struct.unpack("<" + fmt, raw)

        def take_string() -> str:
            (length,) = take("Q")
            if length > 1 << 20:
                raise GGUFHeaderError("a header string claims an impossible length")
            raw = handle.read(length)
            if len(raw) != length:
                raise GGUFHeaderError("the file ends inside its header (truncated)")
            return raw.decode("utf-8", errors="replace")

        def skip_value(kind: int) -> None:
            if kind in _SCALARS:
                take(_SCALARS[kind])
            elif kind == _STRING:
                take_string()
            elif kind == _ARRAY:
                item_kind, count = take("IQ")
                if item_kind in _SCALARS:
                    handle.seek(struct.calcsize("<" + _SCALARS[item_kind]) * count, 1)
                else:
                    for _ in range(count):
                        skip_value(item_kind)
            else:
                raise GGUFHeaderError(f"unknown value type {kind} in the header")

        if handle.read(4) != GGUF_MAGIC:
            raise GGUFHeaderError("not a GGUF file (bad magic bytes)")
        (version,) = take("I")
        if version not in (2, 3):
            raise GGUFHeaderError(f"unsupported GGUF version {version}")
        tensor_count, kv_count = take("QQ")
        architecture = None
        for _ in range(min(kv_count, _MAX_KEYS_SCANNED)):
            key = take_string()
            (kind,) = take("I")
            if key == "general.architecture" and kind == _STRING:
                architecture = take_string()
                break
            skip_value(kind)
    return GGUFHeader(version=version, tensor_count=tensor_count, kv_count=kv_count,
                      architecture=architecture)
