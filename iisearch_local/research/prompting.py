"""The prompts and the Qwen3 chat format both protocols are written in.

Prompt texts are package data (``research/prompts/NAME.txt``) with ``$placeholders``
(``string.Template``, so the JSON and code inside them need no escaping). A user can replace any
of them with a file of their own through ``research.prompt_NAME``.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from string import Template

from ..errors import UserFacingError
from .settings import PROMPT_NAMES

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
START_CODE = "<start_code>"
END_CODE = "<end_code>"
TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
TOOL_RESPONSE_OPEN = "<tool_response>"
TOOL_RESPONSE_CLOSE = "</tool_response>"


class PromptError(UserFacingError):
    """A prompt file (shipped or the user's) could not be read or filled in."""


def turn(role: str, content: str) -> str:
    """One complete chat turn."""
    return f"{IM_START}{role}\n{content}{IM_END}\n"


def assistant_start() -> str:
    """The generation prompt: an assistant turn the model continues."""
    return f"{IM_START}assistant\n"


def http_date(now: datetime | None = None) -> str:
    """The date line the models were trained with, e.g. ``Mon, 02 Jun 2025 14:03:00 GMT``."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return email.utils.format_datetime(now.astimezone(timezone.utc), usegmt=True)


class PromptSet:
    """The prompt texts of one session: shipped defaults, or the user's files where given."""

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        self._texts: dict[str, str] = {}
        overrides = dict(overrides or {})
        unknown = set(overrides) - set(PROMPT_NAMES)
        if unknown:
            raise PromptError(f"unknown prompt name(s): {', '.join(sorted(unknown))}",
                              hint=f"Prompts are: {', '.join(PROMPT_NAMES)}.")
        for name in PROMPT_NAMES:
            self._texts[name] = (_read_user_prompt(name, overrides[name]) if overrides.get(name)
                                 else _read_shipped_prompt(name))

    def raw(self, name: str) -> str:
        return self._texts[name]

    def render(self, name: str, **values: str) -> str:
        """Fill in ``$placeholders``; a placeholder the text uses but we lack is an error."""
        try:
            return Template(self._texts[name]).substitute(values)
        except (KeyError, ValueError) as exc:
            raise PromptError(f"prompt {name!r} has a placeholder we cannot fill: {exc}",
                              hint=f"Placeholders available here: "
                              f"{', '.join('$' + v for v in values) or 'none'}.") from None


def _read_shipped_prompt(name: str) -> str:
    return resources.files(__package__).joinpath("prompts", f"{name}.txt").read_text("utf-8")


def _read_user_prompt(name: str, path_text: str) -> str:
    path = Path(path_text).expanduser()
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptError(f"cannot read the {name} prompt file {path}: {exc}",
                          hint=f"Fix or clear research.prompt_{name} in your config.") from None
