"""Unit tests for pipelines.lib.ingest: decoding and stated provenance."""

import itertools
from datetime import datetime, timezone

import pytest
from dateutil import parser as date_parser

from pipelines.lib import ingest
from pipelines.lib.ingest import RejectedFile, decode_bytes, doc_id_for, parse_dateline, read_stated_provenance

SAMPLE = "Café “naïve” — 600,000 tons of rice, für Österreich, said the ministry’s spokesman."


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (SAMPLE.encode("utf-8"), SAMPLE, "utf_8"),
        (b"\xef\xbb\xbf" + SAMPLE.encode("utf-8"), SAMPLE, "utf_8_sig"),
        # Windows-1252 is ranked equal to cp1250 by charset-normalizer; the tie-break picks 1252
        (SAMPLE.encode("cp1252"), SAMPLE, "cp1252"),
        ("Россия отправит 600 000 тонн риса в Северную Корею, сообщает агентство.".encode("cp1251"),
         "Россия отправит 600 000 тонн риса в Северную Корею, сообщает агентство.", "cp1251"),
    ],
)
def test_decode_bytes_detects_the_encoding(data, text, encoding):
    decoded = decode_bytes(data)
    assert decoded.text == text
    assert decoded.encoding == encoding


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"  \n\t\n", "empty"),
        (b"\xef\xbb\xbf\xff\xfe broken", "undecodable"),
        (bytes(range(0, 9)) * 50, "binary"),
    ],
)
def test_decode_bytes_rejects_with_a_reason(data, reason):
    with pytest.raises(RejectedFile) as caught:
        decode_bytes(data)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_doc_id_is_derived_from_content():
    assert doc_id_for("ab" * 32) == "ab" * 8


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Oct 25, 2024 21:01 325", datetime(2024, 10, 25, 21, 1)),
        ("6:19 PM EST, November 4, 2024", datetime(2024, 11, 4, 23, 19)),
        ("November 4, 2024", datetime(2024, 11, 4)),
        ("2024-11-04T10:00:00Z", datetime(2024, 11, 4, 10, 0)),
        ("On October 31, US Secretary of State Antony Blinken confirmed it.", None),
        ("Russia backs North Korea with aid, rice, and military ties", None),
    ],
)
def test_parse_dateline(line, expected):
    assert parse_dateline(line) == expected


def _dateutil_stamp(date: str) -> datetime | None:
    """What parse_dateline gave before its fast path: dateutil, zones by TZINFOS, naive UTC."""
    try:
        stamp = date_parser.parse(date, tzinfos=ingest._TZINFOS)
    except (ValueError, OverflowError):
        return None
    return stamp.astimezone(timezone.utc).replace(tzinfo=None) if stamp.tzinfo is not None else stamp


def test_the_usual_dateline_shapes_are_read_as_dateutil_reads_them():
    """The field-by-field reading of the usual shapes gives dateutil's time wherever it answers;
    impossible times, lower-case zones and other shapes are left to dateutil."""
    months = ["Jan", "January", "Feb", "Mar", "Apr", "May", "Jun", "June", "Jul", "Aug", "Sep", "Sept", "Sept.",
              "September", "Oct", "Nov", "December", "JANUARY", "nov"]
    days = ["0", "1", "09", "29", "31", "32"]
    clocks = ["", "0:00", "06:19", "12:30", "23:59", "24:00", "7:60", "0:30 AM", "12:30 AM", "12:30 PM", "6:19PM",
              "13:05 PM", "6:19 pm"]
    zones = ["", "UTC", "EST", "KST", "CEST", "utc"]
    read = compared = 0
    for month, day, year, clock, zone in itertools.product(months, days, ["2023", "2024"], clocks, zones):
        if zone and not clock:
            continue
        date = f"{month} {day}, {year}"
        tail = " ".join(part for part in (clock, zone) if part)
        for text in ([f"{date} {tail}", f"{tail}, {date}"] if tail else [date]):
            compared += 1
            stamp = ingest._simple_stamp(text)
            if stamp is not None:
                read += 1
                assert stamp == _dateutil_stamp(text), text
    assert (compared, read) == (33_060, 10_611)
    # the benchmark corpus's shapes are all read this way
    for text, expected in [("Nov 4, 2024 06:19", datetime(2024, 11, 4, 6, 19)),
                           ("6:19 PM UTC, November 4, 2024", datetime(2024, 11, 4, 18, 19)),
                           ("November 4, 2024", datetime(2024, 11, 4))]:
        assert ingest._simple_stamp(text) == expected
    for left_to_dateutil in ["Feb 30, 2024", "13:05 PM, Jan 1, 2024", "Jan 1, 2024 6:19 utc", "2024-11-04T10:00:00Z"]:
        assert ingest._simple_stamp(left_to_dateutil) is None


@pytest.mark.parametrize(
    ("text", "title", "outlet", "published_at"),
    [
        ("Russia backs North Korea with aid\n6:19 PM EST, November 4, 2024\nBody text here.",
         "Russia backs North Korea with aid", None, datetime(2024, 11, 4, 23, 19)),
        ("Last news in Fakti\n\nHow North Korea is changing the war\n\nOct 25, 2024 21:01 325\nBody.",
         "How North Korea is changing the war", "Fakti", datetime(2024, 10, 25, 21, 1)),
        ("A first line that is a sentence.\nMore.\nA Message from The Moscow Times:\nDear readers,",
         None, "The Moscow Times", None),
    ],
)
def test_read_stated_provenance(text, title, outlet, published_at):
    stated = read_stated_provenance(text)
    assert (stated.title, stated.outlet, stated.published_at) == (title, outlet, published_at)
