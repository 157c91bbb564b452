"""scripts/bench convert: our streaming HF -> GGUF converter against llama.cpp's convert_hf_to_gguf.py.

Figures (one JSON line each):
- peak_rss_mb: peak resident memory of the converting process (target: ours <= reference);
- throughput_mb_per_s: checkpoint bytes read per second of wall time (target: ratio >= 0.8).
Each converter runs in its own fresh subprocess that reports ``resource.getrusage`` at the end,
so neither sees the other's memory. The reference needs torch and $IISEARCH_LLAMA_CPP_SRC; without
them only our figures are printed (reference null, pass false).
Default checkpoint: a random Qwen3 of ~0.3 GB (bf16) built once under /tmp; --src takes a real one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, say  # noqa: E402

from iisearch_local.convert.reference import reference_command, reference_unavailable_reason  # noqa: E402

BENCH = "convert"
DEFAULT_SRC = Path(tempfile.gettempdir()) / "iisearch-bench-convert" / "qwen3-random"
# A subprocess wrapper: run one converter, then print its own peak RSS (KiB on Linux, bytes on macOS).
_MEASURE = """
import json, os, resource, runpy, sys, time
started = time.perf_counter()
mode, args = sys.argv[1], sys.argv[2:]
if mode == "ours":
    from iisearch_local.convert.gguf import convert_hf_to_gguf
    convert_hf_to_gguf(args[0], args[1], out_type=args[2])
else:  # as `python script.py` would: the script's folder first on sys.path
    sys.argv = args
    sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))
    runpy.run_path(args[0], run_name="__main__")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_mb": peak / (1024 * 1024 if sys.platform == "darwin" else 1024)}))
"""


def _default_checkpoint() -> Path:
    from iisearch_local.testing.tiny_qwen3 import build_tiny_qwen3

    if not (DEFAULT_SRC / "config.json").is_file():
        say(f"building a random Qwen3 checkpoint in {DEFAULT_SRC}")
        build_tiny_qwen3(DEFAULT_SRC, hidden_size=768, layers=8, heads=12, kv_heads=4, head_dim=64,
                         intermediate=2048, shards=2)
    return DEFAULT_SRC


def _measure(argv: list[str], env: dict[str, str] | None = None) -> dict:
    completed = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True, text=True,
                               env=env, check=False)
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-2000:])
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=None, help="Hugging Face Qwen3 folder to convert.")
    parser.add_argument("--out-type", default="f16", choices=["f16", "bf16", "f32"])
    args = parser.parse_args()
    src = args.src or _default_checkpoint()
    source_mb = sum(path.stat().st_size for path in src.glob("*.safetensors")) / 1e6
    with tempfile.TemporaryDirectory(prefix="iisearch-bench-convert-") as workdir:
        say(f"ours: converting {src} ({source_mb:.0f} MB)")
        ours = _measure(["ours", str(src), str(Path(workdir) / "ours.gguf"), args.out_type])
        reference = None
        reason = reference_unavailable_reason()
        if reason is None:
            say("reference: llama.cpp convert_hf_to_gguf.py")
            command, env = reference_command(src, Path(workdir) / "theirs.gguf", out_type=args.out_type)
            reference = _measure(["reference", *command[1:]], env=env)
        else:
            say(f"reference skipped: {reason}")
    ours_rate = source_mb / ours["seconds"]
    if reference is None:
        emit(BENCH, "peak_rss_mb", ours=round(ours["peak_mb"], 1), reference=None, ratio=None,
             target="ours <= reference", passed=False, note=reason)
        emit(BENCH, "throughput_mb_per_s", ours=round(ours_rate, 1), reference=None, ratio=None,
             target="ratio >= 0.8", passed=False, note=reason)
        return 0
    theirs_rate = source_mb / reference["seconds"]
    emit(BENCH, "peak_rss_mb", ours=round(ours["peak_mb"], 1), reference=round(reference["peak_mb"], 1),
         ratio=round(ours["peak_mb"] / reference["peak_mb"], 3), target="ours <= reference",
         passed=ours["peak_mb"] <= reference["peak_mb"], source_mb=round(source_mb, 1))
    emit(BENCH, "throughput_mb_per_s", ours=round(ours_rate, 1), reference=round(theirs_rate, 1),
         ratio=round(ours_rate / theirs_rate, 3), target="ratio >= 0.8", passed=ours_rate / theirs_rate >= 0.8,
         source_mb=round(source_mb, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
