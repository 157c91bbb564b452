"""Exporting a stored session as a Markdown file (the text comes from the session store)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from iisearch_local.paths import user_dirs

EXPORT_FOLDER = "exports"  # under the user data folder
NAME_CHARS = 60


def export_folder() -> Path:
    return user_dirs().data / EXPORT_FOLDER


def export_file_name(title: str, session_id: str) -> str:
    """A safe file name from the session title: ``who-designed-the-eiffel-tower-<id>.md``."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:NAME_CHARS].strip("-")
    return f"{slug or 'session'}-{session_id[:8]}.md"


def export_session(store: Any, session_id: str, *, folder: Path | None = None) -> Path:
    """Write the session's Markdown export to ``folder`` (default: the exports folder)."""
    from iisearch_local.sessions.export import to_markdown

    stored = store.get(session_id)
    text = to_markdown(stored)
    folder = folder or export_folder()
    folder.mkdir(parents=True, exist_ok=True)
    title = getattr(stored.summary, "title", None) or getattr(stored.summary, "question", "")
    path = folder / export_file_name(str(title), session_id)
    path.write_text(text, "utf-8")
    return path
