"""scripts/bench finetune: training tokens/s of `iisearch finetune train` vs plain `mlx_lm lora`.

Figure (one JSON line): ``train_tokens_per_s``, ours / reference, target ratio >= 0.9.

Both sides train the same model (the suite's tiny Qwen3 by default; ``--model`` for a real MLX or
HF folder, or ``--hidden``/``--layers`` for a bigger random one) on the same token sequences with
the same settings: LoRA rank 8 / scale 20 / dropout 0 on all layers, batch size ``--batch``,
no gradient accumulation, gradient checkpointing on, ``--iters`` steps, a report every
``--report`` steps. The reference is ``python -m mlx_lm lora`` in a subprocess (its "Tokens/sec"
reports parsed from its output); ours is ``train()`` in this process (its report events).

Token definition, both sides: the tokens of the examples in the batch, padding excluded (what
mlx-lm's trainer counts). Throughput = mean of the report windows after the first (the first
holds the compile). Every example is 258-288 tokens, so each step of either side runs the same
padded shape and the ratio measures the training loop, not which examples a shuffle drew.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, say  # noqa: E402

BENCH = "finetune"
LENGTH_RANGE = (258, 288)  # one 32-token padding bucket for both trainers
WORDS = ("search results mention the river bridge built by engineers in the old town archive "
         "records dates names population census mayor election museum painting author novel "
         "published century university founded professor discovered element").split()
# mlx-lm's report line: "  iter    loss ▼    tokens/sec    trained_k"
ANSI_CODE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
REPORT_LINE = re.compile(r"^\s*(\d+)\s+([\d.]+)\s+[▼▲]\s+([\d,.]+)\s+([\d.]+)k\s*$")


def make_texts(tokenizer, count: int, seed: int) -> list[tuple[str, list[int], int]]:
    """``(text, tokens, prompt_tokens)`` per example; tokens as mlx-lm's text dataset makes them."""
    import numpy as np

    rng = np.random.default_rng(seed)
    examples = []
    for index in range(count):
        prompt = f"<|im_start|>user\nQuestion {index}: who founded the museum?<|im_end|>\n<|im_start|>assistant\n"
        words: list[str] = []
        target = int(rng.integers(LENGTH_RANGE[0], LENGTH_RANGE[1] - 3))  # a word adds <= 3 tokens
        while True:
            words.append(WORDS[int(rng.integers(len(WORDS)))])
            text = prompt + "<think>" + " ".join(words) + "</think>\nThe answer.<|im_end|>"
            tokens = tokenizer.encode(text)
            if tokens[-1] != tokenizer.eos_token_id:
                tokens.append(tokenizer.eos_token_id)  # mlx-lm's TextDataset does the same
            if len(tokens) >= target:
                break
        assert len(tokens) <= LENGTH_RANGE[1], len(tokens)
        examples.append((text, tokens, len(tokenizer.encode(prompt))))
    return examples


def write_data(folder: Path, model: Path, examples, valid_count: int) -> tuple[Path, Path]:
    """The same examples as mlx-lm text jsonl and as our dataset folder."""
    from iisearch_local.finetune.examples import TokenizedExample, write_dataset
    from iisearch_local.finetune.examples import tokenizer_fingerprint

    reference_dir, ours_dir = folder / "mlx_lm_data", folder / "ours_data"
    reference_dir.mkdir(parents=True)
    split = {"train": examples[valid_count:], "valid": examples[:valid_count]}
    for name, items in split.items():
        with (reference_dir / f"{name}.jsonl").open("w", encoding="utf-8") as out:
            for text, _tokens, _prompt in items:
                out.write(json.dumps({"text": text}) + "\n")
        write_dataset(ours_dir / f"{name}.jsonl",
                      [TokenizedExample(tokens, [(prompt, len(tokens))]) for _text, tokens, prompt in items])
    (ours_dir / "build.json").write_text(json.dumps({"tokenizer": tokenizer_fingerprint(model)}))
    return reference_dir, ours_dir


def run_reference(model: Path, data: Path, adapters: Path, args) -> list[float]:
    """``python -m mlx_lm lora`` as a user runs it; returns tokens/s of each report."""
    command = [sys.executable, "-m", "mlx_lm", "lora", "--model", str(model), "--train", "--data", str(data),
               "--iters", str(args.iters), "--batch-size", str(args.batch), "--steps-per-report",
               str(args.report), "--steps-per-eval", str(10 * args.iters), "--val-batches", "1",
               "--num-layers", "-1", "--learning-rate", "1e-5", "--grad-checkpoint", "--seed", "0",
               "--save-every", str(10 * args.iters), "--adapter-path", str(adapters)]
    say("reference:", " ".join(command[1:]))
    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1", "TERM": "dumb"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        say(done.stdout[-3000:], done.stderr[-3000:])
        raise SystemExit("mlx_lm lora failed")
    rates = [float(match.group(3).replace(",", "")) for line in ANSI_CODE.sub("", done.stdout).splitlines()
             if (match := REPORT_LINE.match(line))]
    if len(rates) != args.iters // args.report:
        say(done.stdout[-3000:])
        raise SystemExit(f"expected {args.iters // args.report} reports from mlx_lm lora, parsed {len(rates)}")
    return rates


def run_ours(model: Path, data: Path, out: Path, args) -> list[float]:
    from iisearch_local.finetune.config import load_train_config
    from iisearch_local.finetune.train import train

    config = out.with_suffix(".toml")
    config.write_text("\n".join([
        f'out = "{out}"', "[model]", f'base = "{model}"', "[train]", "learning_rate = 1e-5",
        f"iters = {args.iters}", f"batch_size = {args.batch}", "grad_accumulation = 1",
        "grad_checkpoint = true", f"steps_per_report = {args.report}", f"steps_per_eval = {10 * args.iters}",
        "val_batches = 1", f"save_every = {10 * args.iters}", "max_length = 2048", "num_layers = -1",
        "[[phases]]", 'name = "bench"', f'data = "{data}"', "proportion = 1.0"]) + "\n")
    rates: list[float] = []
    train(load_train_config(config), resume=False,
          on_progress=lambda e: rates.append(e.tokens_per_s) if e.kind == "report" else None)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a real MLX or HF model folder instead of the tiny one")
    parser.add_argument("--hidden", type=int, help="build a random tiny Qwen3 with this hidden size")
    parser.add_argument("--layers", type=int, default=4, help="layers of that random model")
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--iters", type=int, default=16)
    parser.add_argument("--report", type=int, default=4, help="steps per report window")
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    if args.iters % args.report or args.iters // args.report < 2:
        parser.error("--iters must be a multiple of --report, with at least 2 windows")

    from mlx_lm.utils import load_tokenizer

    with tempfile.TemporaryDirectory(prefix="bench-finetune-") as temp:
        temp_dir = Path(temp)
        if args.model:
            model, what = args.model.resolve(), f"model {args.model}"
        elif args.hidden:
            from iisearch_local.testing.fixtures import ensure_tiny_models
            from iisearch_local.testing.tiny_qwen3 import build_tiny_qwen3
            model = build_tiny_qwen3(temp_dir / "model", hidden_size=args.hidden, layers=args.layers,
                                     heads=max(4, args.hidden // 64), kv_heads=2, head_dim=64 if args.hidden >= 256 else 16,
                                     intermediate=args.hidden * 3, tokenizer_source=ensure_tiny_models().hf)
            what = f"random Qwen3, hidden {args.hidden}, {args.layers} layers (vocab 151936)"
        else:
            from iisearch_local.testing.fixtures import ensure_tiny_models
            model, what = ensure_tiny_models().hf, "the suite's tiny Qwen3 (hidden 64, 2 layers, vocab 151936, bf16)"
        say(f"model: {what}")
        examples = make_texts(load_tokenizer(model), args.examples, seed=0)
        reference_data, ours_data = write_data(temp_dir, model, examples, valid_count=2)
        lengths = [len(tokens) for _text, tokens, _prompt in examples]
        say(f"data: {len(examples) - 2} train / 2 valid examples of {min(lengths)}-{max(lengths)} tokens; "
            f"LoRA rank 8 all layers, batch {args.batch}, {args.iters} steps, report every {args.report}")

        ours_rates = run_ours(model, ours_data, temp_dir / "ours", args)
        reference_rates = run_reference(model, reference_data, temp_dir / "reference", args)
    say(f"ours tok/s per window:      {[round(r, 1) for r in ours_rates]}")
    say(f"mlx_lm lora tok/s per window: {[round(r, 1) for r in reference_rates]}")
    ours = statistics.mean(ours_rates[1:])
    reference = statistics.mean(reference_rates[1:])
    ratio = ours / reference
    say(f"train tokens/s (first window excluded): ours {ours:.1f}, mlx_lm lora {reference:.1f}, ratio {ratio:.3f}")
    emit(BENCH, "train_tokens_per_s", ours=round(ours, 2), reference=round(reference, 2), ratio=round(ratio, 4),
         target="ratio >= 0.9", passed=ratio >= 0.9, model=what, iters=args.iters, batch=args.batch,
         token_definition="example tokens per batch, padding excluded")


if __name__ == "__main__":
    main()
