"""llama.cpp's own ``convert_hf_to_gguf.py``, for comparing our converter against (tests and benches).

It lives in a llama.cpp source tree (``$IISEARCH_LLAMA_CPP_SRC``), needs that tree's ``gguf-py`` on
``PYTHONPATH`` and torch; we never depend on it at run time.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

SOURCE_ENV = "IISEARCH_LLAMA_CPP_SRC"
SCRIPT_NAME = "convert_hf_to_gguf.py"


def reference_script() -> Path | None:
    """The reference converter script, or None when ``$IISEARCH_LLAMA_CPP_SRC`` does not have it."""
    root = os.environ.get(SOURCE_ENV)
    script = Path(root) / SCRIPT_NAME if root else None
    return script if script is not None and script.is_file() else None


def reference_unavailable_reason() -> str | None:
    """Why the reference converter cannot run here, or None when it can."""
    if reference_script() is None:
        return f"${SOURCE_ENV} does not point at a llama.cpp source tree with {SCRIPT_NAME}"
    if importlib.util.find_spec("torch") is None:
        return "llama.cpp's reference converter needs torch (pip install torch), which is not installed"
    return None


def reference_command(src: Path, out: Path, *, out_type: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run the reference converter."""
    script = reference_script()
    if script is None:
        raise RuntimeError(reference_unavailable_reason())
    env = dict(os.environ)
    gguf_py = str(script.parent / "gguf-py")  # the tree's own gguf package, matching the script
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [gguf_py, env.get("PYTHONPATH")]))
    return [sys.executable, str(script), str(src), "--outfile", str(out), "--outtype", out_type], env


def run_reference_converter(src: Path, out: Path, *, out_type: str = "f16") -> Path:
    """Convert ``src`` with llama.cpp's converter; raises with its stderr on failure."""
    command, env = reference_command(src, out, out_type=out_type)
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"reference converter failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return out
