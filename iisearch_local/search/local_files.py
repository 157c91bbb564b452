"""Finding and reading the user's documents for the local index.

Markdown and plain text are read as they are, HTML through the tolerant converter, PDF with the
optional ``pdf`` extra (pypdf). Hidden files and folders are skipped, folder symlinks are not
followed (no loops), and files over a size limit are left out.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .base import SearchError
from .documents import Extracted, decode_bytes, html_to_text, looks_binary, markdown_title, pdf_to_text

TEXT_SUFFIXES = frozenset({".md", ".markdown", ".mdx", ".txt", ".text", ".rst", ".org", ".adoc"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
PDF_SUFFIXES = frozenset({".pdf"})
INDEXABLE_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
MAX_FILE_BYTES = 50_000_000  # bigger files are skipped: they are rarely prose


@dataclass(frozen=True)
class FileStat:
    """What decides whether a file must be read again."""

    path: Path
    mtime: float
    size: int


def iter_documents(root: Path) -> Iterator[FileStat]:
    """Indexable files under ``root`` (or ``root`` itself when it is a file), sorted."""
    if root.is_file():
        if root.suffix.lower() in INDEXABLE_SUFFIXES:
            stat = root.stat()
            yield FileStat(root, stat.st_mtime, stat.st_size)
        return
    for folder, subfolders, files in os.walk(root, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or Path(name).suffix.lower() not in INDEXABLE_SUFFIXES:
                continue
            path = Path(folder) / name
            try:
                stat = path.stat()
            except OSError:
                continue  # vanished or unreadable: skipped, the next update sees it again
            if stat.st_size <= MAX_FILE_BYTES and path.is_file():
                yield FileStat(path, stat.st_mtime, stat.st_size)


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def read_document(path: Path, data: bytes) -> Extracted:
    """Text and title of one file; raises ``SearchError`` when it cannot be read."""
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        extracted = pdf_to_text(data)
        return Extracted(title=extracted.title or path.stem, text=extracted.text)
    if looks_binary(data):
        raise SearchError(f"{path.name} is not a text file")
    if suffix in HTML_SUFFIXES:
        extracted = html_to_text(decode_bytes(data, is_html=True))
        return Extracted(title=extracted.title or path.stem, text=extracted.text)
    text = decode_bytes(data)
    title = markdown_title(text) if suffix in (".md", ".markdown", ".mdx") else ""
    return Extracted(title=title or path.stem.replace("_", " "), text=text)
