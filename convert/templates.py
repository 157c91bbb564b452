"""Chat templates shipped with iisearch-local (data files under ``iisearch_local/templates/``)."""

from __future__ import annotations

from importlib import resources

#: Qwen3 turn format that keeps earlier assistant reasoning in the history (what II-Search expects).
KEEP_REASONING_TEMPLATE = "chat_keep_reasoning.jinja"


def packaged_chat_template(name: str = KEEP_REASONING_TEMPLATE) -> str:
    """The text of a chat template that ships inside the ``iisearch_local`` package."""
    return resources.files("iisearch_local").joinpath("templates", name).read_text(encoding="utf-8")
