"""The error every user-facing failure derives from.

A ``UserFacingError`` carries a message written for a person (what went wrong and what to do
next); the CLI prints it without a traceback and exits non-zero.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """An expected failure with a message meant for the user, not a bug."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class ConfigError(UserFacingError):
    """The configuration file or an override could not be understood."""
