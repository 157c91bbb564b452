"""``iisearch config``: show the effective settings and where the config file lives."""

from __future__ import annotations

import click

from ..config import default_config_text
from ..paths import user_dirs


@click.group("config")
def command() -> None:
    """Inspect the configuration."""


@command.command("show")
@click.pass_obj
def show(app) -> None:
    """Print every setting, its effective value and where it came from."""
    import tomli_w

    for key, value, source in app.config.items():
        rendered = tomli_w.dumps({"v": value}).strip()[4:]
        click.echo(f"{key} = {rendered}  # {source}")


@command.command("path")
def path() -> None:
    """Print the path of the user config file."""
    click.echo(str(user_dirs().config_file))


@command.command("defaults")
def defaults() -> None:
    """Print the documented default configuration (a starting point for your own file)."""
    click.echo(default_config_text(), nl=False)
