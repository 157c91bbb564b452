"""Page visits against a real local server that delays, fails, redirects and misbehaves."""

from __future__ import annotations

import pytest

from iisearch_local.search.base import SearchError
from iisearch_local.search.fetch import FetchLimits, HttpFetcher
from iisearch_local.search.ssrf import AddressPolicy
from searchtest_pdf import make_pdf
from searchtest_server import LocalServer, Reply

POLICY = AddressPolicy.build(allowed_hosts=["127.0.0.1"])


def fetcher(**limits) -> HttpFetcher:
    base = {"connect_timeout": 2.0, "read_timeout": 2.0}
    return HttpFetcher(limits=FetchLimits(**{**base, **limits}), policy=POLICY)


def test_html_page_is_reduced_to_text_with_title(server: LocalServer) -> None:
    server.routes["/a"] = Reply.html("<html><head><title>Page A</title></head><body><p>Some "
                                     "<a href='/x'>linked</a> words.</p></body></html>")
    page = fetcher().visit(server.url("/a"))
    assert page.title == "Page A" and "Some linked words." in page.text
    assert page.url == server.url("/a") and page.content_type == "text/html" and page.source == "http"


def test_sends_a_browser_like_user_agent(server: LocalServer) -> None:
    server.routes["/ua"] = Reply.html("<p>x</p>")
    HttpFetcher(limits=FetchLimits(user_agent="Mozilla/5.0 Test"), policy=POLICY).visit(server.url("/ua"))
    assert server.requests[-1].headers["user-agent"] == "Mozilla/5.0 Test"


def test_plain_text_in_a_declared_charset(server: LocalServer) -> None:
    server.routes["/t"] = Reply(body="naïve café".encode("latin-1"),
                                content_type="text/plain; charset=iso-8859-1")
    page = fetcher().visit(server.url("/t"))
    assert page.text == "naïve café" and page.content_type == "text/plain"


def test_slow_server_times_out_with_a_clear_reason(server: LocalServer) -> None:
    server.routes["/slow"] = Reply.html("<p>late</p>", delay=1.5)
    with pytest.raises(SearchError, match="timed out waiting for the server after 0.3 s"):
        fetcher(read_timeout=0.3).visit(server.url("/slow"))


def test_dripping_body_hits_the_overall_deadline(server: LocalServer) -> None:
    """Each chunk arrives within the read timeout, but the whole body would take far too long."""
    server.routes["/drip"] = Reply(body=b"x" * 70000, repeat=50, drip=0.1, content_type="text/plain")
    with pytest.raises(SearchError, match="took too long"):
        fetcher(read_timeout=0.3, connect_timeout=0.1).visit(server.url("/drip"))


def test_closed_port_cannot_connect() -> None:
    with pytest.raises(SearchError, match="could not connect"):
        fetcher().visit("http://127.0.0.1:9/")


@pytest.mark.parametrize("status", [403, 404, 500, 503])
def test_error_statuses_are_reported(server: LocalServer, status: int) -> None:
    server.routes["/e"] = Reply(status=status, body=b"error page")
    with pytest.raises(SearchError, match=f"HTTP {status}"):
        fetcher().visit(server.url("/e"))


def test_redirects_are_followed_up_to_the_limit(server: LocalServer) -> None:
    server.routes["/r1"] = Reply.redirect("/r2", 301)
    server.routes["/r2"] = Reply.redirect(server.url("/final"), 307)
    server.routes["/final"] = Reply.html("<title>End</title><p>arrived</p>")
    page = fetcher(max_redirects=2).visit(server.url("/r1"))
    assert page.url == server.url("/final") and "arrived" in page.text
    with pytest.raises(SearchError, match="too many redirects"):
        fetcher(max_redirects=1).visit(server.url("/r1"))


def test_redirect_loop_ends(server: LocalServer) -> None:
    server.routes["/loop"] = Reply.redirect("/loop")
    with pytest.raises(SearchError, match="too many redirects"):
        fetcher(max_redirects=3).visit(server.url("/loop"))
    assert server.hits("/loop") == 4


def test_huge_page_stops_at_the_size_cap(server: LocalServer) -> None:
    """A 20 MB page with a 100 kB cap: reading stops early and the page is marked cut."""
    server.routes["/huge"] = Reply(body=b"word " * 20000, repeat=200, content_type="text/plain")
    page = fetcher(max_bytes=100_000).visit(server.url("/huge"))
    assert page.truncated and len(page.text) <= 100_000
    assert server.bytes_sent.get("/huge", 0) < 20_000_000


def test_truncated_body_keeps_what_arrived(server: LocalServer) -> None:
    """The server promises 10000 bytes, sends 3000 and hangs up."""
    server.routes["/cut"] = Reply(body=b"partial text " * 230, content_type="text/plain",
                                  declared_length=10000)
    page = fetcher().visit(server.url("/cut"))
    assert page.truncated and page.text.startswith("partial text")


@pytest.mark.parametrize("content_type", ["image/png", "video/mp4", "application/zip"])
def test_unreadable_content_types_are_named(server: LocalServer, content_type: str) -> None:
    server.routes["/bin"] = Reply(body=b"\x89PNG\x00\x00" * 10, content_type=content_type)
    with pytest.raises(SearchError, match=f"cannot read content type {content_type}"):
        fetcher().visit(server.url("/bin"))


def test_binary_body_behind_a_text_type_is_refused(server: LocalServer) -> None:
    server.routes["/fake"] = Reply(body=b"\x00\x01\x02binary" * 100, content_type="text/html")
    with pytest.raises(SearchError, match="binary"):
        fetcher().visit(server.url("/fake"))


def test_missing_content_type_is_sniffed(server: LocalServer) -> None:
    server.routes["/nohdr"] = Reply(body=b"<!DOCTYPE html><title>Sniffed</title><p>ok</p>", content_type=None)
    assert fetcher().visit(server.url("/nohdr")).title == "Sniffed"


def test_malformed_html_still_reads(server: LocalServer) -> None:
    server.routes["/bad"] = Reply.html("<html><body><div><p>Unclosed <b>bold <i>text</div></span>"
                                       "<table><tr><td>cell</html></html>")
    text = fetcher().visit(server.url("/bad")).text
    assert "Unclosed" in text and "cell" in text


def test_pdf_page(server: LocalServer) -> None:
    import pypdf  # noqa: F401  (the pdf extra is part of the test install)
    server.routes["/doc.pdf"] = Reply(body=make_pdf("Quarterly report text"), content_type="application/pdf")
    page = fetcher().visit(server.url("/doc.pdf"))
    assert "Quarterly report text" in page.text and page.content_type == "application/pdf"


def test_pdf_cut_by_the_size_cap_is_refused_clearly(server: LocalServer) -> None:
    import pypdf  # noqa: F401  (the pdf extra is part of the test install)
    server.routes["/big.pdf"] = Reply(body=make_pdf("x") + b"%" * 5000, content_type="application/pdf")
    with pytest.raises(SearchError, match="larger than the download limit"):
        fetcher(max_bytes=200).visit(server.url("/big.pdf"))
