"""Page visits over HTTP: bounded, guarded, and turned into clean text.

Connect and read timeouts plus an overall deadline, a streamed size cap (reading stops past it
and the page is marked cut), redirects followed by hand so each hop passes the SSRF guard, a
browser-like User-Agent, charset detection. HTML goes through trafilatura, text stays as is,
PDF needs the ``pdf`` extra; anything else is refused with the content type named.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from .base import Page, SearchError
from .documents import decode_bytes, extract_html, looks_binary, pdf_to_text
from .settings import SearchSettings
from .ssrf import AddressPolicy, GuardedTransport, check_url

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"application/json", "application/xml", "application/ld+json",
                        "application/javascript", "application/x-yaml", "application/yaml"})
PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
DEADLINE_FACTOR = 2.0  # a whole visit may take at most connect + this many read timeouts


@dataclass(frozen=True, kw_only=True)
class FetchLimits:
    """The bounds of one visit."""

    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    user_agent: str = "Mozilla/5.0 iisearch-local/0.1"

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> FetchLimits:
        return cls(connect_timeout=settings.connect_timeout, read_timeout=settings.read_timeout,
                   max_bytes=settings.max_bytes, max_redirects=settings.max_redirects,
                   user_agent=settings.user_agent)


@dataclass(frozen=True, kw_only=True)
class RawResponse:
    """The last hop's answer, body possibly cut at the size cap."""

    url: str
    status: int
    content_type: str  # lower-case media type without parameters, "" when absent
    charset: str | None
    body: bytes
    truncated: bool


def _media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def _sniff(body: bytes) -> str:
    head = body[:1024].lstrip().lower()
    if head.startswith(b"%pdf"):
        return "application/pdf"
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "text/html"
    return "application/octet-stream" if looks_binary(body) else "text/plain"


class HttpFetcher:
    """Visits http(s) pages under ``FetchLimits`` and an ``AddressPolicy``."""

    name = "http"

    def __init__(self, *, limits: FetchLimits | None = None,
                 policy: AddressPolicy | None = None) -> None:
        limits = limits or FetchLimits()
        policy = policy or AddressPolicy()  # the default: public addresses only
        self.limits = limits
        self.policy = policy
        timeout = httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout)
        self._client = httpx.Client(transport=GuardedTransport(policy), timeout=timeout,
                                    follow_redirects=False, trust_env=False)

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> HttpFetcher:
        policy = AddressPolicy.build(allow_private=settings.allow_private_hosts,
                                     allowed_hosts=settings.allowed_hosts)
        return cls(limits=FetchLimits.from_settings(settings), policy=policy)

    def close(self) -> None:
        self._client.close()

    def visit(self, url: str) -> Page:
        """Fetch ``url`` and reduce it to text; raises ``SearchError`` with a short reason."""
        raw = self.fetch_raw(url)
        return page_from_response(raw)

    def fetch_raw(self, url: str) -> RawResponse:
        """GET with manual redirects; every hop re-validated (the connection re-checks the IP)."""
        limits = self.limits
        deadline = time.monotonic() + limits.connect_timeout + DEADLINE_FACTOR * limits.read_timeout
        headers = {"User-Agent": limits.user_agent,
                   "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,application/pdf;q=0.8,*/*;q=0.5",
                   "Accept-Language": "en;q=1.0, *;q=0.5"}
        current = url.strip()
        for _hop in range(limits.max_redirects + 1):
            check_url(current)
            try:
                with self._client.stream("GET", current, headers=headers) as response:
                    if response.status_code in REDIRECT_CODES and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    return self._read(current, response, deadline)
            except httpx.ConnectTimeout:
                raise SearchError(f"timed out connecting after {limits.connect_timeout:g} s") from None
            except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
                raise SearchError(f"timed out waiting for the server after {limits.read_timeout:g} s") from None
            except httpx.ConnectError as exc:
                raise SearchError(f"could not connect ({_short(exc)})") from None
            except (httpx.RemoteProtocolError, httpx.LocalProtocolError, httpx.DecodingError) as exc:
                raise SearchError(f"the server sent a broken response ({_short(exc)})") from None
            except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
                raise SearchError(f"invalid URL ({_short(exc)})") from None
            except httpx.HTTPError as exc:
                raise SearchError(f"the request failed ({_short(exc)})") from None
        raise SearchError(f"too many redirects (more than {limits.max_redirects})")

    def _read(self, url: str, response: httpx.Response, deadline: float) -> RawResponse:
        status = response.status_code
        if status >= 400 or status < 200:
            phrase = response.reason_phrase or ""
            raise SearchError(f"the server answered HTTP {status} {phrase}".rstrip())
        content_type = _media_type(response.headers.get("content-type"))
        if content_type and not _readable(content_type):
            raise SearchError(f"cannot read content type {content_type}")
        chunks: list[bytes] = []
        size, truncated = 0, False
        try:
            for chunk in response.iter_bytes():  # as received: a hang-up keeps what came
                chunks.append(chunk)
                size += len(chunk)
                if size > self.limits.max_bytes:
                    truncated = True
                    break
                if time.monotonic() > deadline:
                    raise SearchError("the page took too long to download")
        except httpx.RemoteProtocolError:
            if not chunks:
                raise
            truncated = True  # the server hung up mid-body: keep what arrived
        body = b"".join(chunks)[: self.limits.max_bytes]
        return RawResponse(url=str(response.url), status=status, content_type=content_type,
                           charset=response.charset_encoding, body=body, truncated=truncated)


def _readable(content_type: str) -> bool:
    return (content_type.startswith("text/") or content_type in HTML_TYPES
            or content_type in TEXT_TYPES or content_type in PDF_TYPES
            or content_type.endswith(("+xml", "+json")) or content_type == "application/octet-stream")


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:160]


def page_from_response(raw: RawResponse) -> Page:
    """Turn a response body into a ``Page`` according to its (declared or sniffed) type."""
    kind = raw.content_type
    if not kind or kind == "application/octet-stream":
        kind = _sniff(raw.body)
    now = time.time()
    if kind in PDF_TYPES:
        try:
            extracted = pdf_to_text(raw.body)
        except SearchError as exc:
            if raw.truncated:
                raise SearchError("the PDF is larger than the download limit and cannot be read cut") from None
            raise exc
        return Page(url=raw.url, title=extracted.title, text=extracted.text, content_type=kind,
                    fetched_at=now, truncated=raw.truncated, source="http")
    if kind == "application/octet-stream" or looks_binary(raw.body):
        raise SearchError(f"cannot read content type {raw.content_type or 'unknown'} (binary data)")
    is_html = kind in HTML_TYPES
    text = decode_bytes(raw.body, raw.charset, is_html=is_html)
    if is_html:
        extracted = extract_html(text, url=raw.url)
        return Page(url=raw.url, title=extracted.title, text=extracted.text, content_type=kind,
                    fetched_at=now, date=extracted.date, truncated=raw.truncated, source="http")
    return Page(url=raw.url, title="", text=text, content_type=kind, fetched_at=now,
                truncated=raw.truncated, source="http")
