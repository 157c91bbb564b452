"""Where iisearch-local keeps its files.

By default the platform's user directories (through platformdirs). Setting ``IISEARCH_HOME``
puts everything under one folder instead (``config/``, ``data/``, ``cache/``), which is how the
tests keep away from the real home directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "iisearch-local"
HOME_ENV = "IISEARCH_HOME"


@dataclass(frozen=True)
class UserDirs:
    """The three folders the app writes to."""

    config: Path
    data: Path
    cache: Path

    @property
    def config_file(self) -> Path:
        return self.config / "config.toml"

    @property
    def models(self) -> Path:
        """Downloaded model weights (large; lives in the cache)."""
        return self.cache / "models"

    def ensure(self) -> "UserDirs":
        for folder in (self.config, self.data, self.cache):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def user_dirs() -> UserDirs:
    """Resolve the user directories, honouring ``IISEARCH_HOME`` when it is set."""
    home = os.environ.get(HOME_ENV)
    if home:
        root = Path(home).expanduser()
        return UserDirs(config=root / "config", data=root / "data", cache=root / "cache")
    return UserDirs(
        config=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        data=Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
        cache=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
    )
