"""``iisearch finetune train CONFIG`` and ``iisearch finetune fuse``.

Progress goes to stderr (one line per report, validation and checkpoint); the final summary and
the fused folder's path go to stdout.
"""

from __future__ import annotations

from pathlib import Path

import click


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def format_event(event) -> str | None:
    """One stderr line for a progress event (None: nothing to print)."""
    where = f"step {event.step}/{event.total_steps} (epoch {event.epoch:.2f})"
    if event.kind == "start":
        return f"{'resuming at' if event.step else 'starting'} {where}: {event.message}"
    if event.kind == "report":
        return (f"{where}  loss {event.train_loss:.4f}  {event.tokens_per_s:,.0f} tok/s "
                f"({event.trained_tokens_per_s:,.0f} trained tok/s)  ETA {_duration(event.eta_seconds)}")
    if event.kind == "val":
        return f"{where}  val loss {event.val_loss:.4f}"
    if event.kind == "checkpoint":
        return f"{where}  checkpoint {event.path}"
    return None


@click.command("train")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--resume/--no-resume", default=None,
              help="Continue from the latest checkpoint in the out folder (default: when there is one), "
                   "or start over (old checkpoints are moved aside).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a config value, e.g. --set train.learning_rate=1e-4 (repeatable).")
@click.option("--iters", type=click.IntRange(min=1), default=None,
              help="Optimizer steps to run in total (overrides the epochs).")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=None, help="Epochs to train.")
@click.option("--quiet", is_flag=True, help="Print only the final summary.")
def train_command(config_path: Path, resume: bool | None, overrides: tuple[str, ...], iters: int | None,
                  epochs: float | None, quiet: bool) -> None:
    """Fine-tune the model in CONFIG (a TOML file) on its phases' datasets.

    One step is one optimizer update over batch_size x grad_accumulation examples. Checkpoints
    go to <out>/checkpoints/; the latest adapters to <out>/adapters.safetensors.
    """
    from ..finetune.config import load_train_config
    from ..finetune.train import train

    extra = list(overrides)
    if iters is not None:
        extra.append(f"train.iters={iters}")
    if epochs is not None:
        extra += [f"train.epochs={epochs}", "train.iters=0"]
    config = load_train_config(config_path, overrides=extra)

    def show(event) -> None:
        line = None if quiet else format_event(event)
        if line:
            click.echo(line, err=True)

    result = train(config, resume=resume, on_progress=show)
    for phase in result.data.phases:
        click.echo(f"phase {phase.name}: {phase.used} examples used of {phase.available} "
                   f"({phase.repeated} repeated, {phase.dropped_too_long} dropped as too long), "
                   f"{phase.valid} for validation")
    if result.already_complete:
        click.echo(f"already complete at step {result.step}/{result.total_steps}: {result.out}")
        return
    final_loss = f"{result.losses[-1]:.4f}" if result.losses else "?"
    val = f", val loss {result.val_losses[-1][1]:.4f}" if result.val_losses else ""
    click.echo(f"trained {result.step}/{result.total_steps} steps, loss {final_loss}{val}; "
               f"adapters in {result.out}")


@click.command("fuse")
@click.option("--base", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The model folder the adapters were trained on.")
@click.option("--adapters", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The training run's out folder (or one checkpoint folder).")
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder to write the fused model to.")
@click.option("--dequantize/--keep-quantized", default=None,
              help="For a quantized base: dequantize (default, so `iisearch convert` can take it) "
                   "or keep an MLX-only quantized folder.")
@click.option("--protocol", type=click.Choice(["cir", "tools"]), default=None,
              help="Protocol whose chat template to store (default: from the base folder's name).")
def fuse_command(base: Path, adapters: Path, out: Path, dequantize: bool | None, protocol: str | None) -> None:
    """Merge trained adapters into the base model and save a plain model folder."""
    from ..finetune.fuse import fuse_adapters

    result = fuse_adapters(base, adapters, out, dequantize=dequantize, protocol=protocol,
                           progress=lambda message: click.echo(message, err=True))
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(str(result.path))
