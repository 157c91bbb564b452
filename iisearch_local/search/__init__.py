"""Search engines and page fetchers that serve the model's ``web_search`` / ``web_visit``."""

from .base import Page, PageFetcher, SearchBackend, SearchError, SearchHit

__all__ = ["Page", "PageFetcher", "SearchBackend", "SearchError", "SearchHit"]
