"""``iisearch models``: list the known models, download them, and show where they are."""

from __future__ import annotations

import sys

import click

from ..models.cache import installed_gguf_quants, installed_mlx_quants, models_root
from ..models.registry import MODELS, model_names, spec_with_config

_FORMAT_LABEL = {"gguf": "GGUF", "mlx": "MLX"}


def _format_and_quant(quant: str | None, use_mlx: bool, bits: str | None,
                      backend: str) -> tuple[str, str | None]:
    """Map the --quant / --mlx / --bits options to a format and a quantization.

    Without any of them the format follows the backend setting (MLX for ``mlx``, and for
    ``auto`` on Apple Silicon), so a bare ``pull`` fetches what ``ask`` will load.
    """
    from ..models.resolve import preferred_format

    if bits is not None and quant is not None:
        raise click.UsageError("use either --quant or --bits, not both")
    if bits is not None:
        return "mlx", "bf16" if bits == "16" else f"{bits}bit"
    if use_mlx:
        return "mlx", quant
    if quant is not None:
        return "gguf", quant
    return preferred_format(backend), None


def _quant_options(func):
    func = click.option("--bits", type=click.Choice(["4", "6", "8", "16"]), default=None,
                        help="MLX precision in bits (implies --mlx; 16 means bf16).")(func)
    func = click.option("--mlx", "use_mlx", is_flag=True,
                        help="The MLX conversion instead of the GGUF file.")(func)
    func = click.option("--quant", default=None,
                        help="GGUF quantization such as Q4_K_M (default: model.quant); "
                             "with --mlx an MLX precision such as 4bit (default: "
                             "model.mlx_quant).")(func)
    return func


@click.group("models")
def command() -> None:
    """List, download and locate models."""


@command.command("list")
@click.pass_obj
def list_models(app) -> None:
    """Show the known models, their protocol and which quantizations are downloaded."""
    rows = [("NAME", "PROTOCOL", "INSTALLED")]
    for name in model_names():
        spec = spec_with_config(MODELS[name], app.config)
        installed = []
        if gguf := installed_gguf_quants(spec):
            installed.append("gguf " + ", ".join(gguf))
        if mlx := installed_mlx_quants(spec):
            installed.append("mlx " + ", ".join(mlx))
        rows.append((name, spec.protocol, "; ".join(installed) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for row in rows:
        click.echo(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}")
    click.echo(f"\nDownloaded models live in {models_root()}")


@command.command("pull")
@click.argument("name", required=False)
@_quant_options
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: when stderr is a terminal).")
@click.pass_obj
def pull(app, name: str | None, quant: str | None, use_mlx: bool, bits: str | None,
         progress: bool | None) -> None:
    """Download model NAME (default: model.name): a GGUF file, or with --mlx an MLX folder.

    Without --quant, --mlx or --bits the format follows backend.name. An interrupted
    download resumes when the command is run again.
    """
    from ..models.pull import pull_model

    config = app.config
    fmt, quant = _format_and_quant(quant, use_mlx, bits, config.get("backend.name"))
    show = sys.stderr.isatty() if progress is None else progress
    result = pull_model(name or config.get("model.name"), quant=quant, fmt=fmt, config=config,
                        progress=show)
    what = f"{result.spec.name} ({_FORMAT_LABEL[result.fmt]} {result.quant})"
    if result.already_present:
        click.echo(f"{what} is already downloaded: {result.path}")
    else:
        click.echo(f"Downloaded {what} to {result.path}")


@command.command("path")
@click.argument("name", required=False)
@_quant_options
@click.pass_obj
def path(app, name: str | None, quant: str | None, use_mlx: bool, bits: str | None) -> None:
    """Print where model NAME (default: model.name) is on disk, or say how to get it."""
    from ..models.resolve import resolve_model

    config = app.config
    backend = config.get("backend.name")
    if use_mlx or bits is not None or quant is not None:
        fmt, quant = _format_and_quant(quant, use_mlx, bits, backend)
        backend = "mlx" if fmt == "mlx" else "llama"
        key = "model.mlx_quant" if fmt == "mlx" else "model.quant"
        config = config.with_overrides({key: quant})
    resolved = resolve_model(name or config.get("model.name"), backend=backend, config=config)
    click.echo(str(resolved.path))
