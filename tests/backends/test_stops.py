"""Stop strings are found however the text is cut into pieces."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from iisearch_local.backends.stops import StopMatcher


def run(pieces: list[str], stops: list[str]) -> tuple[str, str | None]:
    matcher = StopMatcher(stops)
    out = "".join(matcher.feed(p) for p in pieces)
    if matcher.stopped_by is None:
        out += matcher.flush()
    return out, matcher.stopped_by


def test_stop_split_over_three_pieces():
    assert run(["print(x)\n```<en", "d_co", "de>tail"], ["<end_code>"]) == (
        "print(x)\n```", "<end_code>")


def test_partial_match_that_fails_is_released():
    matcher = StopMatcher(["<end_code>"])
    assert matcher.feed("a <end") == "a "
    assert matcher.feed("ing") == "<ending"
    assert matcher.flush() == ""


def test_held_tail_is_flushed_at_end_of_stream():
    assert run(["abc <end_co"], ["<end_code>"]) == ("abc <end_co", None)


def test_earliest_stop_wins_over_list_order():
    assert run(["xx</tool_call>yy<|im_end|>"], ["<|im_end|>", "</tool_call>"]) == (
        "xx", "</tool_call>")


def test_nothing_after_a_stop_is_emitted():
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("aSTOPb") == "a"
    assert matcher.feed("more") == ""
    assert matcher.flush() == ""


def test_no_stops_passes_through():
    assert run(["a", "b"], []) == ("ab", None)


alphabet = st.sampled_from(list("ab<>/_ce"))


@given(text=st.text(alphabet, max_size=40), cuts=st.lists(st.integers(0, 40), max_size=8),
       stops=st.lists(st.text(alphabet, min_size=1, max_size=5), min_size=1, max_size=3))
def test_any_cutting_matches_whole_text_search(text, cuts, stops):
    bounds = sorted({0, len(text), *[c for c in cuts if c <= len(text)]})
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    hits = [(text.find(s), s) for s in stops if s in text]
    if hits:
        at = min(i for i, _ in hits)
        expected = (text[:at], None)
        out, by = run(pieces, stops)
        assert out == expected[0]
        assert by is not None and text.find(by) == at
    else:
        assert run(pieces, stops) == (text, None)
