"""``iisearch convert verify``: does a converted model still compute what the checkpoint computes?

The reference is the unquantized Hugging Face checkpoint, run either through MLX in float32 or, as
a GGUF f32 written by our converter, through llama.cpp. Each converted model (a GGUF file run by
llama-cpp-python with ``logits_all=True``, or an MLX folder) sees the same token sequences; at
every position we compare the next-token distributions: top-1 agreement and the mean KL
divergence KL(reference || converted). Pass/fail uses :data:`THRESHOLDS`, one row per kind.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConversionError

Progress = Callable[[str], None]
LogitsRunner = Callable[[list[int]], np.ndarray]  # token ids -> (positions, vocab) float32 logits


@dataclass(frozen=True)
class Threshold:
    """The worst a conversion of one kind may do and still pass."""

    min_top1: float  # fraction of positions whose most likely token matches the reference
    max_mean_kl: float  # nats, averaged over positions


# Measured (2026-11) with verify_conversions(prompts=8, reference="mlx"; 298 positions) on two
# random tiny Qwen3 models: the test fixture (hidden 64) and a wider one (hidden 256, so that the
# K-quants really apply; at width 64 llama.cpp falls back, e.g. Q6_K -> Q8_0, Q2_K -> Q4_0).
# Measured (top-1, mean KL) small | wide, then the threshold: roughly the worst top-1 minus 0.1
# and about 2x the worst KL. Random tiny models amplify weight noise chaotically and have
# near-flat distributions, so these bounds are LOOSE (Q2_K hardly checks anything; a wrong model
# scores KL ~10); real-model thresholds need a measurement on a real II-Search checkpoint.
# Rows marked "not measured" borrow the row of their nearest measured sibling.
THRESHOLDS: dict[str, Threshold] = {
    "F32": Threshold(0.95, 0.001),  # not measured against MLX; the GGUF f32 reference is exact
    "F16": Threshold(0.95, 0.001),  # 0.993, 0.00001 | 1.000, 0.00002
    "BF16": Threshold(0.90, 0.002),  # 0.973, 0.00036 | 0.977, 0.00078
    "Q8_0": Threshold(0.85, 0.05),  # 0.916, 0.0096 | 0.920, 0.023
    "Q6_K": Threshold(0.70, 0.30),  # (= Q8_0) | 0.812, 0.156
    "Q5_K_M": Threshold(0.55, 0.75),  # 0.631, 0.195 | 0.691, 0.390
    "Q5_K_S": Threshold(0.55, 0.75),  # not measured (Q5_K_M)
    "Q5_0": Threshold(0.50, 1.10),  # 0.597, 0.243 | 0.671, 0.549
    "Q4_K_M": Threshold(0.35, 2.75),  # 0.584, 0.233 | 0.460, 1.379
    "Q4_K_S": Threshold(0.35, 2.75),  # not measured (Q4_K_M)
    "Q4_0": Threshold(0.22, 4.50),  # 0.329, 0.965 | 0.329, 2.251
    "IQ4_NL": Threshold(0.28, 3.30),  # 0.393, 0.671 | 0.423, 1.669
    "IQ4_XS": Threshold(0.28, 3.30),  # not measured (IQ4_NL)
    "Q3_K_M": Threshold(0.15, 7.00),  # 0.520, 0.547 | 0.262, 3.485
    "Q2_K": Threshold(0.0, 23.0),  # 0.329, 0.965 | 0.030, 11.40
    "mlx-8bit": Threshold(0.70, 0.40),  # 0.829, 0.037 | 0.802, 0.190
    "mlx-4bit": Threshold(0.15, 7.50),  # 0.312, 1.438 | 0.255, 3.656
}

# Built-in texts (our own) wrapped as chat turns; varied so many tokens and positions are covered.
VERIFY_PROMPTS: tuple[tuple[str, str], ...] = (
    ("Which river flows through the capital of Hungary?", "The Danube flows through Budapest."),
    ("Find the year the first transatlantic telegraph cable was completed.",
     "<think>\nI should search for the telegraph cable history.\n</think>\n\nIt was completed in 1858."),
    ("Summarise the causes of the 1929 stock market crash in two sentences.",
     "Speculation on margin inflated prices. When confidence broke, forced selling followed."),
    ("What is 17 multiplied by 23? Show the steps.", "17 * 20 = 340 and 17 * 3 = 51, so 391."),
    ("Who wrote the novel that introduced the word 'robot'?", "Karel Čapek's play R.U.R. introduced it."),
    ("List three programming languages created before 1970.", "Fortran, Lisp and COBOL."),
    ("How far is the Moon from the Earth on average?", "About 384,400 kilometres."),
    ("Translate 'good morning' into French and German.", "Bonjour; Guten Morgen."),
)


@dataclass(frozen=True)
class VerifyReport:
    """How one converted model compares with the reference."""

    path: Path
    kind: str
    positions: int
    top1_agreement: float
    mean_kl: float
    threshold: Threshold

    @property
    def passed(self) -> bool:
        return self.top1_agreement >= self.threshold.min_top1 and self.mean_kl <= self.threshold.max_mean_kl


def verify_token_sequences(src: Path, *, prompts: int) -> list[list[int]]:
    """``prompts`` chat-formatted prompt + answer texts, tokenized with the checkpoint's tokenizer."""
    from tokenizers import Tokenizer

    tokenizer_path = Path(src) / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise ConversionError(f"{tokenizer_path} is missing", hint="verify needs the checkpoint's tokenizer.")
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    sequences = []
    for index in range(prompts):
        question, answer = VERIFY_PROMPTS[index % len(VERIFY_PROMPTS)]
        text = f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>\n"
        sequences.append(tokenizer.encode(text, add_special_tokens=False).ids)
    return sequences


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def compare_logits(reference: np.ndarray, converted: np.ndarray) -> tuple[float, float]:
    """(top-1 agreement, mean KL(reference || converted)) over the rows of two logit matrices."""
    if reference.shape != converted.shape:
        raise ConversionError(f"logit shapes differ: reference {reference.shape}, converted {converted.shape}",
                              hint="The converted model has another vocabulary size.")
    log_p, log_q = _log_softmax(reference), _log_softmax(converted)
    kl = (np.exp(log_p) * (log_p - log_q)).sum(axis=-1)
    agreement = float((reference.argmax(axis=-1) == converted.argmax(axis=-1)).mean())
    return agreement, float(np.maximum(kl, 0.0).mean())


def gguf_runner(path: Path, *, context: int) -> LogitsRunner:
    """Logits of every position from a GGUF file through llama-cpp-python."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise ConversionError("verifying a GGUF needs llama-cpp-python",
                              hint="Install the 'llama' extra: pip install 'iisearch-local[llama]'.") from exc
    llm = llama_cpp.Llama(str(path), n_ctx=context, n_batch=context, logits_all=True, verbose=False)

    def run(tokens: list[int]) -> np.ndarray:
        llm.reset()
        llm.eval(tokens)
        return np.array(llm.scores[: len(tokens)], dtype=np.float32)

    return run


def mlx_runner(folder: Path, *, float32: bool) -> LogitsRunner:
    """Logits of every position from an MLX-loadable folder (an HF checkpoint or an MLX conversion)."""
    try:
        import mlx.core as mx
        from mlx_lm import load
    except ImportError as exc:
        raise ConversionError("this comparison needs MLX",
                              hint="Install the 'mlx' extra, or use --reference gguf.") from exc
    model, _ = load(str(folder))
    if float32:
        model.set_dtype(mx.float32)

    def run(tokens: list[int]) -> np.ndarray:
        logits = model(mx.array([tokens]))
        return np.array(logits[0].astype(mx.float32))

    return run


def gguf_kind(path: Path) -> str:
    """The quantization of a GGUF file from its ``general.file_type`` (``Q4_K_M``, ``F16``...)."""
    import gguf
    import llama_cpp

    metadata = llama_cpp.Llama(str(path), vocab_only=True, verbose=False).metadata
    try:
        name = gguf.LlamaFileType(int(metadata["general.file_type"])).name
    except (KeyError, ValueError) as exc:
        raise ConversionError(f"{path} does not state its quantization (general.file_type)") from exc
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def mlx_kind(folder: Path) -> str:
    """``mlx-4bit`` / ``mlx-8bit`` from an MLX folder's config.json (``mlx-F16`` when unquantized)."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    quantization = config.get("quantization") or config.get("quantization_config")
    if isinstance(quantization, dict) and quantization.get("bits"):
        return f"mlx-{quantization['bits']}bit"
    return "F16" if config.get("torch_dtype") == "float16" else "F32"


def _reference_runner(src: Path, reference: str, workdir: Path, context: int) -> LogitsRunner:
    if reference == "auto":
        import importlib.util

        reference = "mlx" if importlib.util.find_spec("mlx") and importlib.util.find_spec("mlx_lm") else "gguf"
    if reference == "mlx":
        return mlx_runner(src, float32=True)
    from .gguf import convert_hf_to_gguf

    return gguf_runner(convert_hf_to_gguf(src, workdir / "reference-f32.gguf", out_type="f32"), context=context)


def verify_conversions(src: Path, converted: list[Path], *, prompts: int = 4, reference: str = "auto",
                       progress: Progress | None = None) -> list[VerifyReport]:
    """Compare every converted model with the reference run of ``src`` (see the module docstring)."""
    src = Path(src)
    say = progress or (lambda message: None)
    sequences = verify_token_sequences(src, prompts=prompts)
    context = max(len(tokens) for tokens in sequences) + 8
    kinds = {}
    for path in converted:  # fail on an unknown kind before the slow runs
        kind = gguf_kind(path) if path.is_file() else mlx_kind(path)
        if kind not in THRESHOLDS:
            raise ConversionError(f"no verify threshold for {kind} ({path})",
                                  hint=f"Known kinds: {', '.join(THRESHOLDS)}.")
        kinds[path] = kind
    with tempfile.TemporaryDirectory(prefix="iisearch-verify-") as workdir:
        say(f"running the reference ({reference}) on {len(sequences)} sequence(s)")
        run_reference = _reference_runner(src, reference, Path(workdir), context)
        reference_logits = [run_reference(tokens) for tokens in sequences]
    reports = []
    for path in converted:
        say(f"running {path}")
        run = gguf_runner(path, context=context) if path.is_file() else mlx_runner(path, float32=False)
        agreements, divergences, counts = [], [], []
        for tokens, want in zip(sequences, reference_logits):
            agreement, kl = compare_logits(want, run(tokens))
            agreements.append(agreement)
            divergences.append(kl)
            counts.append(len(tokens))
        weights = np.array(counts, dtype=np.float64)
        reports.append(VerifyReport(
            path=path, kind=kinds[path], positions=int(weights.sum()),
            top1_agreement=float(np.average(agreements, weights=weights)),
            mean_kl=float(np.average(divergences, weights=weights)), threshold=THRESHOLDS[kinds[path]]))
    return reports
