"""Property-based tests: no exception escapes on arbitrary input, offsets always slice the text
to what is reported, values are finite."""

import math

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.lib.ingest import RejectedFile, decode_bytes, parse_raw_file
from pipelines.lib.numbers import read_number_expressions
from pipelines.lib.passages import load_boilerplate_rules, mark_boilerplate, split_passages

NEWSY = st.text(
    # lone surrogates cannot come out of the decoder, so they are not input to later stages
    alphabet=st.sampled_from(list("0123456789,.-–$€₩% \n\r\t\u00a0\u200babcmilontusdwrAT“”’"))
    | st.characters(blacklist_categories=("Cs",)),
    max_size=400,
)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.binary(max_size=2_000))
def test_decoder_returns_text_or_a_reason(data):
    try:
        decoded = decode_bytes(data)
    except RejectedFile as err:
        assert err.reason in {"empty", "binary", "undecodable"} and err.detail
    else:
        assert isinstance(decoded.text, str) and decoded.text.strip()


@SETTINGS
@given(st.binary(max_size=2_000), st.sampled_from(["a.txt", "a.md", "a.html", "a.jsonl", "a.bin"]))
def test_every_file_is_parsed_into_documents_or_rejections(data, name):
    parts = parse_raw_file(name, data, max_bytes=1_000)
    assert parts
    for part in parts:
        assert part.source_path.startswith(name)
        assert getattr(part, "text", None) or getattr(part, "reason", None)


@SETTINGS
@given(st.lists(NEWSY, min_size=1, max_size=4))
def test_passage_offsets_slice_the_document(texts):
    docs = pl.DataFrame({"doc_id": [f"d{i}" for i in range(len(texts))], "text": texts})
    passages = mark_boilerplate(split_passages(docs), load_boilerplate_rules())
    by_doc = dict(zip(docs["doc_id"], docs["text"]))
    for row in passages.iter_rows(named=True):
        assert by_doc[row["doc_id"]][row["char_start"]:row["char_end"]] == row["text"]
        assert row["text"]
        assert row["is_boilerplate"] == (row["boilerplate_reason"] is not None)


@SETTINGS
@given(NEWSY)
def test_number_reader_spans_and_values(text):
    for mention in read_number_expressions(text):
        assert 0 <= mention.start < mention.end <= len(text)
        assert text[mention.start:mention.end] == mention.text
        assert math.isfinite(mention.value_low) and math.isfinite(mention.value_high)
        assert mention.value_low <= mention.value_high


@SETTINGS
@given(st.text(alphabet=st.characters(max_codepoint=0x7F) | st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_control_character_count_is_every_c0_control_but_tab_and_line_breaks(text):
    from pipelines.lib.ingest import _CONTROLS_RE

    dropped = {c: None for c in range(32) if chr(c) not in "\t\n\r\f"}
    assert len(_CONTROLS_RE.findall(text)) == len(text) - len(text.translate(dropped))


# ASCII, the characters ftfy's badness regex is made of (mojibake pieces: Ã, â, €, ™, ¦, Greek,
# Cyrillic, box drawing) and other non-ASCII text
_MOJIBAKE_ALPHABET = st.sampled_from(list("aZ ,.\n’“”—€™ÃÂâ¦ªº©®«»¿¡ßàéñæøœšžαωаяЖ│┌▀░µ÷≈№¶§") + ["\u00a0", "\u0080", "\u009d"])


@SETTINGS
@given(st.text(alphabet=_MOJIBAKE_ALPHABET | st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_mojibake_test_near_non_ascii_characters_equals_ftfys(text):
    import ftfy
    from ftfy.badness import is_bad

    from pipelines.lib.ingest import _badness_width, _repair_mojibake, looks_mojibaked

    assert _badness_width() is not None  # the shortcut is in use with this ftfy
    assert looks_mojibaked(text) == is_bad(text)
    assert _repair_mojibake(text) == ftfy.fix_encoding(text)
