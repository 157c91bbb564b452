"""The loop over the real search layer: ``SearchTools`` serving the in-memory pages offline."""

from __future__ import annotations

import pytest
from researchtest_helpers import finished, of_type, run_all
from test_research_golden import CIR_REPLIES, TOOLS_REPLIES, TOWER

from iisearch_local.backends.scripted import ScriptedBackend
from iisearch_local.research import ResearchSession
from iisearch_local.research import events as ev
from iisearch_local.research.local_source import InMemorySource
from iisearch_local.search.tools import SearchTools


@pytest.fixture
def search_tools():
    with SearchTools(engines=[InMemorySource()], fetcher=None, offline=True) as tools:
        yield tools


@pytest.mark.parametrize("protocol, replies", [("cir", CIR_REPLIES), ("tools", TOOLS_REPLIES)])
def test_a_session_over_search_tools(search_tools, protocol, replies):
    session = ResearchSession(ScriptedBackend(replies), tools=search_tools.functions(),
                              protocol=protocol)
    try:
        events = run_all(session, "Who designed the Eiffel Tower?")
    finally:
        session.close()
    done = finished(events)
    assert done.reason == "answered"
    assert [s.url for s in done.sources] == [TOWER] and done.sources[0].visited
    assert "Search engine: sample" in session.trace
    assert [c.kind for c in search_tools.calls] == ["search", "visit"]
    assert of_type(events, ev.SearchDone)[0].hits[0].url == TOWER


def test_a_visit_the_search_layer_refuses_is_an_error_event(search_tools):
    """Rule: only visit URLs a search returned. The layer refuses; the loop records the failure."""
    call = ('<think>\nGo.\n</think>\n\n<tool_call>\n{"name": "web_visit", "arguments": '
            f'{{"url": "{TOWER}"}}}}\n</tool_call>')
    session = ResearchSession(ScriptedBackend([call, "<think>\nok\n</think>\n\nDone."]),
                              tools=search_tools.functions(), protocol="tools")
    events = run_all(session, "Q?")
    visit = of_type(events, ev.VisitDone)[0]
    assert visit.error and "did not come from a search" in visit.error
    assert finished(events).sources == ()
