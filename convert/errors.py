"""Errors raised while converting model checkpoints."""

from __future__ import annotations

from ..errors import UserFacingError


class ConversionError(UserFacingError):
    """A checkpoint cannot be converted: a file is missing, unreadable or of an unsupported kind."""
