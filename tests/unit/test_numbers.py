"""Unit tests for pipelines.lib.numbers: spans, values, units and what is not a quantity."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.lib.numbers import (
    ATOM_START_RE,
    NOT_NUMBER_RE,
    _atom_scan_text,
    _next_atom_start,
    normalise_unit,
    read_number_expressions,
)


def _quantities(text: str) -> list[tuple[str, float, float, str | None]]:
    return [(m.text, m.value_low, m.value_high, m.unit) for m in read_number_expressions(text) if m.kind == "quantity"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # digits, separators, decimals
        ("600,000 of them", [("600,000", 600000.0, 600000.0, None)]),
        ("a rate of 2.5 points", [("2.5 points", 2.5, 2.5, "point")]),
        ("3000 North Korean soldiers in Russia?", [("3000 North Korean soldiers", 3000.0, 3000.0, "person")]),
        # scale words and abbreviations
        ("well over $200 million.", [("$200 million", 2e8, 2e8, "USD")]),
        ("$1.5bn in aid", [("$1.5bn", 1.5e9, 1.5e9, "USD")]),
        ("over 9 million 6-inch caliber shells.", [("9 million 6-inch caliber shells", 9e6, 9e6, "shell")]),
        ("$5m", [("$5m", 5e6, 5e6, "USD")]),
        # number words
        ("three generals and", [("three generals", 3.0, 3.0, "person")]),
        ("four million tons of grains", [("four million tons", 4e6, 4e6, "metric_ton")]),
        ("a dozen drones hit Kyiv", [("a dozen drones", 12.0, 12.0, "drone")]),
        ("one million tons less", [("one million tons", 1e6, 1e6, "metric_ton")]),
        ("twenty-five people", [("twenty-five people", 25.0, 25.0, "person")]),
        ("one hundred and fifty officers", [("one hundred and fifty officers", 150.0, 150.0, "person")]),
        # currencies: symbols, codes and words
        ("around $2,000, translating", [("$2,000", 2000.0, 2000.0, "USD")]),
        ("₩1,000 and €5 and £3", [("₩1,000", 1000.0, 1000.0, "KRW"), ("€5", 5.0, 5.0, "EUR"), ("£3", 3.0, 3.0, "GBP")]),
        ("5,000 won, 3 rubles", [("5,000 won", 5000.0, 5000.0, "KRW"), ("3 rubles", 3.0, 3.0, "RUB")]),
        ("USD 5 or 10 USD", [("USD 5", 5.0, 5.0, "USD"), ("10 USD", 10.0, 10.0, "USD")]),
        ("two million dollars", [("two million dollars", 2e6, 2e6, "USD")]),
        # negatives and percentages
        ("a change of -3.5% and 5 percent", [("-3.5%", -3.5, -3.5, "percent"), ("5 percent", 5.0, 5.0, "percent")]),
        ("minus 4 per cent", [("minus 4 per cent", -4.0, -4.0, "percent")]),
        # ranges, with distributed scale and unit
        ("600,000 to 700,000 tons of rice", [("600,000 to 700,000 tons", 6e5, 7e5, "metric_ton")]),
        ("600,000-700,000 tons", [("600,000-700,000 tons", 6e5, 7e5, "metric_ton")]),
        ("supply between 600,000 and 700,000 tons", [("between 600,000 and 700,000 tons", 6e5, 7e5, "metric_ton")]),
        ("$1,200–$2,400 a month", [("$1,200–$2,400", 1200.0, 2400.0, "USD")]),
        ("$1-2 billion", [("$1-2 billion", 1e9, 2e9, "USD")]),
        ("5% to 10%", [("5% to 10%", 5.0, 10.0, "percent")]),
        ("1.5 to 2 million barrels", [("1.5 to 2 million barrels", 1.5e6, 2e6, "barrel")]),
        # units: tons, people, time, pint conversions, counted nouns
        ("up to 700,000 metric tons of rice", [("700,000 metric tons", 7e5, 7e5, "metric_ton")]),
        ("500 short tons", [("500 short tons", 453.59237, 453.59237, "metric_ton")]),
        ("20 miles", [("20 miles", 32.18688, 32.18688, "kilometer")]),
        ("40 km of trenches", [("40 km", 40.0, 40.0, "kilometer")]),
        ("2,000 kg", [("2,000 kg", 2000.0, 2000.0, "kilogram")]),
        ("at least 10,000 military personnel, as", [("10,000 military personnel", 10000.0, 10000.0, "person")]),
        ("nearly 20,000 containers, which", [("20,000 containers", 20000.0, 20000.0, "container")]),
        ("for 3 years", [("3 years", 3.0, 3.0, "year")]),
        ("of which 3,000 have already arrived", [("3,000", 3000.0, 3000.0, None)]),
        ("10,000 soldiers to Russia's front", [("10,000 soldiers", 10000.0, 10000.0, "person")]),
        # modifiers that never head the noun, calibres, two-word person nouns, people by role
        ("deployed 3,000 more troops since", [("3,000 more troops", 3000.0, 3000.0, "person")]),
        ("3,000 more than last year", [("3,000", 3000.0, 3000.0, None)]),
        ("an estimated 9 million 152mm shells", [("9 million 152mm shells", 9e6, 9e6, "shell")]),
        ("1,500 North Korean special forces had", [("1,500 North Korean special forces", 1500.0, 1500.0, "person")]),
        ("in front of 78,000 fans.", [("78,000 fans", 78000.0, 78000.0, "person")]),
        ("employs 8,500 staff.", [("8,500 staff", 8500.0, 8500.0, "person")]),
        # named two-word units
        ("by 25 basis points to", [("25 basis points", 25.0, 25.0, "basis_point")]),
        ("rose 0.3 percentage points", [("0.3 percentage points", 0.3, 0.3, "percentage_point")]),
        # "half a" scales a spelled number
        ("Half a million people fled", [("Half a million people", 5e5, 5e5, "person")]),
        # pint conversions added: mg, mm, cm, speeds
        ("no more than 4,000 mg of paracetamol", [("4,000 mg", 0.004, 0.004, "kilogram")]),
        ("150 millimetres of rain", [("150 millimetres", 0.00015, 0.00015, "kilometer")]),
        ("up to 60 cm deep", [("60 cm", 0.0006, 0.0006, "kilometer")]),
        ("up to 130 km/h battered", [("130 km/h", 130.0, 130.0, "kilometer_per_hour")]),
        ("reached 80 mph on", [("80 mph", 128.74752, 128.74752, "kilometer_per_hour")]),
        # a time word after the counted noun dates the sentence; it is not the unit
        ("sold 232 million iPhones last year", [("232 million iPhones", 2.32e8, 2.32e8, "iphone")]),
        # ends of a different kind, and a change "from X to Y", are two values, not a range
        ("fell 3% to $71.20 a barrel", [("3%", 3.0, 3.0, "percent"), ("$71.20", 71.2, 71.2, "USD")]),
        ("Inflation fell from 3.1% to 2.4% in", [("3.1%", 3.1, 3.1, "percent"), ("2.4%", 2.4, 2.4, "percent")]),
        ("cut its rate from 3.5% to 3.25%", [("3.5%", 3.5, 3.5, "percent"), ("3.25%", 3.25, 3.25, "percent")]),
        ("estimates range from 10,000 to 12,000 troops", [("10,000 to 12,000 troops", 1e4, 1.2e4, "person")]),
        ("paid $1,000 to €2,000", [("$1,000", 1000.0, 1000.0, "USD"), ("€2,000", 2000.0, 2000.0, "EUR")]),
        # a capitalised qualifier or weekday is no name: the number after it still counts
        ("About 500 officers left", [("500 officers", 500.0, 500.0, "person")]),
        ("On Tuesday 300 drones hit Kyiv", [("300 drones", 300.0, 300.0, "drone")]),
    ],
)
def test_reads_quantities(text, expected):
    assert _quantities(text) == expected


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("6:19 PM EST, November 4, 2024", [("6:19 PM", "time"), ("4", "date"), ("2024", "year")]),
        ("Oct 25, 2024 21:01", [("25", "date"), ("2024", "year"), ("21:01", "time")]),
        ("On October 31, US Secretary", [("31", "date")]),
        ("31 October", [("31", "date")]),
        ("ambassador between 2011 and 2015", [("2011 and 2015", "year")]),
        ("as early as 2023.", [("2023", "year")]),
        ("2000 soldiers", [("2000 soldiers", "quantity")]),
        ("at 9 a.m. on Monday", [("9 a.m.", "time")]),
        ("The 2023-24 season ended", [("2023-24", "year")]),
        ("The plant closed three years ago.", [("three", "date")]),  # like a date, only the number
        # sport scores: bare integers joined by an unspaced hyphen or dash, with no unit
        ("City won 2-1 on Sunday", [("2-1", "score")]),
        ("the Lakers won 120-115.", [("120-115", "score")]),
        ("won 6-3, 6-4 to", [("6-3", "score"), ("6-4", "score")]),
        ("a 3–2 win", [("3–2", "score")]),
        ("10-12 soldiers", [("10-12 soldiers", "quantity")]),
    ],
)
def test_dates_years_and_times_are_marked(text, kinds):
    assert [(m.text, m.kind) for m in read_number_expressions(text)] == kinds


@pytest.mark.parametrize(
    "text",
    [
        "a one-time bonus",  # a spelled number glued to a word is a modifier
        "the 6-inch gun",
        "the 1st and 2nd brigades",  # ordinals
        "the seventh and first waves",
        "Su-35 jets and the G7 and COVID-19",  # numbers inside names
        "several dozen dollars a month",  # "dozen" needs a multiplicand
        "thousands of soldiers and hundreds of officers",
        "over half of the shortage",
        "a week prior",
        # phone numbers and numeric dates
        "Call +1 202-555-0143 for tickets",
        "call our hotline on 020 7946 0958.",
        "published on 2024-03-12.",
        "released on 12/03/2024 after 9/11",
        "The 24/7 helpline",
        # names and labels
        "NATO's Article 5 has been invoked",
        "Chapter 11 bankruptcy protection",
        "Windows 10 support ends",
        "iOS 18.2 was released",
        "Version 3.12 of Python",
        "The Boeing 737 MAX",
        "a Category 5 storm",
        "Manchester City beat Arsenal 2-1",
        # ratios state no count
        "One in five adults",
        "1 in 10 people",
    ],
)
def test_not_number_expressions(text):
    assert _quantities(text) == []


def test_money_flags_and_scale():
    (mention,) = read_number_expressions("paid $200 million a year")
    assert (mention.is_money, mention.currency, mention.scale, mention.is_range, mention.unit_text) == (
        True, "USD", 1e6, False, "$",
    )


def test_offsets_slice_the_text():
    text = "Russia pays about $2,000 per month for 12,000 soldiers."
    for mention in read_number_expressions(text):
        assert text[mention.start:mention.end] == mention.text


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("tonnes", ("metric_ton", 1.0)),
        ("troops", ("person", 1.0)),
        ("casualties", ("person", 1.0)),
        ("months", ("month", 1.0)),
        ("barrels", ("barrel", 1.0)),
        ("litres", ("liter", 1.0)),
        ("shells", ("shell", 1.0)),
        ("batteries", ("battery", 1.0)),
        ("Koreans", None),  # a capitalised word is a name, not a unit
    ],
)
def test_normalise_unit(written, expected):
    assert normalise_unit(written) == expected


@given(st.text(alphabet="0123456789,.$%-– abcmilontsxyz€₩:", max_size=60))
def test_mentions_are_ordered_non_overlapping_spans(text):
    mentions = read_number_expressions(text)
    previous_end = 0
    for mention in mentions:
        assert previous_end <= mention.start < mention.end <= len(text)
        assert text[mention.start:mention.end] == mention.text
        previous_end = mention.end


# Texts made of the pieces the fast scanners treat specially: signs, digits, number words and
# codes, non-word characters before them, and the letters IGNORECASE equates with ASCII ones.
_SCANNER_TEXTS = st.lists(
    st.sampled_from(["a", "An", "one", "MILLION", "minus", "half", "US$", "usd", "ſix", "Kelvin", "İ", "ı", "x", "_",
                     " ", "\n", ".", ",", "-", "−", "$", "€", "(", ")", "+", "/", "5", "12", "٣", "½"]),
    max_size=12,
).map("".join)


@given(_SCANNER_TEXTS)
def test_atom_start_scan_finds_what_atom_start_finds(text):
    scan_text, scanner = _atom_scan_text(text)
    for pos in range(len(text) + 1):
        plain = ATOM_START_RE.search(text, pos)
        assert _next_atom_start(scan_text, scanner, pos) == (plain.start() if plain else None)


@given(st.text(alphabet="0123456789+()-./ ,a\n", max_size=24))
def test_not_number_pattern_matches_its_plain_form(text):
    plain = re.compile(
        r"(?<![\w.,])(?:\+\d{1,3}(?:[\s.\-]?\(\d{1,4}\))?(?:[\s.\-]?\d{2,4}){2,4}|\(?\d{2,4}\)?(?:[\s.\-]\d{2,4}){1,2}[\s.\-]\d{4}"
        r"|\d{4}-\d{2}-\d{2}|\d{1,4}/\d{1,2}(?:/\d{2,4})?)(?![\w/]|[.,]\d)"
    )
    assert [m.span() for m in NOT_NUMBER_RE.finditer(text)] == [m.span() for m in plain.finditer(text)]
