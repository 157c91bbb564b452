"""The public contract other parts of the project rely on."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from sandbox_testkit import ToolLog, make_executor

from iisearch_local.config import load_config
from iisearch_local.executor import (
    ALL_LIMITS, ExecutionResult, ExecutorLimits, RestrictedExecutor,
)


def test_contract_from_the_issue(tools: ToolLog) -> None:
    ex = RestrictedExecutor(functions={"web_search": tools.search, "web_visit": tools.visit,
                                       "visit_webpage": tools.visit})
    result = ex.run("print(web_search(query='x', num_result=5)[:8])")
    assert result.output == "Index: 0\n" and result.error is None
    ex.close()


def test_result_is_a_frozen_dataclass(executor: RestrictedExecutor) -> None:
    result = executor.run("pass")
    assert isinstance(result, ExecutionResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.output = "changed"  # type: ignore[misc]


def test_config_section_documents_every_limit() -> None:
    """[executor] in default_config.toml has exactly the ExecutorLimits fields, at their defaults."""
    section = load_config().section("executor")
    assert set(section) == {f.name for f in dataclasses.fields(ExecutorLimits)}
    assert ExecutorLimits.from_mapping(section) == ExecutorLimits()


def test_limit_names_are_distinct() -> None:
    assert len(set(ALL_LIMITS)) == len(ALL_LIMITS)


def test_limits_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ExecutorLimits(10.0)  # type: ignore[misc]
    with pytest.raises(TypeError):
        RestrictedExecutor({})  # type: ignore[misc]


def test_function_names_must_be_public_identifiers() -> None:
    with pytest.raises(ValueError):
        RestrictedExecutor(functions={"__import__": print})
    with pytest.raises(ValueError):
        RestrictedExecutor(functions={"not a name": print})


def test_close_stops_the_worker_and_later_runs_fail_cleanly(tools: ToolLog) -> None:
    # Only this executor's worker is watched: workers of executors closed by earlier tests
    # may still be on their way out, and counting them would race.
    before = set(threading.enumerate())
    ex = make_executor(tools)
    ex.run("x = 1")
    workers = [t for t in set(threading.enumerate()) - before if t.name == "iisearch-sandbox"]
    assert len(workers) == 1
    ex.close()
    workers[0].join(timeout=2)
    assert not workers[0].is_alive()
    result = ex.run("print(1)")
    assert result.error == "the executor is closed"


def test_context_manager(tools: ToolLog) -> None:
    with make_executor(tools) as ex:
        assert ex.run("print(2)").output == "2\n"
    assert ex.run("print(2)").error == "the executor is closed"


def test_cancel_without_a_running_block_does_nothing(executor: RestrictedExecutor) -> None:
    executor.cancel()
    assert executor.run("print('runs')").output == "runs\n"


def test_non_string_code_is_an_error_not_an_exception(executor: RestrictedExecutor) -> None:
    assert executor.run(b"print(1)").error == "code must be a string"  # type: ignore[arg-type]


def test_sessions_are_isolated(tools: ToolLog) -> None:
    """Two executors (two research sessions) never see each other's variables."""
    first, second = make_executor(tools), make_executor(tools)
    first.run("secret = 1")
    assert second.run("print(secret)").error.startswith("NameError")
    first.close()
    second.close()


def test_random_is_private_to_the_session(executor: RestrictedExecutor) -> None:
    """Seeding the sandbox's random does not touch the host's global generator."""
    import random
    random.seed(1234)
    expected = random.random()
    random.seed(1234)
    executor.run("import random\nrandom.seed(1)\nprint(random.random())")
    assert random.random() == expected
