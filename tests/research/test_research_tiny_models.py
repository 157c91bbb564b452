"""The same research loop on real tiny models (random weights) with llama.cpp and MLX.

Random weights write random text, so nothing is answered on purpose: what must hold is that
every run ends cleanly, with a reason, inside its token limits, on both backends and both
protocols, and that observations are cut with the model's real tokenizer.
"""

from __future__ import annotations

import pytest
from researchtest_helpers import finished

from iisearch_local.backends.base import LoadOptions
from iisearch_local.backends.registry import load_backend
from iisearch_local.research import ResearchSession, ResearchSettings
from iisearch_local.research.local_source import InMemorySource
from iisearch_local.research.tokens import cut_to_tokens

pytestmark = pytest.mark.slow

CONTEXT = 4096
LIMITS = dict(max_tokens_per_turn=40, max_generated_tokens=80, answer_max_tokens=24,
              answer_reserve_tokens=256)


@pytest.fixture(scope="module", params=["llama", "mlx"])
def tiny_backend(request, tiny_models):
    if request.param == "llama":
        pytest.importorskip("llama_cpp")
        path = tiny_models.gguf_f16
    else:
        pytest.importorskip("mlx_lm")
        if tiny_models.mlx_q4 is None:
            pytest.skip("the MLX tiny model could not be built here")
        path = tiny_models.mlx_q4
    backend = load_backend(request.param, path, LoadOptions(context_size=CONTEXT))
    yield backend
    backend.close()


@pytest.mark.parametrize("protocol", ["cir", "tools"])
def test_random_model_runs_end_cleanly_within_limits(tiny_backend, protocol):
    settings = ResearchSettings(**LIMITS, sampling=ResearchSettings().sampling.__class__(seed=7))
    session = ResearchSession(tiny_backend, tools=InMemorySource().functions(), protocol=protocol,
                              settings=settings)
    try:
        events = list(session.run("Who designed the Eiffel Tower?"))
    finally:
        session.close()
    done = finished(events)
    assert done.reason in ("answered", "length", "no_answer"), done.detail
    assert done.stats.completion_tokens <= LIMITS["max_generated_tokens"] + LIMITS["answer_max_tokens"]
    assert done.stats.generations >= 1
    assert session.trace.startswith("<|im_start|>system\n") and session.trace.endswith("<|im_end|>\n")
    assert tiny_backend.count_tokens(session.trace) <= CONTEXT
    if done.forced:
        assert done.detail  # a forced end always says why
        assert "</think>" in session.trace


def test_observation_cut_uses_the_model_tokenizer(tiny_backend):
    text = "The Eiffel Tower is a wrought-iron lattice tower in Paris. " * 200
    cut, was_cut = cut_to_tokens(tiny_backend, text, 300)
    assert was_cut and text.startswith(cut)
    assert 290 <= tiny_backend.count_tokens(cut) <= 300
