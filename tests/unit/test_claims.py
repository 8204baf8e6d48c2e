"""Unit tests for pipelines.lib.claims: claim rows, attribution, taxonomy and alias files, and the gold seeds."""

import hashlib
import json
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.lib.claims import (
    _LOWER_APART,
    CLAIMS_SCHEMA,
    QUALIFIER_RE,
    _qualifier_match,
    extract_claims,
    load_aliases,
    load_taxonomy,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GOLD_PATH = PROJECT_ROOT / "tests" / "data" / "claims_gold_seeds.jsonl"
RAW_DIR = PROJECT_ROOT / "raw"
FIELDS = ("quote", "value_low", "value_high", "unit", "qualifier", "period", "measure", "attributed_to")


@pytest.fixture(scope="module")
def taxonomy():
    return load_taxonomy()


@pytest.fixture(scope="module")
def aliases():
    return load_aliases()


def _passages(*texts: str, doc_id: str = "d", boilerplate: tuple[int, ...] = ()) -> pl.DataFrame:
    """One document whose passages are `texts`, joined by newlines, with their offsets."""
    rows, start = [], 0
    for i, text in enumerate(texts):
        rows.append(
            {"passage_id": f"{doc_id}-p{i + 1:04d}", "doc_id": doc_id, "ordinal": i + 1, "char_start": start,
             "text": text, "is_boilerplate": i in boilerplate}
        )
        start += len(text) + 1
    return pl.DataFrame(rows, schema={"passage_id": pl.Utf8, "doc_id": pl.Utf8, "ordinal": pl.Int32,
                                      "char_start": pl.Int32, "text": pl.Utf8, "is_boilerplate": pl.Boolean})


def _rows(frame: pl.DataFrame) -> list[tuple]:
    return frame.select(FIELDS).rows()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "According to the NIS, the country receives approximately $2,000 per month.",
            [("$2,000", 2000.0, 2000.0, "USD", "approx", "month", "pay_per_soldier", "NIS")],
        ),
        (
            "It is estimated that North Korea has dispatched at least 10,000 soldiers to Ukraine, resulting in "
            "annual revenue generation of over $200 million.",
            [
                ("10,000 soldiers", 10000.0, 10000.0, "person", "at_least", None, "troops_deployed", None),
                ("$200 million", 2e8, 2e8, "USD", "more_than", "year", "revenue", None),
            ],
        ),
        (
            "Legislative sources indicate that North Korea’s production of four million tons of grains annually "
            "falls short, yielding about one million tons less than necessary.",
            [
                ("four million tons", 4e6, 4e6, "metric_ton", "exact", "year", "grain_production", None),
                ("one million tons", 1e6, 1e6, "metric_ton", "approx", None, "grain_shortfall", None),
            ],
        ),
        (
            "Current intelligence estimates indicate that North Korea has sent around 12,000 soldiers to Russia, "
            "including approximately 500 officers and three generals.",
            [
                ("12,000 soldiers", 12000.0, 12000.0, "person", "approx", None, "troops_deployed", None),
                ("500 officers", 500.0, 500.0, "person", "approx", None, "officers", None),
                ("three generals", 3.0, 3.0, "person", "exact", None, "generals", None),
            ],
        ),
        (
            "On October 31, US Secretary of State Antony Blinken confirmed that about 8,000 North Korean soldiers "
            "have already been deployed in Kursk.",
            [("8,000 North Korean soldiers", 8000.0, 8000.0, "person", "approx", None, "troops_deployed", "Antony Blinken")],
        ),
        (
            "Russia will pay North Korea over $200 million a year for the 10,000 soldiers and send up to 700,000 "
            "metric tons of rice, Wi said, citing the National Intelligence Service’s (NIS) briefing.",
            [
                ("$200 million", 2e8, 2e8, "USD", "more_than", "year", "revenue", "Wi Sung-lac"),
                ("10,000 soldiers", 10000.0, 10000.0, "person", "exact", None, "troops_deployed", "Wi Sung-lac"),
                ("700,000 metric tons", 7e5, 7e5, "metric_ton", "up_to", None, "food_aid", "Wi Sung-lac"),
            ],
        ),
        (
            "The NIS estimates that they typically earn $800 a month.",
            [("$800", 800.0, 800.0, "USD", "exact", "month", "worker_wages", "NIS")],
        ),
        (
            "North Korea has sent not only about 10,000 soldiers but also nearly 20,000 containers, which may "
            "contain over 9 million 6-inch caliber shells.",
            [
                ("10,000 soldiers", 10000.0, 10000.0, "person", "approx", None, "troops_deployed", None),
                ("20,000 containers", 20000.0, 20000.0, "container", "approx", None, "containers", None),
                ("9 million 6-inch caliber shells", 9e6, 9e6, "shell", "more_than", None, "munitions", None),
            ],
        ),
        (
            "Now, however, South Korean intelligence has announced that Pyongyang wants to provide up to 12,000 "
            "troops, of which 3,000 have already arrived.",
            [
                ("12,000 troops", 12000.0, 12000.0, "person", "up_to", None, "troops_deployed", "South Korean intelligence"),
                ("3,000", 3000.0, 3000.0, "person", "exact", None, "troops_deployed", "South Korean intelligence"),
            ],
        ),
        (
            "In return, North Korea wants money. \"Contract soldiers in the Russian army receive $2,000 a month plus "
            "a one-time bonus that can reach up to $20,000. Pyongyang would be happy with half,'' says Lankov.",
            [
                ("$2,000", 2000.0, 2000.0, "USD", "exact", "month", "pay_per_soldier", "Andrei Lankov"),
                ("$20,000", 20000.0, 20000.0, "USD", "up_to", "one_time", "bonus", "Andrei Lankov"),
            ],
        ),
        (
            "At the same time, Lange warns: \"One should not conclude that 12,000 North Korean soldiers are fighting.",
            [("12,000 North Korean soldiers", 12000.0, 12000.0, "person", "exact", None, "troops_deployed", "Niko Lange")],
        ),
        (
            "Russian assistance includes annual payments of $200 million, according to the South Korean daily "
            "\"The Korean Herald\".",
            [("$200 million", 2e8, 2e8, "USD", "exact", "year", "revenue", "The Korea Herald")],
        ),
        (
            "If Pyongyang sends at least 10,000 military personnel, as estimated by intelligence in Seoul, this "
            "amounts to $200 million.",
            [
                ("10,000 military personnel", 10000.0, 10000.0, "person", "at_least", None, "troops_deployed", "South Korean intelligence"),
                ("$200 million", 2e8, 2e8, "USD", "exact", None, "revenue", "South Korean intelligence"),
            ],
        ),
        (
            "The United States said last week that 10,000 North Korean soldiers were training in Russia.",
            [("10,000 North Korean soldiers", 10000.0, 10000.0, "person", "exact", None, "troops_deployed", "United States")],
        ),
        (
            "Ukraine said more than 3,000 were wounded and 1,200 killed, a figure of roughly 5% of the force.",
            [
                ("3,000", 3000.0, 3000.0, "count", "more_than", None, "other", "Ukraine"),
                ("1,200 killed", 1200.0, 1200.0, "person", "exact", None, "casualties", "Ukraine"),
                ("5%", 5.0, 5.0, "percent", "approx", None, "other", "Ukraine"),
            ],
        ),
    ],
)
def test_claims_of_a_passage(text, expected, taxonomy, aliases):
    assert _rows(extract_claims(_passages(text), taxonomy, aliases)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # qualifiers: "near", "as little as" (a floor), verbs of passing a mark
        ("She said inflation would settle near 2% next year.", [("2%", "approx", None)]),
        ("North Korean soldiers receive as little as $200 a month.", [("$200", "at_least", "month")]),
        ("Casualties have passed 4,000 soldiers.", [("4,000 soldiers", "more_than", None)]),
        # "over" before a duration spans it; before a count it bounds it
        ("Samsung will invest ₩360 trillion over 20 years.", [("₩360 trillion", "exact", None), ("20 years", "exact", None)]),
        ("Over 20,000 containers and over 3 years of supplies.", [("20,000 containers", "more_than", None), ("3 years", "exact", None)]),
        # periods after a per-head phrase or a verb
        ("Soldiers are offered $1,200–$2,400 per person per month.", [("$1,200–$2,400", "exact", "month")]),
        ("Microsoft's report says 600 million cyberattacks happen per day.", [("600 million cyberattacks", "exact", "day")]),
        ("The company will pay a one-off dividend of €2.50 per share.", [("€2.50", "exact", "one_time")]),
    ],
)
def test_qualifier_and_period_cues(text, expected, taxonomy, aliases):
    claims = extract_claims(_passages(text), taxonomy, aliases)
    assert claims.select("quote", "qualifier", "period").rows() == expected


@pytest.mark.parametrize(
    ("texts", "source"),
    [
        (("The IMF expects global growth of 3.2% this year.",), "IMF"),
        (("Microsoft's report says 600 million cyberattacks happen per day.",), "Microsoft"),
        (("The Bank of Korea's report shows exports grew 7.1% in October.",), "Bank of Korea"),
        (("Acme Corp's report shows exports grew 7.1% in October.",), "Acme Corp"),  # possessive dropped from a name
        (("Hospitals reported 2,500 new cases a week.",), None),  # a generic plural is no source
        (("Ukraine's military intelligence said some 3,000 troops had been killed.",), "HUR"),
        (("Roughly 100 soldiers died in December, Ukraine's military said.",), "Ukraine"),
        (("Officials in Seoul say North Korea received 1 million barrels of oil.",), "South Korea"),
        (("According to information from Seoul, North Korea has sent 10,000 soldiers.",), None),  # the city is no source
        (("Christine Lagarde spoke in Frankfurt. She said inflation would settle near 2%.",), "Christine Lagarde"),
        (("South Korea’s spy agency said 500 soldiers arrived.",), "NIS"),  # curly apostrophe, longest alias wins
        # case-insensitive cues match "ı"/"İ" as "i" and "ſ" as "s", which lower() keeps apart
        (("Exports reached $5 billion, ACCORDıNG to the IMF.",), "IMF"),
        (("Exports reached $5 billion, cİting the IMF.",), "IMF"),
        (("Exports reached $5 billion, aſ reported by the IMF.",), "IMF"),
    ],
)
def test_attribution_cues(texts, source, taxonomy, aliases):
    assert extract_claims(_passages(*texts), taxonomy, aliases)["attributed_to"].to_list() == [source]


def test_lowered_text_holds_every_case_insensitive_match_of_an_ascii_word():
    """The cue guards test `word in segment.lower()`; that is sound only if every character that
    IGNORECASE matches to an ASCII letter lowers to that letter or is one the guard checks for."""
    letter = re.compile(r"[a-z]", re.IGNORECASE)
    for code in range(0x110000):
        ch = chr(code)
        if letter.fullmatch(ch) and ch not in _LOWER_APART:
            assert re.fullmatch(ch.lower(), ch, re.IGNORECASE) and ch.lower().isascii(), repr(ch)


@pytest.mark.parametrize(
    "text",
    [
        "In June, the leaders of the two countries agreed on mutual support.",  # names, does not count
        "It would undermine one of the main pillars of the structure.",  # counts nothing
        "Citizens working abroad earn only several dozen dollars a month.",  # vague quantity
        "Thousands of soldiers, over half of the army, were sent.",
        "Wi, ambassador to Russia between 2011 and 2015, spoke on October 31 at 6:19 PM.",
        "For the first time, the seventh brigade joined a one-time exercise.",
    ],
)
def test_not_claims(text, taxonomy, aliases):
    assert extract_claims(_passages(text), taxonomy, aliases).height == 0


def test_pronoun_resolves_to_latest_person_in_earlier_passages(taxonomy, aliases):
    passages = _passages(
        "Andrei Lankov spoke first.",
        "Rep. Wi Sung-lac, who was Seoul’s ambassador to Russia, told The Korea Herald it is a good deal.",
        "He said each soldier would be paid a monthly wage of around $2,000.",
    )
    shuffled = passages.sort("ordinal", descending=True)
    claims = extract_claims(shuffled, taxonomy, aliases)
    assert claims.select("quote", "attributed_to").rows() == [("$2,000", "Wi Sung-lac")]


def test_boilerplate_yields_no_claims_and_names_no_speaker(taxonomy, aliases):
    passages = _passages("Andrei Lankov writes for us.", "He said 500 soldiers arrived.", "Support us from just $2.", boilerplate=(0, 2))
    claims = extract_claims(passages, taxonomy, aliases)
    assert claims.select("quote", "attributed_to").rows() == [("500 soldiers", None)]


def test_no_attribution_is_guessed(taxonomy, aliases):
    claims = extract_claims(_passages("Russia has proposed to supply between 600,000 and 700,000 tons of rice."), taxonomy, aliases)
    assert claims.select("quote", "measure", "attributed_to").rows() == [("between 600,000 and 700,000 tons", "food_aid", None)]


@pytest.mark.parametrize(
    ("text", "source"),
    [
        ("Wi Sunglac said 500 soldiers arrived.", "Wi Sung-lac"),
        ("wi sung lak said 500 soldiers arrived.", "Wi Sung-lac"),
        ("Wi Sung-rak said 500 soldiers arrived.", "Wi Sung-lac"),  # close variant, by rapidfuzz
        ("Representative Wi Sung-lac said 500 soldiers arrived.", "Wi Sung-lac"),
        ("South Korea’s spy agency said 500 soldiers arrived.", "NIS"),
        ("According to South Korea's National Intelligence Service, 500 soldiers arrived.", "NIS"),
        ("South Korean intelligence says 500 soldiers arrived.", "South Korean intelligence"),
        ("Let us count: 500 soldiers arrived, officials told us.", None),  # "us" is not the United States
    ],
)
def test_alias_matching_is_tolerant(text, source, taxonomy, aliases):
    assert extract_claims(_passages(text), taxonomy, aliases)["attributed_to"].to_list() == [source]


def test_offsets_ids_schema_and_order(taxonomy, aliases):
    first = _passages("Intro line.", "About 8,000 soldiers arrived.", doc_id="b")
    second = _passages("Some 500 officers left.", doc_id="a")
    claims = extract_claims(pl.concat([first, second]), taxonomy, aliases)
    assert claims.schema == pl.Schema(CLAIMS_SCHEMA)
    assert claims.select("doc_id", "passage_id", "char_start", "char_end", "quote").rows() == [
        ("a", "a-p0001", 5, 17, "500 officers"),
        ("b", "b-p0002", 18, 32, "8,000 soldiers"),
    ]
    assert claims.select("sentence_start", "sentence_end", "sentence").rows() == [
        (0, 23, "Some 500 officers left."),
        (12, 41, "About 8,000 soldiers arrived."),
    ]
    assert claims["claim_id"].to_list() == [
        hashlib.sha256(b"a-p0001:5:17").hexdigest()[:16],
        hashlib.sha256(b"b-p0002:6:20").hexdigest()[:16],
    ]
    assert claims["subject"].to_list() == ["North Korean officers", "North Korean troops in Russia"]


def test_empty_input_gives_empty_frame_with_schema(taxonomy, aliases):
    claims = extract_claims(_passages().clear(), taxonomy, aliases)
    assert claims.height == 0
    assert claims.schema == pl.Schema(CLAIMS_SCHEMA)


def test_missing_columns_are_refused(taxonomy, aliases):
    with pytest.raises(ValueError, match="is_boilerplate"):
        extract_claims(_passages("10 soldiers").drop("is_boilerplate"), taxonomy, aliases)


def test_taxonomy_is_data(tmp_path, aliases):
    path = tmp_path / "taxonomy.json"
    path.write_text(json.dumps({
        "fallback": "other",
        "measures": [{"measure": "drone_attacks", "subject": "Russia", "rules": [{"units": ["drone"]}]}],
    }))
    claims = extract_claims(_passages("Russia launched 120 drones overnight."), load_taxonomy(path), aliases)
    assert claims.select("quote", "measure", "subject").rows() == [("120 drones", "drone_attacks", "Russia")]


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        ("{not json", "cannot read JSON"),
        ('{"measures": []}', "fallback"),
        ('{"fallback": "other", "measures": [{"measure": "x", "rules": []}]}', "non-empty `rules`"),
        ('{"fallback": "other", "measures": [{"measure": "x", "rules": [{"periods": ["fortnight"]}]}]}', "periods"),
        ('{"fallback": "other", "measures": [{"measure": "x", "rules": [{"keywords": ["a"], "scope": "page"}]}]}', "scope"),
        ('{"fallback": "other", "measures": [{"measure": "x", "rules": [{"scope": "quote"}]}]}', "no condition"),
        ('{"fallback": "other", "measures": [{"measure": "Bad Name", "rules": [{"units": ["x"]}]}]}', "snake_case"),
    ],
)
def test_invalid_taxonomy_names_path_and_fault(tmp_path, content, fault):
    path = tmp_path / "taxonomy.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=fault) as err:
        load_taxonomy(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        ("[]", "top level"),
        ('{"sources": []}', "`sources`"),
        ('{"sources": [{"canonical": "A", "kind": "alien", "variants": ["A"]}]}', "kind"),
        ('{"sources": [{"canonical": "A", "kind": "person", "variants": []}]}', "variants"),
        ('{"sources": [{"canonical": "A", "kind": "person", "variants": ["Al"]},'
         ' {"canonical": "B", "kind": "person", "variants": ["al"]}]}', "belongs to both"),
    ],
)
def test_invalid_aliases_name_path_and_fault(tmp_path, content, fault):
    path = tmp_path / "aliases.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=fault) as err:
        load_aliases(path)
    assert str(path) in str(err.value)


def test_default_files_load():
    taxonomy, aliases = load_taxonomy(), load_aliases()
    assert [m.measure for m in taxonomy.measures][:3] == ["bonus", "worker_wages", "pay_per_soldier"]
    assert taxonomy.fallback == "other"
    assert {s.canonical for s in aliases.sources} >= {"Wi Sung-lac", "NIS", "INSS", "United States", "The Korea Herald"}


def _seed_passages() -> tuple[dict[str, str], pl.DataFrame]:
    """The raw seeds as one passage per non-blank line; boilerplate as the gold file leaves it unlabelled."""
    texts, rows = {}, []
    for path in sorted(RAW_DIR.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        texts[path.name] = text
        offset, ordinal, in_block = 0, 0, False
        for line in text.split("\n"):
            start, offset = offset, offset + len(line) + 1
            stripped = line.strip()
            if not stripped:
                continue
            ordinal += 1
            in_block = in_block or stripped.startswith("A Message from") or stripped in {"Related:", "Related Sources:"}
            # 004 opens with navigation, a standfirst, a dateline ("... 21:01 325") and a caption.
            is_front_matter = path.name.startswith("004") and ordinal <= 5 and ordinal != 2
            rows.append({"passage_id": f"{path.stem}-{ordinal}", "doc_id": path.name, "ordinal": ordinal,
                         "char_start": start + len(line) - len(line.lstrip()), "text": stripped,
                         "is_boilerplate": in_block or is_front_matter})
    return texts, pl.DataFrame(rows)


def test_seed_articles_match_the_gold_file(taxonomy, aliases):
    texts, passages = _seed_passages()
    gold = []
    for line in GOLD_PATH.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        start = -1
        for _ in range(item.get("occurrence", 0) + 1):
            start = texts[item["file"]].index(item["quote"], start + 1)
        gold.append((item["file"], start, start + len(item["quote"]),
                     *(item[f] for f in ("value_low", "value_high", "unit", "qualifier", "period", "measure", "attributed_to"))))
    claims = extract_claims(passages, taxonomy, aliases)
    for row in claims.iter_rows(named=True):
        assert texts[row["doc_id"]][row["char_start"]:row["char_end"]] == row["quote"]
    predicted = claims.select(
        "doc_id", "char_start", "char_end", "value_low", "value_high", "unit", "qualifier", "period", "measure", "attributed_to"
    ).rows()
    assert sorted(predicted) == sorted(gold)


def test_extraction_in_worker_processes_gives_the_same_rows(taxonomy, aliases):
    from pipelines.lib.claims import extract_claims_in_processes
    from pipelines.lib.ingest import parse_raw_file
    from pipelines.lib.passages import load_boilerplate_rules, mark_boilerplate, split_passages

    documents = [
        (part.content_sha256[:16], part.text)
        for path in sorted(RAW_DIR.glob("*.txt"))
        for part in parse_raw_file(path.name, path.read_bytes(), 50_000_000)
    ]
    passages = mark_boilerplate(
        split_passages(pl.DataFrame(documents, schema=["doc_id", "text"], orient="row")), load_boilerplate_rules()
    )
    # a pronoun resolved across passages stays resolved when documents are shared out
    extra = _passages("Wi Sung-lac spoke on Monday.", "He said 3,000 troops left.", doc_id="zz")
    passages = pl.concat([passages.select(extra.columns).cast(extra.schema), extra])
    expected = extract_claims(passages, taxonomy, aliases)
    assert expected.height > 30 and "Wi Sung-lac" in expected["attributed_to"].to_list()
    assert extract_claims_in_processes(passages, taxonomy, aliases, workers=2, min_passages=0).equals(expected)
    # passages already in doc_id order are cut into slices at document boundaries, not sorted
    ordered = passages.sort("doc_id", "ordinal")
    assert extract_claims_in_processes(ordered, taxonomy, aliases, workers=2, min_passages=0).equals(expected)
    # under the threshold, or with one worker, the batch is extracted in process
    assert extract_claims_in_processes(passages, taxonomy, aliases, workers=1, min_passages=0).equals(expected)


def test_a_worker_reading_texts_does_not_import_duckdb():
    # A spawned worker imports this module to read texts; DuckDB (0.16 s of its start) is
    # imported only where claim ids are hashed, in the process that gathers the rows.
    import subprocess
    import sys

    probe = "import sys, pipelines.lib.claims; print('duckdb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "False"


def _passages_of_files(paths) -> pl.DataFrame:
    from pipelines.lib.ingest import parse_raw_file
    from pipelines.lib.passages import load_boilerplate_rules, mark_boilerplate, split_passages

    documents = [
        (part.content_sha256[:16], part.text)
        for path in paths
        for part in parse_raw_file(path.name, path.read_bytes(), 50_000_000)
    ]
    return mark_boilerplate(
        split_passages(pl.DataFrame(documents, schema=["doc_id", "text"], orient="row")), load_boilerplate_rules()
    )


def _read_in_documents(passages: pl.DataFrame, taxonomy, aliases) -> pl.DataFrame:
    """Every body passage read in its document, in order: what `extract_claims` must equal."""
    from pipelines.lib.claims import _body_passages, _claim_rows, _rows_in_documents

    body = _body_passages(passages).sort("doc_id", "ordinal").with_columns(needs_document=True)
    return _claim_rows(_rows_in_documents(body, taxonomy, aliases))


def test_a_text_read_once_gives_every_copy_the_rows_of_reading_it_in_its_document(taxonomy, aliases, tmp_path):
    from benchmarks.corpus import write_corpus

    write_corpus(tmp_path, 300, seed=11)
    passages = pl.concat([
        _passages_of_files(sorted(RAW_DIR.glob("*.txt"))),
        _passages_of_files(sorted((tmp_path / "raw").rglob("*.txt"))),
    ])
    body = passages.filter(~pl.col("is_boilerplate"))
    assert body["text"].n_unique() < 0.7 * body.height  # reprints repeat most passages word for word
    expected = _read_in_documents(passages, taxonomy, aliases)
    assert expected.height > 1_000
    claims = extract_claims(passages, taxonomy, aliases)
    assert claims.equals(expected)
    # the offsets are the document's: its passages' texts at them are the quotes and sentences
    passage_texts = passages.select("passage_id", passage_start="char_start", text="text")
    cut = claims.join(passage_texts, on="passage_id", maintain_order="left").select(
        quote=pl.col("text").str.slice(pl.col("char_start") - pl.col("passage_start"), pl.col("char_end") - pl.col("char_start")),
        sentence=pl.col("text").str.slice(
            pl.col("sentence_start") - pl.col("passage_start"), pl.col("sentence_end") - pl.col("sentence_start")
        ),
    )
    assert cut.equals(claims.select("quote", "sentence"))


def test_a_pronoun_in_a_repeated_text_is_resolved_in_each_document(taxonomy, aliases):
    from pipelines.lib.claims import text_claims

    said = "He said 3,000 troops left and 500 soldiers arrived."
    plain = "The navy received 2,000 tons of rice."
    passages = pl.concat([
        _passages("Wi Sung-lac spoke on Monday.", said, plain, doc_id="a"),
        _passages("Andrei Lankov spoke on Monday.", "Christine Lagarde was there.", said, plain, doc_id="b"),
        _passages(said, plain, doc_id="c"),  # nobody named before: no speaker
    ])
    found, needs_document = text_claims(pl.Series([plain, said, "Nothing here."]), taxonomy, aliases)
    assert needs_document == [1]
    assert found.select("text_index", "quote", "attributed_to").rows() == [(0, "2,000 tons", None)]
    claims = extract_claims(passages, taxonomy, aliases)
    assert claims.select("doc_id", "quote", "attributed_to").rows() == [
        ("a", "3,000 troops", "Wi Sung-lac"), ("a", "500 soldiers", "Wi Sung-lac"), ("a", "2,000 tons", None),
        ("b", "3,000 troops", "Christine Lagarde"), ("b", "500 soldiers", "Christine Lagarde"), ("b", "2,000 tons", None),
        ("c", "3,000 troops", None), ("c", "500 soldiers", None), ("c", "2,000 tons", None),
    ]
    assert claims["claim_id"].n_unique() == 9
    assert claims.equals(_read_in_documents(passages, taxonomy, aliases))


@given(st.lists(st.sampled_from(["about", "No", "less", "than", "in", "excess", "of", "approx.", "well", "over", "x",
                                 "(", "-", " ", "  ", "\n", "\u00a0", "5"]), max_size=10).map("".join))
def test_qualifier_search_from_the_last_words_finds_what_a_full_search_finds(left):
    plain, found = QUALIFIER_RE.search(left), _qualifier_match(left)
    assert (plain.span(), plain.group("q")) == (found.span(), found.group("q")) if plain else found is None


# The passages of `_mentions_for_screening`: (passage_id, doc_id, char_start, text); the
# mentions' quotes and sentences are cut from them (non-ASCII first, so offsets count characters).
SCREENING_PASSAGES = [
    ("p1", "d1", 10, "Über 9,000 troops left. Then 500 more went, and 7 came back."),
    ("p7", "d2", 0, "Some 1,200 tons arrived."),
    ("p9", "d3", 4, "12 died."),
]


def _claims_step_tables(conn, mentions) -> None:
    """The claim and passage tables of the warehouse schema, the mentions in `claim_mentions`
    (stored without their quotes and sentences, as the claims step stores them) and their
    passages in `passages`."""
    from pipelines.defs.extract import MENTION_COLUMNS
    from pipelines.defs.resources import SCHEMA_DIR

    for ddl in ("002_create_passage_tables.sql", "003_create_claim_tables.sql"):
        conn.execute((SCHEMA_DIR / ddl).read_text())
    conn.register("_m", mentions.select(MENTION_COLUMNS))
    conn.execute("insert into claim_mentions by name select * from _m")
    conn.unregister("_m")
    conn.executemany(
        "insert into passages values (?, ?, 0, ?, ?, ?, false, null)",
        [(p, d, start, start + len(text), text) for p, d, start, text in SCREENING_PASSAGES],
    )


def _mentions_for_screening() -> pl.DataFrame:
    """Mentions as `extract_claims` sorts them (doc_id, char_start, char_end): two in d1 start
    together, the one with the larger claim_id first. Quotes and sentences are their passages'
    text at their offsets (document offsets)."""
    rows = [  # claim, passage, quote's and sentence's offsets in the passage
        ("c9", "p1", 5, 10, 0, 23), ("c2", "p1", 5, 17, 0, 23), ("c5", "p1", 29, 32, 24, 60), ("c1", "p7", 5, 15, 0, 24),
        ("c7", "p9", 0, 2, 0, 8),
    ]
    passages = {p: (d, start, text) for p, d, start, text in SCREENING_PASSAGES}
    return pl.DataFrame(
        [
            {"claim_id": c, "doc_id": passages[p][0], "passage_id": p,
             "char_start": passages[p][1] + s, "char_end": passages[p][1] + e,
             "sentence_start": passages[p][1] + ss, "sentence_end": passages[p][1] + se,
             "quote": passages[p][2][s:e], "sentence": passages[p][2][ss:se],
             "value_low": 1.0, "value_high": 2.0, "unit": "person", "qualifier": "exact", "period": None, "measure": "other",
             "subject": None, "attributed_to": None}
            for c, p, s, e, ss, se in rows
        ],
        schema=CLAIMS_SCHEMA,
    )


def test_unscreened_rows_from_the_new_mentions_in_memory_are_the_rows_duckdb_reads(monkeypatch):
    """`_unscreened_claims` joins the run's new mentions to their labels in Polars when the counts
    prove they are the unscreened ones: the rows, order and types of
    select_unscreened_claims.sql, a mention without a label (its document is no longer
    current) left out, two that start together put in claim_id order. Otherwise DuckDB reads them."""
    import duckdb

    from pipelines.defs import extract
    from pipelines.defs.resources import read_frame, sql_file

    mentions = _mentions_for_screening()
    with duckdb.connect() as conn:
        _claims_step_tables(conn, mentions)
        conn.execute(
            "create temp table claim_labels_now as select claim_id, 'k-' || claim_id as cluster_id, claim_id > 'c4' as is_syndicated_copy "
            "from claim_mentions where claim_id <> 'c7'"
        )
        expected = read_frame(conn, sql_file("select_unscreened_claims"))
        assert expected["claim_id"].to_list() == ["c2", "c9", "c5", "c1"]
        joined = extract._joined_to_labels(conn, mentions)
        assert joined.equals(expected) and joined.schema == expected.schema

        used = []
        joined_to_labels = extract._joined_to_labels
        monkeypatch.setattr(extract, "_joined_to_labels", lambda c, m: used.append(m.height) or joined_to_labels(c, m))
        assert extract._unscreened_claims(conn, mentions).equals(expected)
        assert used == [5]
        # a mention of an earlier run left unscreened: the counts do not prove it, DuckDB reads them all
        assert extract._unscreened_claims(conn, mentions.head(4)).equals(expected)
        assert extract._unscreened_claims(conn, None).equals(expected)
        assert used == [5]
