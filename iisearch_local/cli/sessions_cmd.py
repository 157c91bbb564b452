"""``iisearch sessions``: list, show, export, rename, delete and import stored sessions.

Sessions are named by id or by any unique start of it (like git). The history lives in
``sessions.db`` in the data folder (see ``iisearch config path``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from ..sessions import SessionStore, SessionSummary

TITLE_CHARS = 60  # titles are cut to this in the list


def _open() -> SessionStore:
    return SessionStore()


def local_time(stamp: float) -> str:
    """``YYYY-MM-DD HH:MM`` in the local time zone."""
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")


def _short(title: str) -> str:
    title = " ".join(title.split())
    if len(title) <= TITLE_CHARS:
        return title
    return title[: TITLE_CHARS - 3].rsplit(" ", 1)[0].rstrip(" ,;:") + "..."  # at a word end


def format_list(summaries: list[SessionSummary]) -> str:
    """The table ``sessions list`` prints."""
    rows = [("ID", "UPDATED", "STATUS", "TURNS", "TITLE")]
    rows += [(s.id, local_time(s.updated_at), s.status, str(s.turns), _short(s.title))
             for s in summaries]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2]),
                 row[3].rjust(widths[3]), row[4]]
        lines.append("  ".join(cells))
    return "\n".join(lines)


@click.group("sessions")
def command() -> None:
    """Your research history: list, search, show, export, rename, delete, import."""


@command.command("list")
@click.option("--query", "-q", default=None, help="Only sessions whose title, questions or "
              "answers contain these words (word starts match).")
@click.option("--limit", "-n", default=50, show_default=True, type=click.IntRange(min=1),
              help="Show at most this many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def list_sessions(query: str | None, limit: int, as_json: bool) -> None:
    """List stored sessions, most recently active first."""
    with _open() as store:
        summaries = store.list(limit=limit, query=query)
    if as_json:
        click.echo(json.dumps([s.__dict__ for s in summaries], ensure_ascii=False, indent=1))
    elif not summaries:
        click.echo("No matching sessions." if query else "No stored sessions yet.")
    else:
        click.echo(format_list(summaries))


@command.command("show")
@click.argument("session_id")
@click.option("--trace", is_flag=True, help="Also show the research: reasoning, code, outputs.")
def show(session_id: str, trace: bool) -> None:
    """Print a stored session: its questions, answers and references."""
    from ..sessions.export import to_markdown

    with _open() as store:
        stored = store.get(store.resolve(session_id))
    click.echo(to_markdown(stored, trace=trace), nl=False)


@command.command("export")
@click.argument("session_id")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md",
              show_default=True, help="Markdown to read, JSON to import again.")
@click.option("--trace", is_flag=True, help="Markdown: include the research steps.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of the standard output.")
def export(session_id: str, fmt: str, trace: bool, output: Path | None) -> None:
    """Export a session as Markdown or as JSON (the full event log and trace)."""
    from ..sessions.export import to_json, to_markdown

    with _open() as store:
        sid = store.resolve(session_id)
        stored = store.get(sid)
    text = to_json(stored) if fmt == "json" else to_markdown(stored, trace=trace)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, "utf-8")
    click.echo(f"Exported session {sid} to {output}", err=True)


@command.command("rename")
@click.argument("session_id")
@click.argument("title")
def rename(session_id: str, title: str) -> None:
    """Give a session a title (an empty title goes back to its first question)."""
    with _open() as store:
        sid = store.resolve(session_id)
        store.rename(sid, title)
        summary = store.summary(sid)
    click.echo(f"Renamed {sid}: {summary.title}")


@command.command("delete")
@click.argument("session_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete(session_id: str, yes: bool) -> None:
    """Delete a session and everything stored with it."""
    with _open() as store:
        sid = store.resolve(session_id)
        title = store.summary(sid).title
        if not yes and not click.confirm(f"Delete session {sid} ({_short(title)})?"):
            raise click.exceptions.Abort()
        store.delete(sid)
    click.echo(f"Deleted {sid}.")


@command.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_file(file: Path) -> None:
    """Import a session written by `iisearch sessions export --format json`."""
    from ..sessions.export import import_session

    with _open() as store:
        sid = import_session(store, file)
        title = store.summary(sid).title
    click.echo(f"Imported {sid}: {_short(title)}")
