"""The ``iisearch`` command line: one small module per subcommand, registered here."""

from __future__ import annotations

import importlib
import sys

import click

from ..config import Config, load_config
from ..errors import UserFacingError

# Subcommand name -> module exposing ``command`` (a click command or group). Modules are
# imported only when their command runs, so `iisearch config show` never loads a model library.
COMMANDS = {
    "ask": "ask",
    "config": "config_cmd",
    "eval": "eval_cmd",
    "convert": "convert_cmd",
    "export": "export_cmd",
    "finetune": "finetune_cmd",
    "generate": "generate",
    "index": "index_cmd",
    "models": "models_cmd",
    "search": "search_cmd",
    "sessions": "sessions_cmd",
}


class LazyGroup(click.Group):
    """A click group whose subcommands live in modules imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = COMMANDS.get(name)
        if module is None:
            return None
        return importlib.import_module(f"{__name__}.{module}").command


class AppContext:
    """Per-invocation state shared by subcommands (the effective config, lazily loaded)."""

    def __init__(self, assignments: tuple[str, ...]) -> None:
        self._assignments = list(assignments)
        self._config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config().with_assignments(self._assignments)
        return self._config


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--set", "assignments", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a setting for this run (repeatable).")
@click.version_option(package_name="iisearch-local")
@click.pass_context
def cli(ctx: click.Context, assignments: tuple[str, ...]) -> None:
    """Deep web research on your own machine with the II-Search models."""
    ctx.obj = AppContext(assignments)



def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``iisearch`` console script."""
    try:
        cli.main(args=argv, prog_name="iisearch", standalone_mode=False)
    except UserFacingError as exc:
        click.secho(f"Error: {exc.message}", err=True, fg="red")
        if exc.hint:
            click.echo(exc.hint, err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
