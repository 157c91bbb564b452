"""What the model reads: the trained shapes of search results and pages."""

from __future__ import annotations

from iisearch_local.search.base import Page, SearchHit
from iisearch_local.search.format import cut_words, format_failure, format_hits, format_page, strip_links


def _hit(i: int, **kw) -> SearchHit:
    return SearchHit(url=f"https://example.org/{i}", title=f"Title {i}", snippet=f"Snippet {i}", **kw)


def test_hits_are_numbered_blocks_of_four_lines() -> None:
    text = format_hits([_hit(1), _hit(2)])
    assert text == ("Index: 1\nURL: https://example.org/1\nTitle: Title 1\nPreview: Snippet 1\n\n"
                    "Index: 2\nURL: https://example.org/2\nTitle: Title 2\nPreview: Snippet 2")


def test_engine_line_and_fallback_note_come_first() -> None:
    text = format_hits([_hit(1)], engine="brave", note="(Fell back to brave: duckduckgo: rate limited.)")
    lines = text.splitlines()
    assert lines[0].startswith("(Fell back to brave")
    assert lines[1] == "Search engine: brave"
    assert lines[3] == "Index: 1"


def test_preview_is_one_line_without_links_and_shows_the_date() -> None:
    hit = SearchHit(url="https://a.b", title="T\nx", snippet="see [the docs](https://d.e/f)\nnext line",
                    date="2024-05-01")
    text = format_hits([hit])
    assert "Preview: 2024-05-01 - see the docs next line" in text
    assert "Title: T x" in text


def test_no_hits_gives_an_actionable_line() -> None:
    assert "No results found for 'zzz'" in format_hits([], query="zzz")


def test_strip_links_keeps_link_text_and_drops_targets() -> None:
    text = "A [link](http://x.y/a_(b)) and ![img](i.png) [ref][1] <https://auto.link> http://bare.url/x end\n[1]: http://ref.target"
    out = strip_links(text)
    assert "link" in out and "ref" in out and "end" in out
    for gone in ("http", "img", "i.png", "auto.link", "ref.target"):
        assert gone not in out


def test_cut_words_keeps_layout_and_reports_the_cut() -> None:
    text = "one two\n\nthree  four five"
    assert cut_words(text, 3) == ("one two\n\nthree", True)
    assert cut_words(text, 5) == (text, False)
    assert cut_words(text, 50) == (text, False)


def test_page_has_title_first_and_is_cut_to_the_word_budget() -> None:
    page = Page(url="https://e.org/p", title="The title", text=" ".join(f"w{i}" for i in range(100)),
                date="2020-01-02")
    text = format_page(page, max_words=10)
    lines = text.splitlines()
    assert lines[0] == "Title: The title"
    assert lines[1] == "URL: https://e.org/p"
    assert lines[2] == "Date: 2020-01-02"
    assert "w9" in text and "w10" not in text
    assert text.endswith("[Page cut at 10 words.]")


def test_page_without_text_says_so_and_marks_download_truncation() -> None:
    text = format_page(Page(url="u", title="", text="   ", truncated=True))
    assert "(untitled)" in text and "no readable text" in text and "download limit" in text


def test_failure_is_one_short_line() -> None:
    line = format_failure("Visit", "https://x.y", "timed out after 3 s. " + "x" * 2000)
    assert line.startswith("Visit failed for https://x.y: timed out after 3 s")
    assert "\n" not in line and len(line) < 700
