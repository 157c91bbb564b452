"""Finding search engines: built-ins and plugins alike come from one entry-point group.

An entry point in ``iisearch_local.search_backends`` names a class (or factory). A class with a
``from_settings(settings)`` classmethod is built with it; any other callable is called with the
settings. Either may raise ``EngineUnavailableError`` to say "not configured" (missing key, URL)
or "not installed" (missing extra). A class attribute ``local = True`` marks an engine that
works without the network, the only kind used in offline mode.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal

from .base import EngineUnavailableError, SearchBackend, SearchError
from .settings import SearchSettings

ENTRY_POINT_GROUP = "iisearch_local.search_backends"
EngineState = Literal["ready", "not configured", "not installed", "broken"]


@dataclass(frozen=True)
class EngineInfo:
    """What ``iisearch search backends`` shows for one engine."""

    name: str
    target: str  # "module:attr" of the entry point
    state: EngineState
    detail: str  # why it is not ready, or "" when it is
    local: bool | None  # None when the plugin could not even be imported
    in_chain: bool  # listed in search.engines


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)  # first distribution wins on a name clash
    return found


def available_engines() -> dict[str, str]:
    """Installed engine names mapped to their ``module:attr`` targets."""
    return {name: ep.value for name, ep in sorted(_entry_points().items())}


def _load_factory(name: str) -> Any:
    eps = _entry_points()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none"
        raise EngineUnavailableError(f"unknown search engine {name!r}",
                                     hint=f"Installed engines: {known}.",
                                     state="not installed")
    try:
        return eps[name].load()
    except ImportError as exc:
        raise EngineUnavailableError(f"the {name!r} engine cannot be imported ({exc})",
                                     state="not installed") from None


def is_local_engine(name: str) -> bool:
    """Whether the engine works offline (imports it, but does not build it)."""
    try:
        return bool(getattr(_load_factory(name), "local", False))
    except SearchError:
        return False


def create_engine(name: str, settings: SearchSettings) -> SearchBackend:
    """Build one engine; raises ``EngineUnavailableError`` saying what is missing."""
    factory = _load_factory(name)
    build = getattr(factory, "from_settings", factory)
    try:
        engine = build(settings)
    except SearchError:
        raise
    except ImportError as exc:
        raise EngineUnavailableError(f"the {name!r} engine is missing a dependency ({exc.name or exc})",
                                     state="not installed") from None
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the app down
        raise EngineUnavailableError(f"the {name!r} engine failed to start ({type(exc).__name__}: {exc})",
                                     state="broken") from None
    if not isinstance(engine, SearchBackend):
        raise EngineUnavailableError(f"the {name!r} engine does not provide search()", state="broken")
    return engine


def build_engines(names: Iterable[str], settings: SearchSettings, *,
                  offline: bool = False) -> tuple[list[SearchBackend], list[tuple[str, str]]]:
    """Build the engines of a chain; returns the ready ones and ``(name, reason)`` for the rest.

    Offline, network engines are skipped without being imported or built.
    """
    ready: list[SearchBackend] = []
    skipped: list[tuple[str, str]] = []
    for name in dict.fromkeys(names):
        if offline and not is_local_engine(name):
            skipped.append((name, "needs the network (offline mode)"))
            continue
        try:
            ready.append(create_engine(name, settings))
        except SearchError as exc:
            skipped.append((name, exc.message))
    return ready, skipped


def describe_engines(settings: SearchSettings) -> list[EngineInfo]:
    """Every installed engine with its state under the given settings (builds each one)."""
    infos: list[EngineInfo] = []
    chain = set(settings.engines)
    for name, target in available_engines().items():
        try:
            factory = _load_factory(name)
        except SearchError as exc:
            infos.append(EngineInfo(name, target, "not installed", exc.message, None,
                                    name in chain))
            continue
        local = bool(getattr(factory, "local", False))
        state: EngineState = "ready"
        detail = ""
        try:
            engine = create_engine(name, settings)
            close = getattr(engine, "close", None)
            if callable(close):
                close()
        except EngineUnavailableError as exc:
            detail = exc.message
            state = exc.state if exc.state in ("not installed", "broken") else "not configured"
        except SearchError as exc:
            state, detail = "broken", exc.message
        infos.append(EngineInfo(name, target, state, detail, local, name in chain))
    return infos
