"""The HTTP plumbing the API-based engines share: one client, statuses mapped to short errors."""

from __future__ import annotations

from typing import Any

import httpx

from ..base import EngineUnavailableError, RateLimitedError, SearchError
from ..settings import SearchSettings

RATE_LIMIT_CODES = frozenset({202, 429})  # DuckDuckGo-style engines answer 202 when throttling


def make_client(settings: SearchSettings) -> httpx.Client:
    """A client for a configured API endpoint (the user chose it, so no SSRF guard here)."""
    timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
    return httpx.Client(timeout=timeout, headers={"User-Agent": settings.user_agent},
                        follow_redirects=True)


def request_json(client: httpx.Client, method: str, url: str, *, engine: str,
                 **kwargs: Any) -> Any:
    """Send the request and return the decoded JSON, or raise a ``SearchError`` saying why not."""
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise SearchError(f"{engine} did not answer in time") from None
    except httpx.HTTPError as exc:
        raise SearchError(f"{engine} could not be reached ({type(exc).__name__}: {exc})") from None
    status = response.status_code
    if status in RATE_LIMIT_CODES:
        raise RateLimitedError(f"{engine} is rate-limiting searches (HTTP {status})")
    if status in (401, 403):
        raise SearchError(f"{engine} refused the request (HTTP {status}); check its API key or settings")
    if status >= 400:
        raise SearchError(f"{engine} answered HTTP {status}")
    try:
        return response.json()
    except ValueError:
        raise SearchError(f"{engine} sent an answer that is not JSON") from None


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty list (APIs omit empty result arrays)."""
    return value if isinstance(value, list) else []


def text_field(item: Any, *names: str) -> str:
    """The first non-empty string field among ``names`` of a JSON object."""
    if not isinstance(item, dict):
        return ""
    for name in names:
        value = item.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


class KeyedHttpEngine:
    """Base of the engines that call a hosted API with a key (Brave, Serper, Tavily).

    Subclasses set ``name`` and implement ``search``; the key comes from
    ``search.<name>.api_key`` or ``<NAME>_API_KEY``, the URL from ``search.<name>.base_url``.
    """

    name: str
    local = False

    def __init__(self, *, api_key: str, base_url: str, client: httpx.Client) -> None:
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self._client = client

    @classmethod
    def api_settings(cls, settings: SearchSettings) -> dict[str, Any]:
        """Constructor arguments from the settings; refuses clearly when no key is set."""
        key = settings.api_key(cls.name)
        if not key:
            raise EngineUnavailableError(
                f"{cls.name} needs an API key",
                hint=f"Set search.{cls.name}.api_key or {cls.name.upper()}_API_KEY.")
        return {"api_key": key, "base_url": getattr(settings, f"{cls.name}_base_url"),
                "client": make_client(settings)}

    @classmethod
    def from_settings(cls, settings: SearchSettings) -> KeyedHttpEngine:
        return cls(**cls.api_settings(settings))
