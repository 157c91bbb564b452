"""Turning bytes into text: charset detection, HTML, plain text and PDF.

Shared by page visits, the local index and ZIM archives. HTML goes through trafilatura (main
text, title, date; the ``web`` extra) when it is installed and finds content; otherwise, and for
archive articles, a small tolerant converter built on the standard library's ``html.parser``
keeps headings, paragraphs, list items and table rows. PDF needs the ``pdf`` extra (pypdf).
"""

from __future__ import annotations

import codecs
import io
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from .base import SearchError

SNIFF_BYTES = 4096  # where a <meta charset> must appear to count
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# <head> is not skipped as a whole: broken pages often never close it.
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "math",
                        "nav", "footer", "button", "select", "form", "iframe", "canvas"})
_BLOCK_TAGS = frozenset({"p", "div", "section", "article", "main", "header", "blockquote",
                         "pre", "figure", "figcaption", "table", "ul", "ol", "dl", "dt", "dd",
                         "details", "summary", "address", "hr", "aside"})
_VOID_TAGS = frozenset({"br", "hr", "img", "meta", "link", "input", "area", "base", "col",
                        "embed", "source", "track", "wbr", "param"})


@dataclass(frozen=True)
class Extracted:
    """Text pulled out of a document."""

    title: str
    text: str
    date: str | None = None


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("'\"")).name
    except LookupError:
        return None


def decode_bytes(body: bytes, declared: str | None = None, *, is_html: bool = False) -> str:
    """Decode with the declared charset, a BOM, a ``<meta charset>``, or a guess, in that order."""
    for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(codec, errors="replace")
    codec = _known_codec(declared)
    if codec is None and is_html:
        match = _META_CHARSET.search(body[:SNIFF_BYTES])
        codec = _known_codec(match.group(1).decode("ascii", "ignore")) if match else None
    if codec is not None:
        return body.decode(codec, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:  # charset-normalizer ships with trafilatura's dependencies; optional here
        from charset_normalizer import from_bytes

        best = from_bytes(body[:200_000]).best()
        if best is not None and best.encoding:
            return body.decode(best.encoding, errors="replace")
    except ImportError:
        pass
    return body.decode("cp1252", errors="replace")


def looks_binary(body: bytes) -> bool:
    """NUL bytes or many control characters in the first kilobytes mean it is not text."""
    head = body[:SNIFF_BYTES]
    if not head:
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls / len(head) > 0.1


class _TextBuilder(HTMLParser):
    """Collects readable text; forgiving about unclosed or stray tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._skip_depth = 0
        self._skip_stack: list[str] = []
        self._in_title = False
        self._in_pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
            return
        if self._skip_depth:
            if tag in _SKIP_TAGS and tag not in _VOID_TAGS:
                self._skip_stack.append(tag)
                self._skip_depth += 1
            return
        hidden = any(k == "hidden" or (k == "aria-hidden" and v == "true") for k, v in attrs)
        if tag in _SKIP_TAGS or (hidden and tag not in _VOID_TAGS):
            self._skip_stack.append(tag)
            self._skip_depth += 1
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "tr":
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" | ")
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK_TAGS:
            if tag == "pre":
                self._in_pre += 1
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        if self._skip_depth:
            if tag in self._skip_stack:
                # Close up to the matching tag: tolerates unclosed children inside it.
                while self._skip_stack:
                    self._skip_depth -= 1
                    if self._skip_stack.pop() == tag:
                        break
            return
        if tag in _BLOCK_TAGS or (tag.startswith("h") and tag[1:].isdigit()):
            if tag == "pre" and self._in_pre:
                self._in_pre -= 1
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip_depth:
            self.parts.append(data if self._in_pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> Extracted:
    """Readable text of any HTML, however broken; never raises on bad markup."""
    builder = _TextBuilder()
    try:
        builder.feed(html)
        builder.close()
    except Exception:  # noqa: BLE001 - html.parser can still trip on pathological input
        pass
    lines = [line.strip() for line in "".join(builder.parts).split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = " ".join("".join(builder.title_parts).split())
    return Extracted(title=title, text=text)


def extract_html(html: str, *, url: str | None = None) -> Extracted:
    """Main content of a web page: trafilatura when installed, else the built-in converter."""
    fallback = html_to_text(html)
    try:
        import trafilatura
    except ImportError:
        return fallback
    # Its "discarding data" warnings are expected on short pages; keep them out of the logs.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    try:
        doc = trafilatura.bare_extraction(html, url=url, with_metadata=True,
                                          include_formatting=True, include_tables=True,
                                          include_links=False, include_comments=False)
    except Exception:  # noqa: BLE001 - a crash in the extractor must not lose the page
        doc = None
    text = (getattr(doc, "text", None) or "").strip()
    # trafilatura drops pages it judges to be boilerplate; keep the plain text then.
    if not text or len(text) < min(200, len(fallback.text) // 4):
        return fallback
    title = (getattr(doc, "title", None) or fallback.title or "").strip()
    return Extracted(title=title, text=text, date=getattr(doc, "date", None))


def pdf_to_text(body: bytes) -> Extracted:
    """Text of a PDF (the ``pdf`` extra); raises ``SearchError`` when it cannot be read."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise SearchError("cannot read PDF files: the 'pdf' extra is not installed",
                          hint="pip install 'iisearch-local[pdf]'") from None
    try:
        reader = PdfReader(io.BytesIO(body))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        title = ""
        if reader.metadata is not None and reader.metadata.title:
            title = str(reader.metadata.title)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise SearchError(f"the PDF could not be read ({type(exc).__name__})") from None
    return Extracted(title=title, text="\n\n".join(p for p in pages if p))


def markdown_title(text: str) -> str:
    """The first ``# heading`` of a markdown text, or its first non-empty line."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()
        if stripped:
            return stripped[:120]
    return ""
