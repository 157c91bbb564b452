"""The installed layout: every package folder is listed, and tui/convert live in our namespace."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    mapping = project["tool"]["setuptools"]["package-dir"]
    found = set()
    for package, folder in mapping.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            relative = init.parent.relative_to(base).parts
            found.add(".".join((package, *relative)))
    # Sub-packages of a mapped package that is itself mapped elsewhere are counted once.
    assert found - listed == set(), "add these to [tool.setuptools] packages"


def test_tui_and_convert_import_under_our_namespace():
    import iisearch_local.convert
    import iisearch_local.tui

    assert Path(iisearch_local.tui.__file__).parent == ROOT / "tui"
    assert Path(iisearch_local.convert.__file__).parent == ROOT / "convert"


def test_core_never_imports_the_tui():
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "iisearch_local").rglob("*.py")
                 if "iisearch_local.tui" in path.read_text() or "from ..tui" in path.read_text()]
    assert offenders == []
