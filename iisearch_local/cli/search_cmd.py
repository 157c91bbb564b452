"""``iisearch search``: list the installed search engines, run a query, read a page."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from ..search.format import format_hits, format_page
from ..search.settings import SearchSettings

STATE_STYLES = {"ready": "green", "not configured": "yellow", "not installed": "dim", "broken": "red"}


def _settings(app) -> SearchSettings:
    return SearchSettings.from_config(app.config)


@click.group("search")
def command() -> None:
    """Search engines behind the model's web_search and web_visit."""


@command.command("backends")
@click.pass_obj
def backends(app) -> None:
    """List installed search engines, whether each is configured, and the fallback order."""
    from ..search.registry import describe_engines

    settings = _settings(app)
    table = Table(title="Search engines", title_justify="left")
    for column in ("engine", "state", "kind", "chain", "detail"):
        table.add_column(column)
    order = {name: i for i, name in enumerate(settings.engines, start=1)}
    for info in describe_engines(settings):
        kind = "?" if info.local is None else ("offline" if info.local else "online")
        chain = f"#{order[info.name]}" if info.name in order else ""
        style = STATE_STYLES.get(info.state, "")
        table.add_row(info.name, f"[{style}]{info.state}[/]", kind, chain, info.detail)
    console = Console()
    console.print(table)
    mode = "offline (local engines and the cache only)" if settings.offline else "online"
    console.print(f"Order: {' -> '.join(settings.engines) or '(none)'}; mode: {mode}.")


@command.command("query")
@click.argument("query")
@click.option("--engine", "-e", "engines", multiple=True, metavar="NAME",
              help="Engine to use (repeat for a fallback chain); default: search.engines.")
@click.option("--max-results", "-n", type=int, default=None, help="Number of results.")
@click.option("--offline", is_flag=True, default=None, help="Local engines and the cache only.")
@click.pass_obj
def query(app, query: str, engines: tuple[str, ...], max_results: int | None,
          offline: bool | None) -> None:
    """Search like the model does and print the results it would see."""
    from ..search.tools import SearchTools

    with SearchTools.from_config(_settings(app), engines=engines or None, offline=offline,
                                 visit_only_searched=False) as tools:
        for name, reason in tools.skipped_engines:
            click.secho(f"skipped {name}: {reason}", err=True, fg="yellow")
        result = tools.run_search(query, max_results)
        click.echo(format_hits(result.hits, query=query, engine=result.engine, note=result.note))


@command.command("visit")
@click.argument("url")
@click.option("--offline", is_flag=True, default=None, help="Read from the cache only.")
@click.option("--engine", "-e", "engines", multiple=True, metavar="NAME",
              help="Engines whose URLs (file://, zim://) should be readable.")
@click.pass_obj
def visit(app, url: str, offline: bool | None, engines: tuple[str, ...]) -> None:
    """Fetch a page and print the text the model would read."""
    from ..search.tools import SearchTools

    settings = _settings(app)
    with SearchTools.from_config(settings, engines=engines or None, offline=offline,
                                 visit_only_searched=False) as tools:
        page = tools.visit(url)
        click.echo(format_page(page, max_words=settings.page_words))
