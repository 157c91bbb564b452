"""Layered configuration: package defaults < user file < environment < command line.

Every setting must exist in ``default_config.toml`` (which documents it); an unknown key in the
user's file is an error that names the key, so a typo never passes silently. ``Config`` remembers
where each effective value came from, for ``iisearch config show``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError
from .paths import user_dirs

ENV_PREFIX = "IISEARCH_"
# Sections whose keys are free-form (plugins bring their own settings).
OPEN_SECTIONS = ("plugins",)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def default_config_text() -> str:
    """The documented default configuration, as shipped in the package."""
    return resources.files("iisearch_local").joinpath("default_config.toml").read_text("utf-8")


def _parse_value(raw: str, like: Any, key: str, origin: str) -> Any:
    """Parse an override string as a TOML value of the same type as the default."""
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word is a string
    if isinstance(like, bool) != isinstance(value, bool):
        raise ConfigError(f"{origin}: {key} must be {type(like).__name__}, got {raw!r}")
    if isinstance(like, float) and isinstance(value, int):
        value = float(value)
    if isinstance(like, str) and not isinstance(value, str):
        value = raw
    if type(value) is not type(like):
        raise ConfigError(f"{origin}: {key} must be {type(like).__name__}, got {raw!r}")
    return value


@dataclass
class Config:
    """Effective settings as a flat ``section.key -> value`` mapping, with provenance."""

    values: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise ConfigError(f"unknown setting {key!r}") from None

    def section(self, name: str) -> dict[str, Any]:
        prefix = name + "."
        return {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}

    def source(self, key: str) -> str:
        return self.sources.get(key, "default")

    def items(self) -> Iterator[tuple[str, Any, str]]:
        for key in self.values:
            yield key, self.values[key], self.source(key)

    def with_overrides(self, overrides: Mapping[str, Any], origin: str = "command line") -> "Config":
        """A copy with some values replaced (values already typed, e.g. from CLI flags)."""
        values, sources = dict(self.values), dict(self.sources)
        for key, value in overrides.items():
            if value is None:
                continue
            if key not in values and not key.startswith(OPEN_SECTIONS):
                raise ConfigError(f"unknown setting {key!r}")
            values[key], sources[key] = value, origin
        return Config(values, sources)

    def with_assignments(self, assignments: list[str]) -> "Config":
        """Apply ``section.key=value`` strings (the CLI's ``--set``)."""
        parsed: dict[str, Any] = {}
        for item in assignments:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep:
                raise ConfigError(f"--set expects section.key=value, got {item!r}")
            if key not in self.values:
                raise ConfigError(f"--set: unknown setting {key!r}")
            parsed[key] = _parse_value(raw.strip(), self.values[key], key, "--set")
        return self.with_overrides(parsed, "--set")


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load defaults, then the user's file (if any), then ``IISEARCH_<SECTION>_<KEY>`` variables."""
    environ = os.environ if environ is None else environ
    defaults = _flatten(tomllib.loads(default_config_text()))
    values = dict(defaults)
    sources = {key: "default" for key in values}

    path = path or user_dirs().config_file
    if path.exists():
        try:
            user = _flatten(tomllib.loads(path.read_text("utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        for key, value in user.items():
            if key not in defaults:
                if key.startswith(OPEN_SECTIONS):
                    values[key], sources[key] = value, str(path)
                    continue
                raise ConfigError(f"{path}: unknown setting {key!r}",
                                  hint="`iisearch config show` lists every setting.")
            like = defaults[key]
            if isinstance(like, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if type(value) is not type(like):
                raise ConfigError(f"{path}: {key} must be {type(like).__name__}, got {value!r}")
            values[key], sources[key] = value, str(path)

    for key, like in defaults.items():
        env_name = ENV_PREFIX + key.replace(".", "_").upper()
        if env_name in environ:
            values[key] = _parse_value(environ[env_name], like, key, env_name)
            sources[key] = f"env {env_name}"
    return Config(values, sources)
