"""scripts/bench convert: our streaming HF -> GGUF converter against llama.cpp's convert_hf_to_gguf.py.

Figures (one JSON line each):
- peak_rss_mb: peak resident memory of the converting process (target: ours <= 1.5 x the
  largest tensor + 300 MB, i.e. memory does not grow with the checkpoint; the reference's is shown);
- throughput_mb_per_s: checkpoint bytes read per second of wall time (target: ratio >= 0.9).
Each converter runs in its own fresh subprocess that reports ``resource.getrusage`` at the end,
so neither sees the other's memory. The reference needs torch and $IISEARCH_LLAMA_CPP_SRC; without
them only our figures are printed (reference null, pass false).
Default checkpoint: a random Qwen3 of ~1 GB (bf16, 2 shards) built once under /tmp; --src takes a
real one.
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
DEFAULT_SRC = Path(tempfile.gettempdir()) / "iisearch-bench-convert" / "qwen3-random-1g"
# A subprocess wrapper: run one converter, then print its own peak RSS.
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
# VmHWM is this process image's own peak; ru_maxrss would also count the parent's peak
# at fork time on Linux (a parent that just built a large checkpoint inflates it).
try:
    status = open("/proc/self/status").read()
    peak_kib = int(status.split("VmHWM:")[1].split()[0])
except (OSError, IndexError, ValueError):
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform == "darwin" else 1)
print(json.dumps({"seconds": time.perf_counter() - started, "peak_mb": peak_kib / 1024}))
"""


def _default_checkpoint() -> Path:
    from iisearch_local.testing.tiny_qwen3 import build_tiny_qwen3

    if not (DEFAULT_SRC / "config.json").is_file():
        say(f"building a random Qwen3 checkpoint in {DEFAULT_SRC}")
        # 28 layers at width 1024 + the 151936-token embedding: ~508M parameters, ~1.02 GB bf16.
        build_tiny_qwen3(DEFAULT_SRC, hidden_size=1024, layers=28, heads=16, kv_heads=8,
                         head_dim=64, intermediate=3072, shards=2)
    return DEFAULT_SRC


def largest_tensor_mb(src: Path) -> float:
    """Size of the biggest tensor in the checkpoint, from the safetensors headers."""
    sizes = {"BF16": 2, "F16": 2, "F32": 4, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "I8": 1}
    largest = 0
    for shard in src.glob("*.safetensors"):
        with shard.open("rb") as handle:
            header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
        for name, info in header.items():
            if name != "__metadata__":
                count = 1
                for dim in info["shape"]:
                    count *= dim
                largest = max(largest, count * sizes.get(info["dtype"], 4))
    return largest / 1e6


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
    limit = 1.5 * largest_tensor_mb(src) + 300
    theirs_peak = None if reference is None else reference["peak_mb"]
    emit(BENCH, "peak_rss_mb", ours=round(ours["peak_mb"], 1),
         reference=None if theirs_peak is None else round(theirs_peak, 1),
         ratio=None if theirs_peak is None else round(ours["peak_mb"] / theirs_peak, 3),
         target=f"ours <= 1.5 x largest tensor + 300 MB = {limit:.0f} MB",
         passed=ours["peak_mb"] <= limit, source_mb=round(source_mb, 1), note=reason or "")
    if reference is None:
        emit(BENCH, "throughput_mb_per_s", ours=round(ours_rate, 1), reference=None, ratio=None,
             target="ratio >= 0.9", passed=False, note=reason)
        return 0
    theirs_rate = source_mb / reference["seconds"]
    emit(BENCH, "throughput_mb_per_s", ours=round(ours_rate, 1), reference=round(theirs_rate, 1),
         ratio=round(ours_rate / theirs_rate, 3), target="ratio >= 0.9",
         passed=ours_rate / theirs_rate >= 0.9, source_mb=round(source_mb, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
