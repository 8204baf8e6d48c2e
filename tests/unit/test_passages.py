"""Unit tests for pipelines.lib.passages: offsets and boilerplate marking."""

import json

import polars as pl
import pytest

from pipelines.lib.passages import load_boilerplate_rules, mark_boilerplate, split_passages


def test_split_passages_offsets_slice_the_text():
    text = "  Title line\r\n\nFirst “paragraph” — 600,000 tons.\n   \nSecond one.  \n"
    passages = split_passages(pl.DataFrame({"doc_id": ["d"], "text": [text]}))
    assert passages["text"].to_list() == ["Title line", "First “paragraph” — 600,000 tons.", "Second one."]
    assert passages["ordinal"].to_list() == [1, 2, 3]
    assert passages["passage_id"].to_list() == ["d-p0001", "d-p0002", "d-p0003"]
    for row in passages.iter_rows(named=True):
        assert text[row["char_start"]:row["char_end"]] == row["text"]


def test_split_passages_keeps_documents_apart():
    docs = pl.DataFrame({"doc_id": ["a", "b"], "text": ["one\ntwo", "three"]})
    passages = split_passages(docs)
    assert passages.select("doc_id", "ordinal", "char_start").rows() == [("a", 1, 0), ("a", 2, 4), ("b", 1, 0)]


def _marked(lines: list[str]) -> list[str | None]:
    docs = pl.DataFrame({"doc_id": ["d"], "text": ["\n".join(lines)]})
    return mark_boilerplate(split_passages(docs), load_boilerplate_rules())["boilerplate_reason"].to_list()


def test_related_links_block_ends_at_a_long_paragraph():
    body = " ".join(["word"] * 30) + "."
    lines = ["Body paragraph.", "Related:", "- Link one", "- Link two", body]
    assert _marked(lines) == [None, "related_links", "related_links", "related_links", None]


@pytest.mark.parametrize("n", [0, 1, 3, 25, 200, 201, 1000])
def test_more_words_than_counts_runs_of_non_space_characters(n):
    """The block rules' word limit: a regex that stops at word n + 1 up to `MAX_WORDS_BY_REGEX`,
    a count above it; either way what counting every run of non-space characters says."""
    from pipelines.lib.passages import MAX_WORDS_BY_REGEX, _more_words_than

    assert MAX_WORDS_BY_REGEX == 200
    texts = ["", " ", "a", " a ", "a\u00a0b", "a\tb\nc", "\u3000x\u3000y\u3000", "trailing. "]
    texts += [" ".join(["w"] * k) for k in {n - 1, n, n + 1, n + 2} if k >= 0]
    texts += ["  " + "\u2009".join(["w"] * k) + "  " for k in {n, n + 1} if k >= 0]
    frame = pl.DataFrame({"text": texts})
    expected = [len(text.split()) > n for text in texts]
    assert frame.select(_more_words_than(n)).to_series().to_list() == expected
    assert sum(expected) >= 2 and not all(expected)


def test_donation_appeal_runs_to_the_end():
    lines = ["Body.", "A Message from The Moscow Times:", "Dear readers,", " ".join(["long"] * 60), "Continue"]
    assert _marked(lines) == [None] + ["donation_appeal"] * 4


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Last news in Fakti", "navigation"),
        ("Oct 25, 2024 21:01 325", "dateline"),
        ("6:19 PM EST, November 4, 2024", "dateline"),
        ("How North Korea is changing Russia's war against Ukraine  - 1", "caption"),
        ("FAKTI.BG publishes opinions with a wide range of perspectives to encourage constructive debates.", "disclaimer"),
        ("By Jane Smith", "byline"),
        ("3000 North Korean soldiers in Russia?", None),
        ("Money for soldiers", None),
    ],
)
def test_line_rules(line, reason):
    assert _marked([line]) == [reason]


def test_invalid_rules_file_names_the_path(tmp_path):
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps({"rules": [{"reason": "x", "scope": "line", "pattern": "(unclosed"}]}))
    with pytest.raises(ValueError, match=r"rules\.json: rule 0 \(x\) has an invalid pattern"):
        load_boilerplate_rules(bad)
