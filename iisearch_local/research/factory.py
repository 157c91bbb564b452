"""Building research sessions from the configuration: one path for the CLI and the TUI.

Two steps, because they cost very different amounts of time:

* ``plan_session(config, ...)`` decides what will run (model file, backend, protocol, search
  engines, limits) without loading anything; a missing model is a ``UserFacingError`` at once.
* ``ResearchRuntime.open(plan, config)`` loads the backend and the search layer (seconds, run it
  off the UI thread) and then hands out ``ResearchSession`` objects, fresh or continuing a
  stored trace, that share the loaded model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..backends.base import Backend
from ..config import Config
from .session import ResearchSession
from .settings import ResearchSettings

SAMPLE_SOURCE = "sample"  # engine name meaning: the built-in sample pages, no network
Functions = Mapping[str, Callable[..., str]]


@dataclass(frozen=True, kw_only=True)
class SessionPlan:
    """What a research session will run on, decided before anything is loaded."""

    model_name: str
    model_path: Path
    backend: str  # the backend setting ("auto", "llama", "mlx", ...)
    protocol: str
    engines: tuple[str, ...]
    offline: bool
    settings: ResearchSettings

    def describe_search(self) -> str:
        """How the status line names the search side: the engines, or OFFLINE."""
        names = ", ".join(self.engines) or "no engines"
        return f"OFFLINE ({names})" if self.offline else names


def plan_session(config: Config, *, model: str | None = None, backend: str | None = None,
                 protocol: str | None = None, engines: tuple[str, ...] = (),
                 offline: bool | None = None, report: bool | None = None) -> SessionPlan:
    """Resolve the model and the options; raises ``UserFacingError`` when nothing can run."""
    settings = ResearchSettings.from_config(config)
    if report is not None:
        settings = dataclasses.replace(settings, report=report)
    backend_name = backend or config.get("backend.name")
    resolved = remote_or_local_model(config, model=model, backend=backend_name)
    chosen_protocol = protocol or getattr(resolved, "protocol", None) or "cir"
    is_offline = bool(config.get("search.offline") if offline is None else offline)
    names = tuple(engines) or tuple(config.get("search.engines"))
    return SessionPlan(model_name=resolved.name, model_path=resolved.path, backend=backend_name,
                       protocol=chosen_protocol, engines=names,
                       offline=is_offline or names == (SAMPLE_SOURCE,), settings=settings)


def remote_or_local_model(config: Config, *, model: str | None, backend: str) -> Any:
    """The model to run: local weights, or for a server backend the name the server knows."""
    from ..backends.registry import is_remote
    from ..models.registry import effective_protocol, find_spec
    from ..models.resolve import ResolvedModel, resolve_model

    if not is_remote(backend):
        return resolve_model(model or config.get("model.name"), backend=backend, config=config)
    name = model or config.get(f"{backend}.model") or ""
    spec = find_spec(name) if name else None  # a registry name also gives the protocol
    return ResolvedModel(path=Path(name), name=name or f"{backend} server", spec=spec,
                         protocol=effective_protocol(config, spec, Path(name) if name else None))


def executor_factory(config: Config) -> Callable[[Functions], object] | None:
    """The restricted executor with the ``[executor]`` limits, when the config has that section."""
    section = config.section("executor")
    if not section:
        return None  # the session's default: the executor's own default limits

    def build(functions: Functions) -> object:
        from ..executor import ExecutorLimits, RestrictedExecutor

        return RestrictedExecutor(functions=dict(functions),
                                  limits=ExecutorLimits.from_mapping(section))

    return build


def open_search_tools(config: Config, *, engines: tuple[str, ...] = (),
                      offline: bool | None = None) -> Any:
    """The search layer (``SearchTools``) for ``engines``; ``("sample",)`` is the built-in pages."""
    from ..search.tools import SearchTools

    if tuple(engines) == (SAMPLE_SOURCE,):
        from .local_source import InMemorySource

        return SearchTools(engines=[InMemorySource()], fetcher=None, offline=True)
    return SearchTools.from_config(config, engines=list(engines) or None, offline=offline)


class ResearchRuntime:
    """A loaded model plus search functions; makes sessions that share them.

    Owns the backend and the search layer: ``close()`` releases both. Tests build one directly
    from a scripted backend and a dict of functions.
    """

    def __init__(self, plan: SessionPlan, *, backend: Backend, functions: Functions,
                 search_tools: Any = None,
                 executor_factory: Callable[[Functions], object] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.plan = plan
        self.backend = backend
        self.functions = functions
        self.search_tools = search_tools
        self._executor_factory = executor_factory
        self._clock = clock

    @classmethod
    def open(cls, plan: SessionPlan, config: Config) -> ResearchRuntime:
        """Load the backend and open the search layer the plan names (slow: seconds)."""
        from ..backends.registry import load_backend
        from ..models.resolve import load_options_from_config

        tools = open_search_tools(config, engines=plan.engines, offline=plan.offline)
        try:
            model = load_backend(plan.backend, plan.model_path, load_options_from_config(config))
        except BaseException:
            tools.close()
            raise
        return cls(plan, backend=model, functions=tools.functions(), search_tools=tools,
                   executor_factory=executor_factory(config))

    @property
    def backend_name(self) -> str:
        """The backend that actually runs (``llama`` / ``mlx`` / ``scripted``...)."""
        return str(getattr(self.backend, "name", self.plan.backend))

    def new_session(self, *, trace: str = "",
                    generated_spans: Sequence[tuple[int, int]] | None = None) -> ResearchSession:
        """A session on the loaded model; a non-empty ``trace`` continues an earlier one."""
        return ResearchSession(self.backend, tools=self.functions, protocol=self.plan.protocol,
                               settings=self.plan.settings, model_name=self.plan.model_name,
                               executor_factory=self._executor_factory, clock=self._clock,
                               trace=trace, generated_spans=generated_spans)

    def close(self) -> None:
        """Release the search layer and the model."""
        try:
            if self.search_tools is not None:
                self.search_tools.close()
        finally:
            self.backend.close()

    def __enter__(self) -> ResearchRuntime:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
