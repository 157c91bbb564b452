"""The SSRF guard: only public http(s) addresses, checked on every hop and at connect time."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from iisearch_local.search import ssrf
from iisearch_local.search.base import SearchError, VisitRefusedError
from iisearch_local.search.fetch import FetchLimits, HttpFetcher
from iisearch_local.search.ssrf import AddressPolicy, check_url, resolve_checked
from searchtest_server import LocalServer, Reply

LIMITS = FetchLimits(connect_timeout=2, read_timeout=2)


@pytest.mark.parametrize("url, reason", [
    ("ftp://example.org/x", "not ftp"),
    ("file:///etc/passwd", "not file"),
    ("javascript:alert(1)", "not javascript"),
    ("example.org/page", "not no scheme"),
    ("http:///path-only", "no host"),
    ("http://example.org:99999/", "invalid URL"),
])
def test_malformed_or_non_http_urls_are_refused(url: str, reason: str) -> None:
    """Schemes other than http(s), missing hosts and impossible ports never reach the network."""
    with pytest.raises(VisitRefusedError, match=reason):
        check_url(url)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1",
                                     "192.168.1.1", "169.254.169.254", "fe80::1", "224.0.0.1",
                                     "0.0.0.0", "::ffff:127.0.0.1", "100.64.0.1", "fc00::1",
                                     "240.0.0.1"])
def test_non_public_addresses_are_refused_by_default(address: str) -> None:
    """Loopback, private, link-local (cloud metadata), multicast, reserved, mapped IPv6."""
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is not None


def test_public_addresses_pass() -> None:
    for address in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"):
        assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None


def test_allow_private_opens_the_intranet_but_not_loopback_or_link_local() -> None:
    policy = AddressPolicy.build(allow_private=True)
    assert policy.refusal(ipaddress.ip_address("10.1.2.3")) is None
    assert policy.refusal(ipaddress.ip_address("192.168.0.7")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is not None
    assert policy.refusal(ipaddress.ip_address("169.254.169.254")) is not None


def test_allow_list_by_name_subdomain_and_network() -> None:
    policy = AddressPolicy.build(allowed_hosts=["wiki.lan", ".corp.example", "10.9.0.0/16"])
    assert policy.host_allowed_by_name("WIKI.lan")
    assert policy.host_allowed_by_name("a.b.corp.example") and policy.host_allowed_by_name("corp.example")
    assert not policy.host_allowed_by_name("evilcorp.example")
    assert policy.refusal(ipaddress.ip_address("10.9.3.4")) is None
    assert policy.refusal(ipaddress.ip_address("10.10.3.4")) is not None


def test_names_are_checked_after_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    """A harmless-looking name that resolves to a private address is refused."""
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", port))]
    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(VisitRefusedError, match="10.0.0.5 is a private address"):
        resolve_checked("innocent.example", 80, AddressPolicy())


def test_unresolvable_host_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")
    monkeypatch.setattr(ssrf.socket, "getaddrinfo", failing)
    with pytest.raises(SearchError, match="could not resolve host nowhere.invalid"):
        resolve_checked("nowhere.invalid", 80, AddressPolicy())


def test_local_server_is_refused_unless_allowed(server: LocalServer) -> None:
    server.routes["/"] = Reply.html("<p>hi</p>")
    fetcher = HttpFetcher(limits=LIMITS)
    with pytest.raises(VisitRefusedError, match="loopback"):
        fetcher.visit(server.url("/"))
    assert server.hits("/") == 0  # refused before any byte was sent
    allowed = HttpFetcher(limits=LIMITS, policy=AddressPolicy.build(allowed_hosts=["127.0.0.1"]))
    assert allowed.visit(server.url("/")).text == "hi"


def test_every_redirect_hop_is_checked(server: LocalServer) -> None:
    """An allowed server redirecting to another loopback address, or to file://, is refused."""
    server.routes["/to-localhost"] = Reply.redirect(server.url("/secret", host="127.0.0.2"))
    server.routes["/to-file"] = Reply.redirect("file:///etc/passwd")
    server.routes["/secret"] = Reply.html("<p>secret</p>")
    fetcher = HttpFetcher(limits=LIMITS, policy=AddressPolicy.build(allowed_hosts=["127.0.0.1"]))
    with pytest.raises(VisitRefusedError, match="refused to contact 127.0.0.2: 127.0.0.2 is a loopback"):
        fetcher.visit(server.url("/to-localhost"))
    with pytest.raises(VisitRefusedError, match="only http and https"):
        fetcher.visit(server.url("/to-file"))
    assert server.hits("/secret") == 0


def test_connection_goes_to_the_address_that_was_checked(server: LocalServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name resolves once per connection and the socket uses that answer.

    The fake resolver answers 127.0.0.1 for the name first and 127.0.0.3 afterwards (still on
    this machine); only 127.0.0.1 is allowed. Re-resolving at connect time would be refused or
    land on 127.0.0.3 where nothing listens.
    """
    server.routes["/page"] = Reply.html("<title>T</title><p>through the checked address</p>")
    answers = iter(["127.0.0.1"] + ["127.0.0.3"] * 10)
    name_lookups: list[str] = []
    connects: list[object] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def fake_getaddrinfo(host, port, *args, **kwargs):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            name_lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]
        return real_getaddrinfo(host, port, *args, **kwargs)  # literals resolve to themselves

    def recording_connect(self, address):
        connects.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    fetcher = HttpFetcher(limits=LIMITS, policy=AddressPolicy.build(allowed_hosts=["127.0.0.1"]))
    page = fetcher.visit(f"http://rebind.test:{server.port}/page")
    assert "checked address" in page.text
    assert name_lookups == ["rebind.test"]
    assert connects == [("127.0.0.1", server.port)]
    assert server.requests[-1].headers["host"] == f"rebind.test:{server.port}"
