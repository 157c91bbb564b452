"""Typed view of the ``[search]`` configuration section.

``default_config.toml`` documents every key; this module turns the flat ``search.*`` values into
one frozen object the search code passes around, so no module reads the raw config itself.
API keys fall back to the usual environment variables (``SERPER_API_KEY`` and friends).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import Config
from ..paths import user_dirs

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36 iisearch-local/0.1"
)
# Environment variables consulted when a key is not in the config file.
KEY_ENV_VARS = {
    "serper": ("SERPER_API_KEY",),
    "brave": ("BRAVE_API_KEY", "BRAVE_SEARCH_API_KEY"),
    "tavily": ("TAVILY_API_KEY",),
}


@dataclass(frozen=True, kw_only=True)
class SearchSettings:
    """Everything the search layer needs; defaults equal ``default_config.toml``."""

    engines: tuple[str, ...] = ("duckduckgo",)
    offline: bool = False
    visit_only_searched: bool = True
    default_results: int = 5
    max_results: int = 10
    page_words: int = 5000
    show_engine: bool = True
    timeout: float = 15.0
    # fetch
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    allow_private_hosts: bool = False
    allowed_hosts: tuple[str, ...] = ()
    # cache
    cache_enabled: bool = True
    cache_ttl_hours: float = 72.0
    cache_max_mb: float = 200.0
    cache_file: Path | None = None  # None: search_cache.sqlite in the user cache dir
    # prefetch
    prefetch_count: int = 3
    prefetch_concurrency: int = 3
    # local index / zim
    index_file: Path | None = None  # None: local_index.sqlite in the user data dir
    local_paths: tuple[str, ...] = ()
    passage_words: int = 200
    zim_archives: tuple[str, ...] = ()
    # engines
    ddg_region: str = "us-en"
    ddg_safesearch: str = "moderate"
    ddg_backend: str = "auto"
    searxng_url: str = ""
    serper_api_key: str = ""
    serper_base_url: str = "https://google.serper.dev"
    brave_api_key: str = ""
    brave_base_url: str = "https://api.search.brave.com/res/v1"
    tavily_api_key: str = ""
    tavily_base_url: str = "https://api.tavily.com"
    tavily_search_depth: str = "basic"
    # free-form settings for third-party engines (the config's [plugins] section)
    plugins: Mapping[str, Any] = field(default_factory=dict)

    def with_(self, **changes: Any) -> SearchSettings:
        """A copy with some fields changed (tests and CLI flags)."""
        return replace(self, **changes)

    @property
    def cache_path(self) -> Path:
        return self.cache_file or user_dirs().cache / "search_cache.sqlite"

    @property
    def index_path(self) -> Path:
        return self.index_file or user_dirs().data / "local_index.sqlite"

    def api_key(self, engine: str, environ: Mapping[str, str] | None = None) -> str:
        """The configured key for ``engine``, else the first set environment variable."""
        configured = getattr(self, f"{engine}_api_key", "")
        if configured:
            return configured
        environ = os.environ if environ is None else environ
        for name in KEY_ENV_VARS.get(engine, ()):
            if environ.get(name):
                return environ[name]
        return ""

    @classmethod
    def from_config(cls, config: Config) -> SearchSettings:
        """Build from the effective configuration (``[search]`` and its sub-tables)."""
        raw = config.section("search")
        mapping = {
            "engines": "engines", "offline": "offline",
            "visit_only_searched": "visit_only_searched", "default_results": "default_results",
            "max_results": "max_results", "page_words": "page_words",
            "show_engine": "show_engine", "timeout": "timeout",
            "fetch.connect_timeout": "connect_timeout", "fetch.read_timeout": "read_timeout",
            "fetch.max_bytes": "max_bytes", "fetch.max_redirects": "max_redirects",
            "fetch.user_agent": "user_agent", "fetch.allow_private_hosts": "allow_private_hosts",
            "fetch.allowed_hosts": "allowed_hosts",
            "cache.enabled": "cache_enabled", "cache.ttl_hours": "cache_ttl_hours",
            "cache.max_mb": "cache_max_mb", "cache.file": "cache_file",
            "prefetch.count": "prefetch_count", "prefetch.concurrency": "prefetch_concurrency",
            "local.index_file": "index_file", "local.paths": "local_paths",
            "local.passage_words": "passage_words", "zim.archives": "zim_archives",
            "duckduckgo.region": "ddg_region", "duckduckgo.safesearch": "ddg_safesearch",
            "duckduckgo.backend": "ddg_backend", "searxng.url": "searxng_url",
            "serper.api_key": "serper_api_key", "serper.base_url": "serper_base_url",
            "brave.api_key": "brave_api_key", "brave.base_url": "brave_base_url",
            "tavily.api_key": "tavily_api_key", "tavily.base_url": "tavily_base_url",
            "tavily.search_depth": "tavily_search_depth",
        }
        values: dict[str, Any] = {}
        for key, attr in mapping.items():
            if key not in raw:
                continue  # an older config without the key keeps the built-in default
            value = raw[key]
            if isinstance(value, list):
                value = tuple(str(v) for v in value)
            if attr in ("cache_file", "index_file"):
                value = Path(value).expanduser() if value else None
            elif attr == "user_agent" and not value:
                value = DEFAULT_USER_AGENT
            values[attr] = value
        return cls(plugins=config.section("plugins"), **values)
