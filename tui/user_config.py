"""Writing the user's ``config.toml`` from the settings screen (no Textual here).

Only the keys the user changed are written, merged into whatever the file already holds. The
new file is checked with ``load_config`` before it replaces the old one, so a bad value is an
error that names the key and the file on disk stays as it was.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from iisearch_local.config import Config, load_config
from iisearch_local.errors import ConfigError
from iisearch_local.paths import user_dirs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def config_path() -> Path:
    """The user's config file (it may not exist yet)."""
    return user_dirs().config_file


def read_user_file(path: Path | None = None) -> dict[str, Any]:
    """The nested tables of the user's file; empty when there is none."""
    path = path or config_path()
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}",
                          hint="Fix or remove the file, then save again.") from None


def _set_dotted(table: dict[str, Any], key: str, value: Any) -> None:
    """Set ``section.key`` (or ``section.sub.key``) in nested tables, creating them as needed."""
    *sections, name = key.split(".")
    node = table
    for section in sections:
        node = node.setdefault(section, {})
    node[name] = value


def save_settings(changes: Mapping[str, Any], *, path: Path | None = None,
                  environ: Mapping[str, str] | None = None) -> Config:
    """Merge ``section.key -> value`` changes into the user's file; returns the new config.

    Raises ``ConfigError`` (file untouched) when a key is unknown or a value has the wrong type.
    """
    path = path or config_path()
    data = read_user_file(path)
    for key, value in changes.items():
        _set_dotted(data, key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            tomli_w.dump(data, handle)
        load_config(tmp, environ={} if environ is None else environ)  # validates every key
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return load_config(path, environ=environ)
