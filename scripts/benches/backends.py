"""scripts/bench backends: our backends against the raw libraries, in the same run.

Figures (one JSON line each, per backend):
- decode_tokens_per_s: our streaming generate vs the library's own streaming API on the same
  model, prompt and sampling (target: ratio >= 0.97);
- prefix_reuse_eval_per_appended: a 20-turn growing trace (~300-token observations appended each
  turn): prompt tokens evaluated per turn / tokens appended (target: <= 1.05);
- prefix_reuse_prompt_seconds: total prompt time of those turns vs re-evaluating the whole trace
  every turn with the raw library (target: ours < reference).
Default models: the suite's tiny Qwen3 checkpoints. --gguf / --mlx take real ones.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, say  # noqa: E402

from iisearch_local.backends.base import GenerationOptions, LoadOptions  # noqa: E402
from iisearch_local.backends.registry import load_backend  # noqa: E402

PROMPT = ("<|im_start|>user\nWho designed the first programmable computer, and when was it "
          "built?<|im_end|>\n<|im_start|>assistant\n<think>\n")
OBSERVATION_WORDS = ("the archive lists a search result about computing history with dates "
                     "names places and several quoted passages").split()


def observation(turn: int, backend, target_tokens: int = 300) -> str:
    """An observation block of about ``target_tokens`` tokens, different every turn."""
    words, text = [], ""
    while backend.count_tokens(text) < target_tokens:
        words.append(f"{OBSERVATION_WORDS[(turn * 7 + len(words)) % len(OBSERVATION_WORDS)]}{len(words)}")
        text = "<end_code>\n```output\n" + " ".join(words) + "\n```\n"
    return text


def _timed_tokens(stream, n_tokens: int) -> float:
    """Tokens per second over a stream, from its first item (prompt time excluded)."""
    start, count = None, 0
    for _ in stream:
        count += 1
        if start is None:
            start = time.perf_counter()
        if count == n_tokens:
            break
    return (count - 1) / (time.perf_counter() - start)


class RawLlama:
    """The library's own token loop (``Llama.generate``) with per-token detokenization: the
    leanest streaming llama-cpp-python offers (``create_completion`` adds more per-token work)."""

    def __init__(self, path: Path, ctx: int) -> None:
        import llama_cpp
        self.llm = llama_cpp.Llama(model_path=str(path), n_ctx=ctx, verbose=False)
        self.tokens = self.llm.tokenize(PROMPT.encode(), add_bos=False, special=True)

    def decode(self, n_tokens: int) -> float:
        stream = (self.llm.detokenize([token]) for token in self.llm.generate(
            self.tokens, temp=0.0, top_k=0, top_p=1.0, min_p=0.0))
        return _timed_tokens(stream, n_tokens)


class RawMlx:
    """``mlx_lm.stream_generate``, the library's streaming API."""

    def __init__(self, path: Path) -> None:
        from mlx_lm import load
        self.model, self.tokenizer = load(str(path))

    def decode(self, n_tokens: int) -> float:
        from mlx_lm import stream_generate
        from mlx_lm.sample_utils import make_sampler
        return _timed_tokens(stream_generate(self.model, self.tokenizer, PROMPT,
                                             max_tokens=n_tokens, sampler=make_sampler(temp=0.0)),
                             n_tokens)


class Ours:
    def __init__(self, name: str, path: Path, ctx: int) -> None:
        self.backend = load_backend(name, path, LoadOptions(context_size=ctx))

    def decode(self, n_tokens: int) -> float:
        # Deltas are not tokens (a multi-byte character can span tokens), so count tokens from
        # the result; its clock starts at the first sampled token, like _timed_tokens.
        generation = self.backend.generate(PROMPT, GenerationOptions(
            max_tokens=n_tokens, temperature=0.0, top_k=0, top_p=1.0))
        result = generation.result
        return (result.completion_tokens - 1) / result.generation_seconds


def paired_decode(name: str, path: Path, n_tokens: int, ctx: int, rounds: int
                  ) -> tuple[float, float, float]:
    """Alternate raw and ours on models loaded once; median tok/s of each and median ratio.

    Pairing neighbouring runs cancels most of the drift of a shared machine.
    """
    raw = RawLlama(path, ctx) if name == "llama" else RawMlx(path)
    ours = Ours(name, path, ctx)
    raw.decode(8), ours.decode(8)  # warm both up
    pairs = []
    for _ in range(rounds):
        reference = raw.decode(n_tokens)
        mine = ours.decode(n_tokens)
        pairs.append((mine, reference))
    ours.backend.close()
    return (statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs),
            statistics.median(p[0] / p[1] for p in pairs))


def raw_full_prompt_seconds(name: str, path: Path, traces: list[str], ctx: int) -> float:
    """Reference: evaluate each turn's whole trace from scratch with the raw library."""
    total = 0.0
    if name == "llama":
        import llama_cpp
        llm = llama_cpp.Llama(model_path=str(path), n_ctx=ctx, verbose=False)
        for trace in traces:
            tokens = llm.tokenize(trace.encode(), add_bos=False, special=True)
            llm.reset()
            start = time.perf_counter()
            llm.eval(tokens)
            total += time.perf_counter() - start
        llm.close()
    else:
        import mlx.core as mx
        from mlx_lm import load
        from mlx_lm.models.cache import make_prompt_cache
        model, tokenizer = load(str(path))
        for trace in traces:
            tokens = tokenizer.encode(trace, add_special_tokens=False)
            cache = make_prompt_cache(model)
            start = time.perf_counter()
            for i in range(0, len(tokens), 2048):
                logits = model(mx.array(tokens[i:i + 2048])[None], cache=cache)
                mx.eval(logits)
            total += time.perf_counter() - start
    return total


def growing_trace(name: str, path: Path, turns: int, ctx: int) -> tuple[float, float, list[str]]:
    backend = load_backend(name, path, LoadOptions(context_size=ctx))
    trace, ratios, prompt_seconds, traces = PROMPT, [], 0.0, []
    appended = None
    for turn in range(turns):
        traces.append(trace)
        result = backend.generate(trace, GenerationOptions(max_tokens=16, temperature=0.0,
                                                           stop=("<end_code>",))).result
        prompt_seconds += result.prompt_seconds
        if appended is not None:
            ratios.append(result.prompt_tokens_evaluated / appended)
        before = backend.count_tokens(trace)
        trace += result.text + observation(turn, backend)
        appended = backend.count_tokens(trace) - before
    backend.close()
    return max(ratios), prompt_seconds, traces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gguf", type=Path, help="a real GGUF model instead of the tiny one")
    parser.add_argument("--mlx", type=Path, help="a real MLX folder instead of the tiny one")
    parser.add_argument("--tokens", type=int, default=256, help="tokens to decode (llama.cpp)")
    parser.add_argument("--mlx-tokens", type=int, default=64,
                        help="tokens to decode with MLX (its Linux CPU build is slow)")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7, help="paired decode runs")
    parser.add_argument("--mlx-turns", type=int, default=8,
                        help="turns of the growing trace on MLX: re-evaluating whole traces as the "
                        "reference takes most of an hour for 20 turns on MLX's Linux CPU build")
    parser.add_argument("--only", choices=["llama", "mlx"])
    args = parser.parse_args()
    if args.gguf is None or args.mlx is None:
        from iisearch_local.testing.fixtures import ensure_tiny_models
        tiny = ensure_tiny_models()
        args.gguf = args.gguf or tiny.gguf_q8_0
        args.mlx = args.mlx or tiny.mlx_q4
    ctx = 16384
    for name, path in (("llama", args.gguf), ("mlx", args.mlx)):
        if args.only and name != args.only:
            continue
        say(f"[{name}] {path}")
        n = args.tokens if name == "llama" else args.mlx_tokens
        ours_best, ref_best, ratio = paired_decode(name, path, n, ctx, args.rounds)
        say(f"  decode: ours {ours_best:.1f} tok/s, raw {ref_best:.1f} tok/s (median of "
            f"{args.rounds} pairs, median ratio {ratio:.3f})")
        emit("backends", f"{name}.decode_tokens_per_s", ours=round(ours_best, 2),
             reference=round(ref_best, 2), ratio=round(ratio, 3), target=">= 0.97",
             passed=ratio >= 0.97, model=str(path))
        turns = args.turns if name == "llama" else args.mlx_turns
        worst, ours_prompt, traces = growing_trace(name, path, turns, ctx)
        say(f"  growing trace: worst evaluated/appended {worst:.3f}")
        emit("backends", f"{name}.prefix_reuse_eval_per_appended", ours=round(worst, 4),
             reference=None, ratio=round(worst, 4), target="<= 1.05", passed=worst <= 1.05,
             turns=turns)
        full = raw_full_prompt_seconds(name, path, traces, ctx)
        say(f"  prompt time: ours {ours_prompt:.3f}s, full re-evaluation {full:.3f}s")
        emit("backends", f"{name}.prefix_reuse_prompt_seconds", ours=round(ours_prompt, 4),
             reference=round(full, 4), ratio=round(ours_prompt / full, 4),
             target="ours < reference", passed=ours_prompt < full, turns=turns)


if __name__ == "__main__":
    main()
