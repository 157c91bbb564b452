"""CIR protocol: every kind of bad model output has a defined outcome, and limits hold.

Each test says what the model did wrong and what the loop must do about it.
"""

from __future__ import annotations

import pytest
from researchtest_helpers import answer_stream, finished, of_type, run_all

from iisearch_local.backends.base import Generation, GenerationOptions
from iisearch_local.backends.scripted import ScriptedBackend
from iisearch_local.research import ResearchSession
from iisearch_local.research import events as ev
from iisearch_local.research.cir import NO_CODE, NO_OUTPUT, extract_code

SEARCH_BLOCK = "<start_code>\n```python\nprint(web_search(query=\"Marie Curie\"))\n```\n<end_code>"
ANSWER = "\n</think>\n\nShe won two Nobel Prizes ([Marie Curie](https://local.example/marie-curie))."


def codes(events):
    return [e.code for e in of_type(events, ev.Notice)]


def test_unterminated_code_block_at_end_of_turn_is_closed_and_run(make_session):
    """The model closes the fence but ends its turn without <end_code>: close it, run it, go on."""
    session = make_session(["Search.\n<start_code>\n```python\nprint(web_search(query=\"Curie\"))\n```",
                            ANSWER])
    events = run_all(session, "Q?")
    assert "unterminated_code" in codes(events)
    assert of_type(events, ev.CodeResult)[0].error is None
    assert "```\n<end_code>\n```output\nIndex: 1" in session.trace
    assert finished(events).reason == "answered"


def test_unterminated_fence_is_closed_too(make_session):
    """The model stops in the middle of its code (no closing fence, no <end_code>)."""
    session = make_session(["<start_code>\n```python\nprint(1 + 1)", ANSWER])
    events = run_all(session, "Q?")
    assert "print(1 + 1)\n```\n<end_code>\n```output\n2\n```\n" in session.trace
    assert finished(events).reason == "answered"


def test_two_fences_in_one_block_run_together_in_order(make_session):
    session = make_session(["<start_code>\n```python\nx = 2\n```\n```python\nprint(x * 21)\n```\n<end_code>",
                            ANSWER])
    events = run_all(session, "Q?")
    assert of_type(events, ev.CodeBlock)[0].code == "x = 2\n\nprint(x * 21)"
    assert of_type(events, ev.CodeResult)[0].output.strip() == "42"
    assert "several_fences" in codes(events)


def test_prose_instead_of_code_gets_a_correction_the_model_can_follow(make_session):
    """The model writes prose, then <end_code>, with no code: nothing runs, it is told how."""
    session = make_session(["I will search now.\n<end_code>", SEARCH_BLOCK, ANSWER])
    events = run_all(session, "Q?")
    assert NO_CODE in session.trace
    assert len(of_type(events, ev.CodeBlock)) == 1  # only the corrected block ran
    done = finished(events)
    assert done.reason == "answered" and done.stats.format_errors == 1


def test_repeated_format_errors_force_the_answer(make_session):
    """Three blocks in a row without code: stop correcting, close the reasoning, ask for the answer."""
    session = make_session(["Hmm.\n<end_code>"] * 3 + ["It is 42."], max_format_errors=3)
    events = run_all(session, "Q?")
    done = finished(events)
    assert done.forced and done.answer == "It is 42." and "malformed" in done.detail
    # Every block got its correction (the trace stays well formed); the third one also forced.
    assert session.trace.count(NO_CODE) == 3
    assert "</think>\n\nIt is 42." in session.trace


def test_code_after_think_is_not_run(make_session):
    """Rule: all code before </think>. Code in the answer is dropped; the answer is what came before."""
    session = make_session([f"Done.\n</think>\n\nThe answer is 7.\n{SEARCH_BLOCK}"])
    events = run_all(session, "Q?")
    done = finished(events)
    assert done.answer == "The answer is 7."
    assert answer_stream(events).strip() == "The answer is 7."
    assert not of_type(events, ev.CodeBlock) and "code_after_answer" in codes(events)
    assert session.trace.endswith("<end_code><|im_end|>\n")


def test_no_think_close_at_end_of_turn_forces_an_answer(make_session):
    """The model ends its turn still reasoning: we close </think> ourselves and ask for the answer."""
    session = make_session(["I think it is Paris.", "Paris."])
    events = run_all(session, "Q?")
    done = finished(events)
    assert done.forced and done.answer == "Paris." and done.reason == "answered"
    assert "I think it is Paris.\n\nI have to stop researching here" in session.trace
    assert "</think>\n\nParis.<|im_end|>\n" in session.trace


def test_empty_answer_is_no_answer(make_session):
    session = make_session(["Done.\n</think>\n\n"])
    done = finished(run_all(session, "Q?"))
    assert done.reason == "no_answer" and done.answer == ""


def test_a_model_that_never_stops_is_bounded(make_session):
    """Endless reasoning: each turn hits max_tokens; the budget forces an answer, which is cut."""
    endless = "blah " * 5000
    session = make_session([endless] * 50, max_tokens_per_turn=100, max_generated_tokens=300,
                           answer_max_tokens=50)
    events = run_all(session, "Q?")
    done = finished(events)
    assert done.reason == "length" and done.forced
    assert "token limit" in done.detail and "generation budget" in done.detail
    assert done.stats.completion_tokens <= 300 + 50
    assert session.backend.count_tokens(done.answer) <= 50


def test_code_block_limit_forces_the_answer(make_session):
    """Training allowed 32 code blocks; the 33rd is not run and the answer is asked for."""
    block = "<start_code>\n```python\nprint('x')\n```\n<end_code>"
    session = make_session([block] * 33 + ["Final."])
    events = run_all(session, "Q?")
    done = finished(events)
    assert done.stats.code_blocks == 32 and len(of_type(events, ev.CodeResult)) == 32
    assert done.forced and "code block limit (32)" in done.detail and done.answer == "Final."
    assert "limit of 32 code blocks" in session.trace


def test_observation_is_cut_to_the_token_cap(make_session):
    session = make_session(["<start_code>\n```python\nprint('word ' * 5000)\n```\n<end_code>", ANSWER],
                           observation_max_tokens=3000)
    events = run_all(session, "Q?")
    result = of_type(events, ev.CodeResult)[0]
    shown = result.observation.split("\n[... output cut")[0]
    assert session.backend.count_tokens(shown) <= 3000
    assert session.backend.count_tokens(shown) >= 2990
    assert "[... output cut at 3000 tokens]" in session.trace
    assert len(result.output) > len(result.observation)  # the event keeps the full output


def test_code_that_prints_nothing_says_so(make_session):
    session = make_session(["<start_code>\n```python\nx = web_search(query='Curie')\n```\n<end_code>",
                            ANSWER])
    run_all(session, "Q?")
    assert f"```output\n{NO_OUTPUT}\n```" in session.trace


def test_bad_function_arguments_reach_the_model_as_an_error(make_session):
    session = make_session(["<start_code>\n```python\nprint(web_search(num_result=3))\n```\n<end_code>",
                            ANSWER])
    events = run_all(session, "Q?")
    result = of_type(events, ev.CodeResult)[0]
    assert "web_search needs a query" in result.error and "num_result=5" in result.error


def test_a_failing_source_becomes_an_observation(make_session):
    """The visit raises (unknown page): the code still finishes and the model reads why."""
    session = make_session(["<start_code>\n```python\nprint(web_visit('https://nowhere.example/x'))\n"
                            "print('after')\n```\n<end_code>", ANSWER])
    events = run_all(session, "Q?")
    visit = of_type(events, ev.VisitDone)[0]
    assert visit.error and "no page at" in visit.error
    assert of_type(events, ev.CodeResult)[0].error is None
    assert "web_visit failed: no page at https://nowhere.example/x" in session.trace
    assert "\nafter\n```" in session.trace


def test_context_nearly_full_stops_tools_and_asks_for_the_answer(make_session):
    """A small context: after the first big observation the reserve is reached."""
    session = make_session(["<start_code>\n```python\nprint('word ' * 400)\n```\n<end_code>",
                            "Short answer."],
                           context_size=2000, answer_reserve_tokens=600, answer_max_tokens=100)
    events = run_all(session, "Q?")
    done = finished(events)
    assert done.forced and "context is nearly full" in done.detail
    assert done.answer == "Short answer."
    assert len(of_type(events, ev.CodeBlock)) == 1
    assert session.backend.count_tokens(session.trace) < 2000


def test_prompt_larger_than_the_context_is_a_clear_error(make_session):
    """The opening prompt alone does not fit: end at once with a message that says so."""
    session = make_session(["x"], context_size=300, answer_reserve_tokens=64)
    events = run_all(session, "Q?")
    done = finished(events)
    assert done.reason == "error" and "300-token context" in done.detail
    assert session.backend.prompts == []  # the model was never asked
    assert session.trace.startswith("<|im_start|>system\n")


class CrashingBackend(ScriptedBackend):
    """A scripted model whose engine fails in the middle of its second generation."""

    def generate(self, prompt, options=None, *, cancel=None):
        options = options or GenerationOptions()
        if not self.prompts:
            return super().generate(prompt, options, cancel=cancel)
        self.prompts.append(prompt)

        def crash():
            yield "Half a thou"
            raise RuntimeError("llama_decode returned -3")

        return Generation(crash())


def test_backend_crash_ends_cleanly_and_keeps_the_trace(source):
    """The engine raises mid-stream: the run ends with reason error; what it wrote is kept."""
    session = ResearchSession(CrashingBackend([SEARCH_BLOCK]), tools=source.functions())
    events = run_all(session, "Q?")
    done = finished(events)
    assert done.reason == "error" and "llama_decode returned -3" in done.detail
    assert session.trace.endswith("```\nHalf a thou<|im_end|>\n")
    assert len(of_type(events, ev.CodeResult)) == 1


def test_follow_up_continues_the_same_trace(make_session):
    session = make_session([SEARCH_BLOCK, ANSWER, "Warsaw, per the same page.\n</think>\n\nWarsaw."])
    first = run_all(session, "Which prizes did Marie Curie win?")
    trace_after_first = session.trace
    second = run_all(session, "Where was she born?")
    assert finished(first).reason == finished(second).reason == "answered"
    assert second[0].follow_up is True
    assert session.trace.startswith(trace_after_first)
    assert "<|im_start|>user\nWhere was she born?<|im_end|>\n<|im_start|>assistant\n<think>\n" \
        in session.trace
    assert finished(second).answer == "Warsaw."
    assert session.backend.prompts[-1].startswith(trace_after_first)


def test_session_restored_from_a_trace_continues_it(make_session, source):
    first = make_session([SEARCH_BLOCK, ANSWER])
    run_all(first, "Q?")
    restored = ResearchSession(ScriptedBackend(["More.\n</think>\n\nMore."]), tools=source.functions(),
                               trace=first.trace)
    done = finished(run_all(restored, "And?"))
    assert done.answer == "More." and restored.trace.startswith(first.trace)


@pytest.mark.parametrize("segment, expected", [
    ("<start_code>\n```python\nprint(1)\n```\n", "print(1)"),
    ("<start_code>\n```python\nprint(1)\n```", "print(1)"),  # fence right before <end_code>
    ("<start_code>\n```py\nprint(1)\n", "print(1)"),  # no closing fence
    ("Reasoning first.\n```python\nprint(1)\n```\n", "print(1)"),  # no <start_code>
    ("<start_code>\nprint(1)\n", "print(1)"),  # raw code without a fence
    ("<start_code>\n```python\na = 1\n```\n<start_code>\n```python\nprint(a)\n```\n", "a = 1\n\nprint(a)"),
    ("Just words.\n", None),
    ("<start_code>\n```python\n\n```\n", None),
])
def test_extract_code(segment, expected):
    assert extract_code(segment).code == expected


def test_budget_running_out_inside_a_code_block_closes_it_unrun(make_session):
    """The generation budget ends while the model is still writing code: the block is closed
    (not run), the reasoning is closed, and the answer is asked for."""
    session = make_session(["<start_code>\n```python\n" + "x = 1\n" * 400, "Answer."],
                           max_tokens_per_turn=100, max_generated_tokens=100)
    events = run_all(session, "Q?")
    done = finished(events)
    assert done.forced and done.answer == "Answer." and not of_type(events, ev.CodeBlock)
    assert "\n```\n<end_code>\n```output\nThis code block was not run: the session is out of " \
           "budget.\n```\n\n\nI have to stop researching here" in session.trace


def test_missing_executor_ends_with_a_clear_error(source):
    def no_executor(functions):
        raise ImportError("no module named iisearch_local.executor")

    session = ResearchSession(ScriptedBackend([SEARCH_BLOCK]), tools=source.functions(),
                              executor_factory=no_executor)
    done = finished(run_all(session, "Q?"))
    assert done.reason == "error" and "executor could not start" in done.detail
    assert session.trace.endswith("<end_code>\n```output\nNot run: the code executor is not "
                                  "available.\n```\n<|im_end|>\n")
