"""``iisearch finetune``: build training data from research traces, train with MLX, fuse.

The subcommands live in their own modules (``finetune_data``, ``finetune_train``) so that
building data never imports MLX.
"""

from __future__ import annotations

import importlib

import click

# Subcommand name -> (module, attribute); imported only when the subcommand runs.
_SUBCOMMANDS = {
    "data": ("finetune_data", "data_group"),
    "train": ("finetune_train", "train_command"),
    "fuse": ("finetune_train", "fuse_command"),
}


class _LazyFinetune(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        found = _SUBCOMMANDS.get(name)
        if found is None:
            return None
        module, attribute = found
        return getattr(importlib.import_module(f"{__package__}.{module}"), attribute)


@click.group("finetune", cls=_LazyFinetune)
def command() -> None:
    """Fine-tune the model on research traces (the supervised phases of the II-Search recipe)."""
