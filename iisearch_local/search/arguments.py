"""Reading the arguments the model passes to ``web_search`` / ``web_visit``, leniently.

The model card writes ``web_search(query, num_result)``, the demo's prompt
``web_search(query, max_result)``; models also improvise (``max_results=``, ``k=``, a list of
queries, a number as a string). Everything reasonable is accepted; a missing query or URL gives a
``SearchError`` whose message tells the model how to call the function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .base import SearchError

QUERY_NAMES = ("query", "q", "queries", "search_query", "question", "text", "keywords")
COUNT_NAMES = ("num_result", "max_result", "num_results", "max_results", "k", "n", "top_k",
               "count", "limit", "num")
URL_NAMES = ("url", "urls", "link", "links", "webpage_url", "page", "website", "href", "uri")
MAX_QUERIES_PER_CALL = 5
MAX_URLS_PER_CALL = 5
MAX_QUERY_CHARS = 500


def _pick(kwargs: Mapping[str, Any], names: Sequence[str]) -> Any:
    for name in names:
        if name in kwargs and kwargs[name] is not None:
            return kwargs[name]
    return None


def _as_strings(value: Any, what: str, limit: int) -> list[str]:
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value if str(v).strip()]
        if len(items) > limit:
            raise SearchError(f"at most {limit} {what}s per call, got {len(items)}")
    else:
        items = [str(value)] if value is not None and str(value).strip() else []
    return [item.strip() for item in items]


def _as_count(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(float(str(value).strip()))
    except ValueError:
        return None  # an odd count is not worth failing the search: use the default


def search_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[list[str], int | None]:
    """``(queries, count)`` from a ``web_search`` call."""
    query = args[0] if args else _pick(kwargs, QUERY_NAMES)
    count = args[1] if len(args) > 1 else _pick(kwargs, COUNT_NAMES)
    queries = _as_strings(query, "query", MAX_QUERIES_PER_CALL)
    if not queries:
        raise SearchError('web_search needs a query, e.g. web_search("your question", num_result=5)')
    too_long = [q for q in queries if len(q) > MAX_QUERY_CHARS]
    if too_long:
        raise SearchError(f"the query is too long ({len(too_long[0])} characters; "
                          f"keep it under {MAX_QUERY_CHARS})")
    return queries, _as_count(count)


def visit_arguments(args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[str]:
    """The URL(s) of a ``web_visit`` / ``visit_webpage`` call."""
    value = args[0] if args else _pick(kwargs, URL_NAMES)
    urls = _as_strings(value, "URL", MAX_URLS_PER_CALL)
    if not urls:
        raise SearchError('web_visit needs a URL from the search results, e.g. web_visit("https://...")')
    return urls
