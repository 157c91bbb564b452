"""Keep page visits on the public web (SSRF guard).

The model chooses which URLs to visit, and pages can redirect anywhere, so every hop is checked:
only ``http``/``https``; the host name is resolved and *every* address must be public (no
loopback, private, link-local, multicast, reserved or unspecified ranges). The check runs inside
the HTTP connection itself (``GuardedNetworkBackend``): the socket connects to the very address
that was checked, so a DNS answer that changes between check and connect (DNS rebinding) gains
nothing. ``allow_private_hosts`` opens private ranges (intranets); loopback and link-local stay
closed unless a host is on the explicit allow-list (``allowed_hosts``: names, IPs or networks).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from .base import SearchError, VisitRefusedError

ALLOWED_SCHEMES = ("http", "https")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class AddressPolicy:
    """Which destinations a visit may reach."""

    allow_private: bool = False
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def build(cls, *, allow_private: bool = False, allowed_hosts: Iterable[str] = ()) -> AddressPolicy:
        return cls(allow_private, frozenset(h.strip().lower() for h in allowed_hosts if h.strip()))

    def host_allowed_by_name(self, host: str) -> bool:
        """An explicit allow-list entry: exact name, or ``.example.org`` for its subdomains."""
        host = host.lower().rstrip(".")
        for entry in self.allowed_hosts:
            if entry == host or (entry.startswith(".") and (host.endswith(entry) or host == entry[1:])):
                return True
        return False

    def _allowed_by_network(self, ip: IPAddress) -> bool:
        for entry in self.allowed_hosts:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
        return False

    def refusal(self, ip: IPAddress) -> str | None:
        """Why ``ip`` may not be contacted, or None when it may."""
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too
        if self._allowed_by_network(ip):
            return None
        for flag, label in (("is_loopback", "a loopback"), ("is_link_local", "a link-local"),
                            ("is_multicast", "a multicast"), ("is_unspecified", "an unspecified"),
                            ("is_reserved", "a reserved")):
            if getattr(ip, flag):
                return f"{ip} is {label} address"
        if ip.is_global:
            return None
        if self.allow_private:
            return None
        return f"{ip} is a private address (set search.fetch.allow_private_hosts to reach an intranet)"


def check_url(url: str) -> tuple[str, str, int]:
    """Validate a URL's shape; return ``(scheme, host, port)`` or raise ``VisitRefusedError``."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise VisitRefusedError(f"invalid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme or "no scheme"
        raise VisitRefusedError(f"only http and https URLs can be visited, not {shown}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise VisitRefusedError("the URL has no host name")
    return scheme, host, port or (443 if scheme == "https" else 80)


def _parse_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def resolve_checked(host: str, port: int, policy: AddressPolicy) -> list[str]:
    """Resolve ``host`` and return addresses to connect to; refuse if any one is not allowed."""
    literal = _parse_ip(host)
    if policy.host_allowed_by_name(host):
        return [str(literal)] if literal is not None else _resolve(host, port)
    addresses = [str(literal)] if literal is not None else _resolve(host, port)
    for address in addresses:
        reason = policy.refusal(ipaddress.ip_address(address.split("%", 1)[0]))
        if reason is not None:
            raise VisitRefusedError(f"refused to contact {host}: {reason}")
    return addresses


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SearchError(f"could not resolve host {host} ({exc.args[-1] if exc.args else exc})") from None
    ordered: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        if sockaddr[0] not in ordered:
            ordered.append(str(sockaddr[0]))
    if not ordered:
        raise SearchError(f"could not resolve host {host}")
    return ordered


class GuardedNetworkBackend(httpcore.SyncBackend):
    """httpcore's socket backend with the address check at connect time."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        addresses = resolve_checked(host, port, self.policy)
        last_error: Exception | None = None
        for address in addresses:  # connect to the checked address, never re-resolve
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose every connection goes through ``GuardedNetworkBackend``.

    Proxies from the environment are ignored on purpose: through a proxy the address check
    would only ever see the proxy's address.
    """

    def __init__(self, policy: AddressPolicy, *, max_connections: int = 20) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=GuardedNetworkBackend(policy),
        )
