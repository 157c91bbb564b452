"""Search engines and page fetchers that serve the model's ``web_search`` / ``web_visit``.

``SearchTools`` (in ``tools``) is the entry point the research loop uses; engines are plugins
found through the ``iisearch_local.search_backends`` entry-point group (``registry``).
"""

from .base import (EngineUnavailableError, LocalSource, Page, PageFetcher, RateLimitedError,
                   SearchBackend, SearchError, SearchHit, VisitRefusedError)
from .settings import SearchSettings
from .tools import SearchTools, ToolCall

__all__ = ["EngineUnavailableError", "LocalSource", "Page", "PageFetcher", "RateLimitedError",
           "SearchBackend", "SearchError", "SearchHit", "SearchSettings", "SearchTools",
           "ToolCall", "VisitRefusedError"]
