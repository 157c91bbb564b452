"""The offline index of the user's folders: passages, BM25, incremental updates, safe reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iisearch_local.search.base import SearchError, VisitRefusedError
from iisearch_local.search.chunking import split_passages
from iisearch_local.search.local_engine import LocalIndexEngine
from iisearch_local.search.local_index import LocalIndex, parse_file_url, query_terms
from searchtest_pdf import make_pdf

FILLER = "Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor. "


def _long_doc() -> str:
    sections = []
    for n in range(1, 9):
        body = FILLER * 15
        if n == 6:
            body += "The lighthouse keeper recorded a giant squid sighting near the harbour."
        sections.append(f"## Section {n}\n\n{body}")
    return "# Sea log\n\n" + "\n\n".join(sections)


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "log.md").write_text(_long_doc())
    (folder / "notes.txt").write_text("Grocery list: apples, pears and quinces for the jam.")
    (folder / "sub" / "page.html").write_text(
        "<html><title>Volcano facts</title><body><p>Mount Etna erupts often.</p>"
        "<script>ignored()</script></body></html>")
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "secret.md").write_text("hidden quinces")
    (folder / "image.png").write_bytes(b"\x89PNG\x00")
    return folder


@pytest.fixture
def index(tmp_path: Path) -> LocalIndex:
    return LocalIndex(tmp_path / "index.sqlite", passage_words=120)


def test_chunking_follows_paragraphs_and_headings() -> None:
    passages = split_passages(_long_doc(), target_words=120)
    assert len(passages) >= 8
    assert [p.ordinal for p in passages] == list(range(1, len(passages) + 1))
    squid = [p for p in passages if "squid" in p.text]
    assert len(squid) == 1 and squid[0].heading == "Section 6"
    assert all(len(p.text.split()) <= 180 for p in passages)
    giant = split_passages("word " * 1000, target_words=100)
    assert len(giant) == 10 and sum(len(p.text.split()) for p in giant) == 1000


def test_search_points_at_the_right_passage(index: LocalIndex, docs: Path) -> None:
    index.add_root(docs)
    report = index.update()
    assert report.added == 3 and not report.failed
    hits = index.search("giant squid lighthouse")
    assert hits and hits[0].path == str(docs / "log.md")
    assert hits[0].heading == "Section 6" and "squid" in hits[0].snippet
    path, ordinal = parse_file_url(hits[0].url)
    assert path == docs / "log.md" and ordinal == hits[0].ordinal > 1
    assert index.search("etna")[0].title == "Volcano facts"
    assert index.search("quinces")[0].path.endswith("notes.txt")  # hidden folder left out
    assert len(index.search("quinces")) == 1
    assert index.search("ignored") == []  # script content is not text


def test_any_word_matches_when_all_words_do_not(index: LocalIndex, docs: Path) -> None:
    index.add_root(docs)
    index.update()
    hits = index.search("apples volcano unicorns")
    assert {Path(h.path).name for h in hits} >= {"notes.txt", "page.html"}


def test_query_terms_drop_stop_words_and_fts_syntax() -> None:
    assert query_terms('What is the "capital" of France? NEAR(x) OR y*') == ["capital", "france", "near", "x", "y"]
    assert query_terms("the of") == ["the", "of"]
    assert query_terms("!!!") == []


def test_fts_syntax_in_queries_is_harmless(index: LocalIndex, docs: Path) -> None:
    index.add_root(docs)
    index.update()
    for query in ('"unbalanced', "a AND OR NOT", "col:umn", "*", "(", "-x", "^y"):
        index.search(query)  # never raises


def test_incremental_update(index: LocalIndex, docs: Path) -> None:
    index.add_root(docs)
    index.update()
    again = index.update()
    assert (again.added, again.changed, again.unchanged, again.removed) == (0, 0, 3, 0)
    notes = docs / "notes.txt"
    stat = notes.stat()
    os.utime(notes, (stat.st_atime, stat.st_mtime + 100))  # touched, same content
    touched = index.update()
    assert touched.unchanged == 3 and touched.passages == 0
    notes.write_text("Grocery list: only bananas now.")
    (docs / "sub" / "page.html").unlink()
    (docs / "new.md").write_text("# New\n\nA note about zeppelins.")
    changed = index.update()
    assert (changed.added, changed.changed, changed.removed) == (1, 1, 1)
    assert index.search("quinces") == [] and index.search("bananas")
    assert index.search("etna") == [] and index.search("zeppelins")
    assert index.search("squid")[0].path.endswith("log.md")  # untouched file still found
    assert index.stats()["files"] == 3


def test_missing_root_keeps_its_files(index: LocalIndex, docs: Path, tmp_path: Path) -> None:
    """An unmounted folder must not wipe its part of the index."""
    index.add_root(docs)
    index.update()
    docs.rename(tmp_path / "elsewhere")
    report = index.update()
    assert report.missing_roots == [str(docs)] and report.removed == 0
    assert index.search("squid")


def test_remove_root(index: LocalIndex, docs: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.md").write_text("otters are playful")
    index.add_root(docs)
    index.add_root(other)
    index.update()
    assert index.remove_root(docs) == 3
    assert index.search("squid") == [] and index.search("otters")
    with pytest.raises(SearchError, match="not an indexed folder"):
        index.remove_root(docs)
    with pytest.raises(SearchError, match="does not exist"):
        index.add_root(tmp_path / "nope")


def test_unreadable_files_are_reported_not_fatal(index: LocalIndex, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")
    (folder / "fine.md").write_text("fine content")
    index.add_root(folder)
    report = index.update()
    assert report.added == 1 and {Path(p).name for p, _ in report.failed} == {"binary.txt", "broken.pdf"}


def test_pdf_files_are_indexed(index: LocalIndex, tmp_path: Path) -> None:
    import pypdf  # noqa: F401  (the pdf extra is part of the test install)
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(make_pdf("Annual turnover of the bakery", title="Bakery report"))
    index.add_root(folder)
    index.update()
    hits = index.search("bakery turnover")
    assert hits and hits[0].title == "Bakery report"


def test_nested_roots_index_a_file_once(index: LocalIndex, docs: Path) -> None:
    index.add_root(docs)
    index.add_root(docs / "sub")
    report = index.update()
    assert report.added == 3 and not report.failed


def test_engine_visit_resolves_passages_and_refuses_other_files(index: LocalIndex, docs: Path) -> None:
    index.add_root(docs)
    index.update()
    engine = LocalIndexEngine(index, page_words=150)
    hit = engine.search("giant squid")[0]
    page = engine.visit(hit.url)
    assert page.title == "Sea log" and "giant squid" in page.text
    assert page.text.startswith("[Passages ")  # long file: starts near the passage
    short = engine.visit((docs / "notes.txt").as_uri())
    assert short.text.startswith("Grocery list")
    with pytest.raises(VisitRefusedError, match="not in your local index"):
        engine.visit("file:///etc/passwd")
    with pytest.raises(VisitRefusedError, match="not in your local index"):
        engine.visit((docs / ".hidden" / "secret.md").as_uri())
    with pytest.raises(VisitRefusedError, match="not a local file URL"):
        engine.visit("file://remote-host/share/x.md")


def test_empty_index_says_how_to_fill_it(index: LocalIndex) -> None:
    with pytest.raises(SearchError, match="iisearch index add"):
        LocalIndexEngine(index).search("anything")


def test_index_is_shared_between_instances(tmp_path: Path, docs: Path) -> None:
    first = LocalIndex(tmp_path / "i.sqlite")
    first.add_root(docs)
    first.update()
    first.close()
    second = LocalIndex(tmp_path / "i.sqlite", extra_roots=[str(tmp_path)])
    assert second.roots() == [str(docs), str(tmp_path.resolve())]
    assert second.search("squid")


def test_a_word_the_passage_lacks_does_not_hide_it(index: LocalIndex, docs: Path) -> None:
    """All words but one: the squid passage still ranks first with an extra unknown word."""
    index.add_root(docs)
    index.update()
    for query in ("giant squid lighthouse xylophone", "giant squid lighthouse apples"):
        hits = index.search(query)
        assert hits[0].path.endswith("log.md") and hits[0].heading == "Section 6", query


def test_unspecific_queries_score_a_bounded_number_of_passages(index: LocalIndex, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With a tiny scoring budget, a word in every file takes the bounded path and still answers."""
    from iisearch_local.search import local_index as module

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"f{i:02d}.md").write_text(f"common word number {i} " + ("filler " * i))
    index.add_root(folder)
    index.update()
    monkeypatch.setattr(module, "SCORING_BUDGET", 5)
    hits = index.search("common", 10)
    assert 1 <= len(hits) <= 10
    assert {Path(h.path).name for h in hits} <= {f"f{i:02d}.md" for i in range(5)}  # first 5 passages
    assert index.search("common number filler", 10)
