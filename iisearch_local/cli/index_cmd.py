"""``iisearch index``: manage the offline index of your own folders (the ``local`` engine)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..search.format import format_hits
from ..search.local_engine import LocalIndexEngine
from ..search.local_index import IndexProgress, LocalIndex, UpdateReport
from ..search.settings import SearchSettings

PROGRESS_MIN_FILES = 50  # below this many files a progress bar is just noise


def _open(app) -> LocalIndex:
    settings = SearchSettings.from_config(app.config)
    return LocalIndex(settings.index_path, extra_roots=settings.local_paths,
                      passage_words=settings.passage_words)


@contextmanager
def _progress_bar() -> Iterator:
    """A callback for ``LocalIndex.update`` that shows a bar once the folder is large."""
    console = Console(stderr=True)
    progress: Progress | None = None
    task = None

    def report(step: IndexProgress) -> None:
        nonlocal progress, task
        if step.total < PROGRESS_MIN_FILES:
            return
        if progress is None:
            progress = Progress(TextColumn("indexing"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), TextColumn("{task.description}"),
                                console=console, transient=True)
            progress.start()
            task = progress.add_task("", total=step.total)
        progress.update(task, completed=step.done, description=Path(step.path).name[:40])

    try:
        yield report
    finally:
        if progress is not None:
            progress.stop()


def _summarize(report: UpdateReport, index: LocalIndex) -> None:
    stats = index.stats()
    click.echo(f"{report.added} added, {report.changed} changed, {report.removed} removed, "
               f"{report.unchanged} unchanged; {report.passages} passages written. "
               f"Index: {stats['files']} files, {stats['passages']} passages.")
    for path, reason in report.failed:
        click.secho(f"skipped {path}: {reason}", err=True, fg="yellow")
    for root in report.missing_roots:
        click.secho(f"not found (kept as it was): {root}", err=True, fg="yellow")


@click.group("index")
def command() -> None:
    """Index your own documents (markdown, text, HTML, PDF) for offline search."""


@command.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def add(app, paths: tuple[Path, ...]) -> None:
    """Add folders (or files) to the index and index them now."""
    index = _open(app)
    try:
        for path in paths:
            click.echo(f"added {index.add_root(path)}")
        with _progress_bar() as report:
            result = index.update(progress=report)
        _summarize(result, index)
    finally:
        index.close()


@command.command("update")
@click.pass_obj
def update(app) -> None:
    """Re-index every folder: only changed files are read again."""
    index = _open(app)
    try:
        with _progress_bar() as report:
            result = index.update(progress=report)
        _summarize(result, index)
    finally:
        index.close()


@command.command("list")
@click.pass_obj
def list_roots(app) -> None:
    """Show the indexed folders with their file and passage counts."""
    index = _open(app)
    try:
        per_root = index.root_stats()
        roots = index.roots()
        if not roots:
            click.echo("The index is empty. Add a folder with `iisearch index add PATH`.")
        for root in roots:
            files, passages = per_root.get(root, (0, 0))
            origin = " (from config)" if root in index.extra_roots else ""
            click.echo(f"{root}{origin}: {files} files, {passages} passages")
        click.echo(f"Index file: {index.path}")
    finally:
        index.close()


@command.command("remove")
@click.argument("path", type=click.Path(path_type=Path))
@click.pass_obj
def remove(app, path: Path) -> None:
    """Remove a folder and everything indexed from it."""
    index = _open(app)
    try:
        dropped = index.remove_root(path)
        click.echo(f"removed {path.expanduser().resolve()} ({dropped} files)")
    finally:
        index.close()


@command.command("search")
@click.argument("query")
@click.option("--max-results", "-n", type=int, default=10, help="Number of results.")
@click.pass_obj
def search(app, query: str, max_results: int) -> None:
    """Search the index and print the hits the model would see."""
    settings = SearchSettings.from_config(app.config)
    engine = LocalIndexEngine.from_settings(settings)
    try:
        hits = engine.search(query, max_results)
        click.echo(format_hits(hits, query=query))
    finally:
        engine.close()
