"""``iisearch convert``: Hugging Face checkpoints to GGUF and MLX, and checking a conversion.

A thin layer over :mod:`iisearch_local.convert.pipeline` and :mod:`iisearch_local.convert.verify`.
"""

from __future__ import annotations

from pathlib import Path

import click

_PROTOCOL_OPTION = click.option(
    "--protocol", type=click.Choice(["cir", "tools"]), default=None,
    help="Protocol whose chat template to embed (default: from the folder name, as the registry knows it).")


def _echo(message: str) -> None:
    click.echo(message, err=True)


@click.group("convert")
def command() -> None:
    """Convert a Hugging Face checkpoint to GGUF or MLX, and verify the result."""


@command.command("gguf")
@click.argument("src", type=click.Path(path_type=Path, file_okay=False))
@click.option("--quant", "quants", multiple=True, metavar="TYPE",
              help="llama.cpp quantization to make from the f16 file, e.g. Q8_0, Q4_K_M (repeatable).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Output folder (default: <SRC>-GGUF next to SRC).")
@click.option("--out-type", type=click.Choice(["f16", "bf16", "f32"]), default="f16", show_default=True,
              help="Precision of the unquantized GGUF.")
@_PROTOCOL_OPTION
def gguf_command(src: Path, quants: tuple[str, ...], out_dir: Path | None, out_type: str,
                 protocol: str | None) -> None:
    """Convert SRC to GGUF, then quantize.

    Each finished file gets a <file>.convert.json marker (source fingerprint, kind, chat template
    hash, size); a re-run keeps files whose marker matches and redoes the rest.
    """
    from ..convert.pipeline import convert_gguf_set

    for result in convert_gguf_set(src, out_dir=out_dir, out_type=out_type, quants=quants,
                                   protocol=protocol, progress=_echo):
        click.echo(f"{result.kind}\t{'kept' if result.skipped else 'written'}\t{result.path}")


@command.command("mlx")
@click.argument("src", type=click.Path(path_type=Path, file_okay=False))
@click.option("--q-bits", type=click.Choice(["4", "8"]), default="4", show_default=True,
              help="Bits per weight.")
@click.option("--group-size", type=click.Choice(["32", "64", "128"]), default="64", show_default=True,
              help="Weights sharing one scale.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder to create the MLX folder in (default: next to SRC).")
@_PROTOCOL_OPTION
def mlx_command(src: Path, q_bits: str, group_size: str, out_dir: Path | None, protocol: str | None) -> None:
    """Quantize SRC to an MLX folder (<name>-MLX-<bits>bit) with mlx-lm."""
    from ..convert.pipeline import convert_mlx

    result = convert_mlx(src, out_dir=out_dir, q_bits=int(q_bits), group_size=int(group_size),
                         protocol=protocol, progress=_echo)
    click.echo(f"{result.kind}\t{'kept' if result.skipped else 'written'}\t{result.path}")


@command.command("verify")
@click.argument("src", type=click.Path(path_type=Path, exists=True))
@click.argument("converted", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--prompts", type=click.IntRange(1, 64), default=4, show_default=True,
              help="How many built-in prompts to compare on.")
@click.option("--reference", type=click.Choice(["auto", "mlx", "gguf"]), default="auto", show_default=True,
              help="Run SRC through MLX in float32, or through llama.cpp as a GGUF f32.")
def verify_command(src: Path, converted: tuple[Path, ...], prompts: int, reference: str) -> None:
    """Compare CONVERTED models with the unquantized SRC.

    Prints top-1 agreement and mean KL per file and exits 1 when any misses its threshold.
    """
    from ..convert.errors import ConversionError
    from ..convert.verify import verify_conversions

    reports = verify_conversions(src, list(converted), prompts=prompts, reference=reference, progress=_echo)
    click.echo("RESULT\tKIND\tTOP1\tMEAN_KL\tMIN_TOP1\tMAX_KL\tFILE")
    for report in reports:
        click.echo(f"{'pass' if report.passed else 'FAIL'}\t{report.kind}\t{report.top1_agreement:.4f}\t"
                   f"{report.mean_kl:.5f}\t{report.threshold.min_top1:.2f}\t{report.threshold.max_mean_kl:.3f}\t"
                   f"{report.path}")
    failed = [report for report in reports if not report.passed]
    if failed:
        raise ConversionError(f"{len(failed)} of {len(reports)} conversion(s) differ from {src} beyond "
                              "their thresholds", hint="Re-convert them; a damaged file or a bad "
                              "quantization shows up here.")
