"""``iisearch export lmstudio``: put converted or downloaded models where LM Studio finds them."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("export")
def command() -> None:
    """Export models to other local apps."""


def _sources_for(model: str) -> tuple[list[Path], str | None, str | None]:
    """Paths to export, with the registry publisher and name when MODEL is a registry name."""
    path = Path(model).expanduser()
    if path.exists():
        return [path], None, None
    from ..convert.errors import ConversionError
    from ..models.cache import gguf_path, installed_gguf_quants, installed_mlx_quants, mlx_dir
    from ..models.registry import find_spec

    spec = find_spec(model)
    if spec is None:
        raise ConversionError(f"{model} is neither an existing file or folder nor a known model name",
                              hint="Pass a .gguf file, an MLX folder, a `convert` output folder, or a "
                                   "model from `iisearch models list`.")
    paths = [gguf_path(spec, quant) for quant in installed_gguf_quants(spec)]
    paths += [mlx_dir(spec, quant) for quant in installed_mlx_quants(spec)]
    if not paths:
        raise ConversionError(f"{spec.name} has nothing downloaded to export",
                              hint=f"Download it first: iisearch models pull {spec.name}")
    return paths, spec.source_repo.split("/")[0], spec.name


@command.command("lmstudio")
@click.argument("model")
@click.option("--models-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="LM Studio's models folder (default: found from LM Studio's own settings).")
@click.option("--copy", "mode", flag_value="copy", default=True, help="Copy the files (default).")
@click.option("--hardlink", "mode", flag_value="hardlink", help="Hard-link the files (same disk, no extra space).")
@click.option("--symlink", "mode", flag_value="symlink", help="Symlink the files (they must stay where they are).")
@click.option("--publisher", default=None, help="Publisher folder (default: the model's Hugging Face owner).")
@click.option("--name", default=None, help="Model name (default: the registry name or the file name).")
@click.option("--dry-run", is_flag=True, help="Only show what would be placed where.")
def lmstudio_command(model: str, models_dir: Path | None, mode: str, publisher: str | None,
                     name: str | None, dry_run: bool) -> None:
    """Place MODEL (a .gguf, an MLX folder, a folder of them, or a downloaded model's name) in LM Studio."""
    from ..convert.lmstudio import export_model, find_models_dir

    target = find_models_dir(models_dir)
    sources, registry_publisher, registry_name = _sources_for(model)
    click.echo(f"{'Would export' if dry_run else 'Exporting'} to {target}", err=True)
    for source in sources:
        items = export_model(source, target, mode=mode, publisher=publisher or registry_publisher,
                             name=name or registry_name, dry_run=dry_run)
        for item in items:
            click.echo(f"{item.action}\t{item.destination}")
