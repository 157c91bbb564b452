"""Shared pieces of the training tests: tiny datasets built straight from TokenizedExamples."""

from __future__ import annotations

import json
from pathlib import Path

from iisearch_local.finetune.examples import (
    Segment, TokenizedExample, TraceExample, load_tokenizer, tokenize_example, write_dataset,
)
from iisearch_local.finetune.examples import tokenizer_fingerprint

FACTS = [
    ("What is the capital of France?", "Paris"),
    ("Who wrote Hamlet?", "William Shakespeare"),
    ("What is the boiling point of water?", "100 degrees Celsius"),
    ("Which planet is the largest?", "Jupiter"),
    ("What is the speed of light?", "299792 kilometres per second"),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci"),
    ("What is the tallest mountain?", "Mount Everest"),
    ("How many legs has a spider?", "eight"),
]


def trace(question: str, answer: str, observation: str = "") -> TraceExample:
    """A small CIR-like trace: masked prompt and observation, trained reasoning and answer."""
    segments = [
        Segment(f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n", False),
        Segment("<think>I recall it.</think>\n", True),
    ]
    if observation:
        segments += [Segment("```python\nsearch('x')\n```<end_code>", True),
                     Segment(f"\nObservation: {observation}\n", False)]
    segments.append(Segment(f"The answer is {answer}.<|im_end|>", True))
    return TraceExample(protocol="cir", segments=segments, question=question, answer=answer,
                        tool_calls=1 if observation else 0, source="test")


def tokenized_examples(model_dir: Path, count: int, *, observation: str = "", offset: int = 0
                       ) -> list[TokenizedExample]:
    tokenizer = load_tokenizer(model_dir)
    return [tokenize_example(tokenizer, trace(*FACTS[(offset + i) % len(FACTS)], observation=observation))
            for i in range(count)]


def write_built_dataset(folder: Path, model_dir: Path, train: list[TokenizedExample],
                        valid: list[TokenizedExample] = (), *, fingerprint: str | None = None) -> Path:
    """A dataset folder as `finetune data build` makes it (train/valid jsonl + build.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_dataset(folder / "train.jsonl", train)
    write_dataset(folder / "valid.jsonl", valid)
    build = {"tokenizer": fingerprint or tokenizer_fingerprint(model_dir), "examples": len(train)}
    (folder / "build.json").write_text(json.dumps(build), encoding="utf-8")
    return folder


def write_config(path: Path, *, base: Path, out: Path, phases: list[tuple[str, Path, float]],
                 train: dict | None = None, lora: dict | None = None) -> Path:
    """A TOML train config; small, fast defaults for tests unless ``train`` overrides them."""
    settings = {"learning_rate": 1e-3, "iters": 4, "batch_size": 1, "grad_accumulation": 1,
                "grad_checkpoint": False, "steps_per_report": 1, "steps_per_eval": 0, "save_every": 100,
                "max_length": 512, **(train or {})}
    lines = [f'out = "{out}"', "", "[model]", f'base = "{base}"', "", "[train]"]
    lines += [f"{key} = {_toml(value)}" for key, value in settings.items()]
    if lora:
        lines += ["", "[lora]"] + [f"{key} = {_toml(value)}" for key, value in lora.items()]
    for name, data, proportion in phases:
        lines += ["", "[[phases]]", f'name = "{name}"', f'data = "{data}"', f"proportion = {proportion}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)
