"""``iisearch generate``: stream raw text from a model, the smallest end-to-end check."""

from __future__ import annotations

import sys

import click

from ..backends.base import GenerationOptions
from ..backends.registry import load_backend
from ..models.resolve import load_options_from_config
from ..research.factory import remote_or_local_model


@click.command("generate")
@click.argument("prompt")
@click.option("--model", "model_name", help="Model name, .gguf file or MLX folder "
              "(default: model.name from the config).")
@click.option("--backend", type=click.Choice(["auto", "llama", "mlx", "openai"]), default=None,
              help="Force a backend (default: backend.name from the config); "
              "'openai' uses the server in [openai] and --model names its model.")
@click.option("--max-tokens", type=int, default=256, show_default=True)
@click.option("--temperature", type=float, default=None)
@click.option("--seed", type=int, default=None)
@click.option("--stop", multiple=True, help="Stop string (repeatable).")
@click.option("--stats/--no-stats", default=True, help="Print token counts and speed to stderr.")
@click.pass_obj
def command(app, prompt: str, model_name: str | None, backend: str | None, max_tokens: int,
            temperature: float | None, seed: int | None, stop: tuple[str, ...],
            stats: bool) -> None:
    """Continue PROMPT with the model and stream the raw text to stdout."""
    config = app.config
    backend_name = backend or config.get("backend.name")
    resolved = remote_or_local_model(config, model=model_name, backend=backend_name)
    model = load_backend(backend_name, resolved.path, load_options_from_config(config))
    sampling = config.section("sampling")
    seed = seed if seed is not None else sampling["seed"]
    options = GenerationOptions(
        max_tokens=max_tokens,
        temperature=sampling["temperature"] if temperature is None else temperature,
        top_p=sampling["top_p"], top_k=sampling["top_k"],
        repeat_penalty=sampling["repeat_penalty"],
        seed=None if seed < 0 else seed, stop=stop)
    try:
        generation = model.generate(prompt, options)
        for delta in generation:
            sys.stdout.write(delta)
            sys.stdout.flush()
        result = generation.result
    finally:
        model.close()
    sys.stdout.write("\n")
    if stats:
        stopped = f" ({result.stop_string!r})" if result.stop_string else ""
        click.echo(f"[{model.name}] {result.completion_tokens} tokens, "
                   f"{result.tokens_per_second:.1f} tok/s, finish: {result.finish_reason}{stopped}",
                   err=True)
