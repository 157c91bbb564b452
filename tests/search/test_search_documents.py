"""Bytes to text: charsets, broken HTML, PDF."""

from __future__ import annotations

import pytest

from iisearch_local.search.base import SearchError
from iisearch_local.search.documents import decode_bytes, extract_html, html_to_text, looks_binary, pdf_to_text

from searchtest_pdf import make_pdf


def test_broken_html_still_gives_its_text() -> None:
    """Unclosed head, stray closing tags, unclosed script inside a div, junk entities."""
    html = ("<html><head><title>Broken &amp; page</title><body><div><p>First para"
            "<p>Second &copy; para</span></b><div><script>var x = '<p>no</p>';</script>"
            "<h2>Section</h2>Tail text<li>item")
    out = html_to_text(html)
    assert out.title == "Broken & page"
    assert "First para" in out.text and "Second © para" in out.text
    assert "## Section" in out.text and "- item" in out.text
    assert "var x" not in out.text


def test_hidden_navigation_and_styles_are_dropped() -> None:
    html = "<nav>Menu Home</nav><style>p{}</style><div hidden>secret</div><p>Body</p><footer>legal</footer>"
    text = html_to_text(html).text
    assert text == "Body"


def test_pathological_markup_does_not_raise() -> None:
    for html in ("<" * 1000, "<!--", "<p" + "a=" * 500, "\x00\x01<b>", "</////>"):
        html_to_text(html)  # never raises


def test_charset_from_header_meta_bom_and_guess() -> None:
    latin = "café crème".encode("latin-1")
    assert decode_bytes(latin, "iso-8859-1") == "café crème"
    meta = b"<meta charset='windows-1252'>" + latin
    assert "café" in decode_bytes(meta, None, is_html=True)
    assert decode_bytes("\ufeffhé".encode("utf-8")) == "hé"
    assert decode_bytes("hé".encode("utf-16")) == "hé"
    assert decode_bytes(b"plain ascii", "not-a-charset") == "plain ascii"
    assert "caf" in decode_bytes(latin)  # undeclared, not UTF-8: guessed, never raises


def test_binary_detection() -> None:
    assert looks_binary(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert not looks_binary("ordinary text, über".encode())


def test_extract_html_uses_trafilatura_for_main_text() -> None:
    import trafilatura  # noqa: F401  (scripts/test installs the web extra: a failure here is real)
    body = " ".join(["The main article text talks about solar panels and their efficiency."] * 8)
    html = (f"<html><head><title>Solar</title><meta name='date' content='2023-04-05'></head><body>"
            f"<nav>Home News Sport</nav><article><h1>Solar power</h1><p>{body}</p></article>"
            f"<footer>Copyright</footer></body></html>")
    out = extract_html(html, url="https://example.org/solar")
    assert "solar panels" in out.text and "Home News Sport" not in out.text
    assert out.date == "2023-04-05"
    assert out.title


def test_extract_html_falls_back_when_the_extractor_finds_nothing() -> None:
    html = "<html><body><table><tr><td>Alpha</td><td>Beta</td></tr></table></body></html>"
    assert "Alpha" in extract_html(html).text


def test_pdf_text_and_unreadable_pdf() -> None:
    import pypdf  # noqa: F401  (the pdf extra is part of the test install)
    out = pdf_to_text(make_pdf("Hello PDF world"))
    assert "Hello PDF world" in out.text
    with pytest.raises(SearchError, match="PDF could not be read"):
        pdf_to_text(b"%PDF-1.4 garbage that is not a pdf")
