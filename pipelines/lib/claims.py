"""Claims: turn the number mentions of body-text passages into claim rows with their meaning.

`pipelines.lib.numbers` reads how a number is written; this module decides whether it is a
claim and what it says: the qualifier ("about", "over", "up to"), the period it is a rate per
("a monthly wage", "$200 million a year", "one-time bonus"), the measure (from a taxonomy that
is data, `pipelines/data/taxonomy.json`), and who the text attributes it to (canonical names
from an alias table that is data, `pipelines/data/aliases.json`). Everything here reads text
that is in the passage or, for "he said", earlier in the same document: nothing is guessed.

Decisions that shape the rows (and the gold file `tests/data/claims_gold_seeds.jsonl`):

- The quote is the number expression through its counted noun ("10,000 North Korean soldiers",
  "600,000 to 700,000 tons", "$2,000"), without qualifier words, "of ..." complements or rate
  phrases; see `pipelines.lib.numbers` for the exact rule.
- Not claims: dates, years and clock times; spelled numbers that count nothing ("one of the
  pillars") and small spelled numbers after a determiner, which name rather than count ("the two
  countries"); fractions and vague quantities ("over half", "several dozen dollars", "thousands
  of soldiers"), because they state no number a reader could check or compare. Digits always
  count: "for the 10,000 soldiers" repeats a figure, and a repetition is still a mention.
- Also not claims (see `pipelines.lib.numbers`): sport scores ("won 2-1"), phone numbers,
  numeric dates, names and labels ("Article 5", "Windows 10"), ratios ("one in five") and
  durations that date something ("three years ago"). Signs are kept as written ("-3.5%" is
  -3.5, "fell 3.5%" is 3.5); "rose from 3.1% to 2.4%" is two claims, not a range.
- People counted by role (soldiers, workers, fans, patients, staff, residents...) are `person`.
- Qualifiers also read "near" (approx), "as little as" (at_least: a floor) and verbs of passing
  a mark ("passed", "topped", "exceeded": more_than). "over"/"under" before a duration span it
  ("invest $5bn over 20 years" is exact), they do not bound it.
- A bare number whose noun the text elides ("of which 3,000 have arrived") takes the unit of the
  previous claim in its sentence; with none, its unit is `count`.
- A period is set only by a rate phrase attached to the claim: after it ("$800 a month", "tons
  of rice annually", "$1,200 per person per month", "600 million attacks happen per day") or an adjective in its own clause before it ("a monthly wage of around
  $2,000", "annual payments of $200 million", "one-time bonus that can reach up to $20,000").
- Attribution is by sentence: "according to X", "X said/says/told/estimates/believes/assessed/
  indicated/confirmed/announced...", "..., says X", "as estimated by X", "citing X", "X's report".
  A claim inside a quotation takes the speaker named right after or before the quotation. "He",
  "she", "him" and "her" are the latest person of the alias table named earlier in the document.
  A source outside the alias table is kept as written when it is a proper name (without a
  possessive "'s"), else null; generic plurals ("Hospitals reported") are no source. Variants
  match straight and curly apostrophes alike.
"""

import json
import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from heapq import merge
from pathlib import Path

import polars as pl
from rapidfuzz import fuzz, process

from pipelines.lib.numbers import NumberMention, read_number_expressions
from pipelines.lib.patterns import trie_alternation

__all__ = [
    "CLAIMS_SCHEMA",
    "AliasSource",
    "AliasTable",
    "Measure",
    "MeasureRule",
    "Taxonomy",
    "extract_claims",
    "load_aliases",
    "load_taxonomy",
]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_TAXONOMY_PATH = DATA_DIR / "taxonomy.json"
DEFAULT_ALIASES_PATH = DATA_DIR / "aliases.json"

CLAIMS_SCHEMA = {
    "claim_id": pl.Utf8,
    "doc_id": pl.Utf8,
    "passage_id": pl.Utf8,
    "char_start": pl.Int32,
    "char_end": pl.Int32,
    "sentence_start": pl.Int32,
    "sentence_end": pl.Int32,
    "quote": pl.Utf8,
    "sentence": pl.Utf8,
    "value_low": pl.Float64,
    "value_high": pl.Float64,
    "unit": pl.Utf8,
    "qualifier": pl.Utf8,
    "period": pl.Utf8,
    "measure": pl.Utf8,
    "subject": pl.Utf8,
    "attributed_to": pl.Utf8,
}
PASSAGE_COLUMNS = ("passage_id", "doc_id", "ordinal", "char_start", "text", "is_boilerplate")
PERIODS = ("day", "week", "month", "year", "one_time")
SCOPES = ("quote", "left", "right", "window", "sentence")
ALIAS_KINDS = ("person", "organization", "outlet", "country", "group")


@dataclass(frozen=True)
class MeasureRule:
    """Conditions that must all hold; an absent condition (None) always holds."""

    units: tuple[str, ...] | None
    periods: tuple[str | None, ...] | None
    keywords: tuple[str, ...] | None
    scope: str


@dataclass(frozen=True)
class Measure:
    measure: str
    subject: str | None
    rules: tuple[MeasureRule, ...]


@dataclass(frozen=True)
class Taxonomy:
    """Measures in evaluation order; the first with a matching rule wins, else `fallback`."""

    measures: tuple[Measure, ...]
    fallback: str


@dataclass(frozen=True)
class AliasSource:
    canonical: str
    kind: str
    variants: tuple[str, ...]


@dataclass(frozen=True)
class AliasTable:
    sources: tuple[AliasSource, ...]
    fuzzy_threshold: float


def _read_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{what} {path}: cannot read JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path}: the top level must be an object")
    return data


def _string_tuple(value, where: str, path: Path, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{what} {path}: {where} must be a non-empty list of non-empty strings")
    return tuple(value)


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Read and validate the measure taxonomy; a bad file raises ValueError naming the path and the fault."""
    path = Path(path or DEFAULT_TAXONOMY_PATH)
    data = _read_json(path, "taxonomy")
    fallback = data.get("fallback")
    if not isinstance(fallback, str) or not re.fullmatch(r"[a-z][a-z_]*", fallback):
        raise ValueError(f"taxonomy {path}: `fallback` must be a snake_case measure name")
    entries = data.get("measures")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"taxonomy {path}: `measures` must be a non-empty list")
    measures, seen = [], set()
    for i, entry in enumerate(entries):
        name = entry.get("measure") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z_]*", name):
            raise ValueError(f"taxonomy {path}: measure {i} needs a snake_case `measure` name")
        if name in seen:
            raise ValueError(f"taxonomy {path}: measure {name!r} is listed twice (give it several rules instead)")
        seen.add(name)
        subject = entry.get("subject")
        if subject is not None and not isinstance(subject, str):
            raise ValueError(f"taxonomy {path}: measure {name!r} has a `subject` that is not a string")
        raw_rules = entry.get("rules")
        if not isinstance(raw_rules, list) or not raw_rules:
            raise ValueError(f"taxonomy {path}: measure {name!r} needs a non-empty `rules` list")
        rules = []
        for j, raw in enumerate(raw_rules):
            where = f"measure {name!r} rule {j}"
            if not isinstance(raw, dict):
                raise ValueError(f"taxonomy {path}: {where} must be an object")
            unknown = set(raw) - {"units", "periods", "keywords", "scope"}
            if unknown:
                raise ValueError(f"taxonomy {path}: {where} has unknown keys {sorted(unknown)}")
            if not {"units", "periods", "keywords"} & set(raw):
                raise ValueError(f"taxonomy {path}: {where} states no condition")
            periods = raw.get("periods")
            if periods is not None:
                if not isinstance(periods, list) or not periods or any(p is not None and p not in PERIODS for p in periods):
                    raise ValueError(f"taxonomy {path}: {where} `periods` must list values of {PERIODS} or null")
                periods = tuple(periods)
            scope = raw.get("scope", "window")
            if scope not in SCOPES:
                raise ValueError(f"taxonomy {path}: {where} has scope {scope!r}, not one of {SCOPES}")
            rules.append(
                MeasureRule(
                    units=_string_tuple(raw["units"], f"{where} `units`", path, "taxonomy") if "units" in raw else None,
                    periods=periods,
                    keywords=_string_tuple(raw["keywords"], f"{where} `keywords`", path, "taxonomy") if "keywords" in raw else None,
                    scope=scope,
                )
            )
        measures.append(Measure(measure=name, subject=subject, rules=tuple(rules)))
    return Taxonomy(measures=tuple(measures), fallback=fallback)


def load_aliases(path: Path | str | None = None) -> AliasTable:
    """Read and validate the source alias table; a bad file raises ValueError naming the path and the fault."""
    path = Path(path or DEFAULT_ALIASES_PATH)
    data = _read_json(path, "aliases")
    threshold = data.get("fuzzy_threshold", 90)
    if not isinstance(threshold, (int, float)) or not 50 <= threshold <= 100:
        raise ValueError(f"aliases {path}: `fuzzy_threshold` must be a number from 50 to 100")
    entries = data.get("sources")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"aliases {path}: `sources` must be a non-empty list")
    sources, owner = [], {}
    for i, entry in enumerate(entries):
        canonical = entry.get("canonical") if isinstance(entry, dict) else None
        if not isinstance(canonical, str) or not canonical.strip():
            raise ValueError(f"aliases {path}: source {i} needs a `canonical` name")
        kind = entry.get("kind")
        if kind not in ALIAS_KINDS:
            raise ValueError(f"aliases {path}: source {canonical!r} has kind {kind!r}, not one of {ALIAS_KINDS}")
        variants = _string_tuple(entry.get("variants"), f"source {canonical!r} `variants`", path, "aliases")
        for variant in (canonical, *variants):
            key = _alias_key(variant)
            if owner.setdefault(key, canonical) != canonical:
                raise ValueError(f"aliases {path}: variant {variant!r} belongs to both {owner[key]!r} and {canonical!r}")
        sources.append(AliasSource(canonical=canonical, kind=kind, variants=variants))
    return AliasTable(sources=tuple(sources), fuzzy_threshold=float(threshold))


_NON_WORD_RE = re.compile(r"[^\w]+")


def _alias_key(name: str) -> str:
    """Case-, hyphen- and spacing-blind form of a name: "Wi Sung-lac" and "wi sung lac" share one key."""
    return " ".join(_NON_WORD_RE.sub(" ", name.replace("’", "'").replace("'s ", " ")).lower().split())


def _is_case_sensitive(variant: str) -> bool:
    letters = re.sub(r"[^A-Za-z]", "", variant)
    return len(letters) <= 3 or letters.isupper()


_SEPARATOR, _APOSTROPHE = "\0separator", "\0apostrophe"


def _variant_tokens(variant: str, fold: bool) -> tuple[str, ...]:
    """A variant as trie tokens: its characters, with any run of spaces and hyphens one
    separator token ("Sung-lac", "Sung lac" and "Sunglac" are one name to a reader) and a
    straight or curly apostrophe one apostrophe token."""
    tokens: list[str] = []
    for piece in re.split(r"[\s\-‐]+", variant.strip()):
        if not piece:
            continue
        if tokens:
            tokens.append(_SEPARATOR)
        tokens.extend(_APOSTROPHE if ch in "'’" else (ch.lower() if fold else ch) for ch in piece)
    return tuple(tokens)


def _render_token(token: str) -> str:
    return {_SEPARATOR: r"[\s\-‐]*", _APOSTROPHE: "['’]"}.get(token) or re.escape(token)


@dataclass(frozen=True)
class _AliasMatcher:
    exact: re.Pattern
    folded: re.Pattern
    canonical_by_key: dict
    kind_by_canonical: dict
    fuzzy_keys: tuple[str, ...]


@lru_cache(maxsize=8)
def _alias_matcher(aliases: AliasTable) -> _AliasMatcher:
    """Compile the alias table once per table: one regex for exact-case variants, one for the rest.

    Patterns built from data cannot be module constants; caching on the (frozen, hashable)
    table gives the same compile-once behaviour.
    """
    exact, folded, by_key, kinds = [], [], {}, {}
    for source in aliases.sources:
        kinds[source.canonical] = source.kind
        for variant in (source.canonical, *source.variants):
            by_key[_alias_key(variant)] = source.canonical
            (exact if _is_case_sensitive(variant) else folded).append(variant)

    def alternation(variants: list[str], fold: bool) -> str:
        tokens = {_variant_tokens(v, fold) for v in variants}
        return r"(?<![\w\-])" + trie_alternation(tokens, _render_token) + r"(?![\w])"

    return _AliasMatcher(
        exact=re.compile(alternation(exact, fold=False)),
        folded=re.compile(alternation(folded, fold=True), re.IGNORECASE),
        canonical_by_key=by_key,
        kind_by_canonical=kinds,
        fuzzy_keys=tuple(k for k in by_key if len(k) >= 6),
    )


def _alias_matches(text: str, matcher: _AliasMatcher) -> list[tuple[int, int, str]]:
    """Every alias in `text` as (start, end, canonical), by position."""
    found = []
    for pattern in (matcher.exact, matcher.folded):
        for match in pattern.finditer(text):
            canonical = matcher.canonical_by_key.get(_alias_key(match.group(0)))
            if canonical is not None:
                found.append((match.start(), match.end(), canonical))
    return sorted(found)


def _keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern:
    """Any keyword as a whole word, plural or not. The lookahead for the keywords' first
    characters (under IGNORECASE it matches what their first letters match) makes a position
    no keyword starts at fail before the alternation is tried, which is most of them."""
    alternatives = sorted((r"\s+".join(map(re.escape, k.split())) for k in keywords), key=len, reverse=True)
    first = "".join(sorted({re.escape(k[0]) for k in keywords}))
    return re.compile(rf"\b(?=[{first}])(?:{'|'.join(alternatives)})(?:s|es)?\b", re.IGNORECASE)


@dataclass(frozen=True)
class _ReadyRule:
    """A measure's rule with its keyword pattern compiled, in taxonomy order."""

    measure: str
    subject: str | None
    units: tuple[str, ...] | None
    periods: tuple[str | None, ...] | None
    keywords: re.Pattern | None
    scope: str


def _ready_rules(taxonomy: Taxonomy) -> tuple[_ReadyRule, ...]:
    """Every rule of the taxonomy, flattened in evaluation order, its keywords compiled once per batch."""
    return tuple(
        _ReadyRule(measure.measure, measure.subject, rule.units, rule.periods,
                   None if rule.keywords is None else _keyword_pattern(rule.keywords), rule.scope)
        for measure in taxonomy.measures
        for rule in measure.rules
    )


QUALIFIERS = {
    "well over": "more_than", "just over": "more_than", "more than": "more_than", "over": "more_than",
    "above": "more_than", "in excess of": "more_than", "upwards of": "more_than",
    "at least": "at_least", "no less than": "at_least", "not less than": "at_least", "a minimum of": "at_least",
    "at most": "at_most", "no more than": "at_most", "not more than": "at_most", "a maximum of": "at_most",
    "up to": "up_to", "as many as": "up_to", "as much as": "up_to",
    "less than": "less_than", "fewer than": "less_than", "under": "less_than", "below": "less_than",
    "about": "approx", "around": "approx", "approximately": "approx", "approx.": "approx", "roughly": "approx",
    "nearly": "approx", "almost": "approx", "some": "approx", "close to": "approx", "an estimated": "approx",
    "estimated": "approx", "exactly": "exact", "near": "approx",
    "as little as": "at_least", "as few as": "at_least", "as low as": "at_least",
    "passed": "more_than", "topped": "more_than", "exceeded": "more_than", "surpassed": "more_than",
    "exceeding": "more_than", "topping": "more_than", "surpassing": "more_than",
}
# "over" and "under" before a duration span it ("invest $5bn over 20 years") rather than bound it.
SPAN_QUALIFIERS = frozenset({"over", "under"})
DURATION_UNITS = frozenset({"day", "week", "month", "year", "hour"})
QUALIFIER_RE = re.compile(
    r"(?<![\w-])(?P<q>" + "|".join(re.escape(q).replace(r"\ ", r"\s+") for q in sorted(QUALIFIERS, key=len, reverse=True))
    + r")\s*$",
    re.IGNORECASE,
)
# A QUALIFIER_RE match is a qualifier of at most this many words and whitespace to the end.
QUALIFIER_MAX_WORDS = max(len(q.split()) for q in QUALIFIERS)
TRAILING_QUALIFIER_RE = re.compile(r"\s+(?P<q>or more|or so|or less)\b", re.IGNORECASE)
TRAILING_QUALIFIERS = {"or more": "at_least", "or so": "approx", "or less": "at_most"}

# Between a figure and its rate phrase may come an "of ..." complement, one verb ("happen per
# day") or a per-head phrase ("$1,200 per person per month").
RIGHT_PERIOD_RE = re.compile(
    r"(?:\s+of(?:\s+[a-z][\w\-]*){1,3}?|\s+(?:happen|happens|occur|occurs|arrive|arrives|come|comes))?"
    r"(?:\s+(?:per|a|an|each|for\s+each)\s+(?:person|head|soldier|worker|employee|capita|recruit|man))?"
    r",?\s+(?P<p>(?:a|an|per|each|every)\s+(?P<unit>day|week|month|year|annum)"
    r"|annually|yearly|monthly|weekly|daily|per\s+annum)\b(?!\s+(?:ago|earlier|later|before|after|prior)\b)",
    re.IGNORECASE,
)
LEFT_PERIOD_RE = re.compile(r"\b(?P<p>monthly|annual|yearly|weekly|daily|one-time|one-off|lump-sum|per month|per year)\b", re.IGNORECASE)
PERIOD_WORDS = {
    "day": "day", "daily": "day", "week": "week", "weekly": "week", "month": "month", "monthly": "month",
    "year": "year", "annum": "year", "annually": "year", "yearly": "year", "annual": "year", "per annum": "year",
    "per month": "month", "per year": "year", "one-time": "one_time", "one-off": "one_time", "lump-sum": "one_time",
}
CLAUSE_BREAK_RE = re.compile(r"[,;:()—–]")

DETERMINER_BEFORE_RE = re.compile(r"\b(?:the|these|those|its|their|his|her|our|both|all)\s+$", re.IGNORECASE)

SENTENCE_BREAK_RE = re.compile(r"[.!?]+[\"”’')\]]*(?=\s+[\"“‘'(\-–—]*\s*[A-Z0-9$€£₩])")
ABBREVIATION_RE = re.compile(
    r"(?:\b(?:Rep|Sen|Gen|Lt|Col|Maj|Capt|Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|No|Inc|Corp|Co|vs|etc|approx|Jan|Feb|Mar|Apr"
    r"|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)|\b[A-Z](?:\.[A-Z])*)\.$"
)
QUOTE_MARK_RE = re.compile(r"“|”|„|''|\"")

_VERB_WORDS = (
    r"said|says|say|told|tells|estimates|estimated|estimate|believes|believed|believe|assessed|assesses|assess"
    r"|indicated|indicates|indicate|confirmed|confirms|confirm|announced|announces|announce|reported|reports|report"
    r"|warns|warned|warn|argued|argues|argue|added|adds|claims|claimed|claim|stated|states|noted|notes"
    r"|emphasizes|emphasized|emphasises|emphasised|commented|comments|explained|explains|wrote|writes|predicted|predicts"
    r"|expects|expected|forecasts|forecast|projects|projected|shows|showed"
).split("|")
_VERBS = trie_alternation(_VERB_WORDS)  # one pattern per word, prefixes shared (see patterns.py)
# A source phrase runs to the end of its clause; a dot inside an abbreviation ("U.S.") does not end it.
SOURCE_STOP = r"(?:[^,.;:!?\"“”()]|\.(?=\S))+"
# "according to" may quote the source's name ('the daily "The Korean Herald"').
ACCORDING_RE = re.compile(r"\baccording\s+to\s+(?P<src>(?:[^,.;:!?()]|\.(?=\S))+)", re.IGNORECASE)
AS_BY_RE = re.compile(rf"\bas\s+(?:estimated|reported|assessed|stated|indicated|confirmed|announced)\s+by\s+(?P<src>{SOURCE_STOP})", re.IGNORECASE)
CITING_RE = re.compile(rf"\bciting\s+(?P<src>{SOURCE_STOP})", re.IGNORECASE)
_AUXILIARIES = ("has", "have", "had", "also", "again", "further")
_FIRST_LETTERS = "".join(sorted({word[0] for word in (*_AUXILIARIES, *_VERB_WORDS)}))
# "(?:\bAUX\s+)*\bVERB\b", written with its first "\b" outside the repetition and a lookahead for
# the letters a match can start with: the same matches, but a position inside a word or at a
# word no auxiliary or verb starts like fails at once instead of entering the repetition.
SUBJECT_VERB_RE = re.compile(rf"\b(?=[{_FIRST_LETTERS}])(?:(?:{'|'.join(_AUXILIARIES)})\s+\b)*(?:{_VERBS})\b")
INVERTED_RE = re.compile(
    rf"[,”\"'’]\s*(?:{_VERBS})\s+(?P<src>(?:the\s+)?[A-Z][\w.’'\-]*(?:\s+(?:of\s+)?[A-Z][\w.’'\-]*)*)"
)
POSSESSIVE_RE = re.compile(
    r"(?P<src>\b[A-Z][\w\-]*(?:\s+[A-Z][\w\-]*)*)[’']s\s+(?:\(\w+\)\s+)?(?:latest\s+|recent\s+|new\s+)?"
    r"(?:report|briefing|assessment|estimate|estimates|analysis|data)\b"
)
CLAUSE_START_RE = re.compile(r"(?:[,;:“”\"(—–]|\bthat\b)\s*", re.IGNORECASE)
PRONOUNS = frozenset({"he", "she", "him", "her"})
NOT_NAMES = frozenset(
    "it this that these those they we i you there he she officials experts sources analysts reports current recent"
    " hospitals doctors police authorities researchers scientists economists investors traders residents witnesses"
    " critics observers media companies firms banks governments markets figures data studies surveys polls"
    " statistics estimates subscribers users customers".split()
)
NAME_RE = re.compile(r"[A-Z][\w.’'\-]*(?:\s+(?:of|for|and|de|von)?\s*[A-Z][\w.’'\-]*){0,5}")


@dataclass(frozen=True)
class _Claim:
    mention: NumberMention
    unit: str
    sentence: tuple[int, int]


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a passage, whitespace-trimmed; abbreviations ("Rep.", "U.S.") do not end one."""
    spans, start = [], 0
    for match in SENTENCE_BREAK_RE.finditer(text):
        head = text[max(start, match.start() - 12):match.start() + 1]
        if ABBREVIATION_RE.search(head) and text[match.start()] == "." and match.end() - match.start() == 1:
            continue
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    trimmed = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            trimmed.append((s, e))
    return trimmed


def _quote_spans(text: str) -> list[tuple[int, int]]:
    """Quotation spans (opening mark to closing mark, inclusive); an unclosed quotation runs to the end."""
    spans, opened = [], None
    for match in QUOTE_MARK_RE.finditer(text):
        mark = match.group(0)
        if mark in ("“", "„"):
            opened = match.start() if opened is None else opened
        elif mark == "”" or opened is not None:
            if opened is not None:
                spans.append((opened, match.end()))
            opened = None
        else:
            opened = match.start()
    if opened is not None:
        spans.append((opened, len(text)))
    return spans


class _DocumentContext:
    """What attribution may look back at in one document: the people named so far, in order.

    Passages are scanned for people only when a pronoun first needs them: scanning every
    passage for alias names is a large share of extraction, and most documents never say "he
    said". The passages added so far are scanned in the order they were added, so the people
    found are the same as if each had been scanned when added.
    """

    def __init__(self, matcher: _AliasMatcher, aliases: AliasTable, named: dict[str, tuple[str | None, bool]]):
        self.matcher = matcher
        self.aliases = aliases
        self.named = named  # phrase -> `_named_source` of it, shared by the documents of one batch
        self.person_positions: list[tuple[int, int]] = []
        self.person_names: list[str] = []
        self.unscanned: list[tuple[int, str]] = []

    def add_passage(self, ordinal: int, text: str) -> None:
        self.unscanned.append((ordinal, text))

    def _scan_people(self) -> None:
        for ordinal, text in self.unscanned:
            for start, _end, canonical in _alias_matches(text, self.matcher):
                if self.matcher.kind_by_canonical[canonical] == "person":
                    self.person_positions.append((ordinal, start))
                    self.person_names.append(canonical)
        self.unscanned.clear()

    def latest_person(self, ordinal: int, position: int) -> str | None:
        if self.unscanned:
            self._scan_people()
        index = bisect_left(self.person_positions, (ordinal, position))
        return self.person_names[index - 1] if index else None

    def resolve(self, phrase: str, ordinal: int, position: int) -> str | None:
        """Canonical source for a phrase that names one, or None."""
        if phrase not in self.named:
            self.named[phrase] = _named_source(phrase, self.matcher, self.aliases)
        source, is_pronoun = self.named[phrase]
        return self.latest_person(ordinal, position) if is_pronoun else source


def _named_source(phrase: str, matcher: _AliasMatcher, aliases: AliasTable) -> tuple[str | None, bool]:
    """What a phrase names, read from the phrase alone: (canonical or proper name, False), or
    (None, True) for a pronoun that stands for the latest person named, or (None, False)."""
    phrase = _FINAL_PERIOD_RE.sub("", phrase.strip(" \t'\"“”’‘-"))
    if not phrase:
        return None, False
    matches = _alias_matches(phrase, matcher)
    if matches:
        return max(matches, key=lambda m: (m[1] - m[0], m[0]))[2], False
    words = phrase.split()
    if words[0].lower() in PRONOUNS and len(words) <= 2:
        return None, True
    key = _alias_key(_TITLE_WORD_RE.sub("", phrase))
    if len(key) >= 6:
        best = process.extractOne(key, matcher.fuzzy_keys, scorer=fuzz.ratio, score_cutoff=aliases.fuzzy_threshold)
        if best is not None:
            return matcher.canonical_by_key[best[0]], False
    bare = _POSSESSIVE_END_RE.sub("", _LEADING_THE_RE.sub("", phrase))
    if NAME_RE.fullmatch(bare) and bare.split()[0].lower() not in NOT_NAMES:
        return bare, False
    return None, False


_FINAL_PERIOD_RE = re.compile(r"(?<=[a-z]{2})\.$")
_TITLE_WORD_RE = re.compile(r"^(?:the|former|representative|rep\.?)\s+", re.IGNORECASE)
_LEADING_THE_RE = re.compile(r"^the\s+", re.IGNORECASE)
_POSSESSIVE_END_RE = re.compile(r"[’']s$")


# Characters IGNORECASE matches to an ASCII letter that lower() does not make that letter:
# dotless "ı" and dotted "İ" (to "i") and long "ſ" (to "s"); the Kelvin sign lowers to "k".
_LOWER_APART = ("ı", "İ", "ſ")


def _lowered_for_guards(segment: str) -> str | None:
    """`segment` lower-cased, in which an ASCII word is a substring wherever a case-insensitive
    regex can match it, so `word in` the result may skip that regex; None when the segment holds
    a character that makes the test unsound."""
    if not segment.isascii() and any(ch in segment for ch in _LOWER_APART):
        return None
    return segment.lower()


def _subject_phrases(segment: str) -> Iterator[tuple[int, str]]:
    """(position, phrase) of each "X said": X runs from the clause start before the verb, the
    end of the last CLAUSE_START_RE match before it (or the segment start), to the verb."""
    clause_starts = CLAUSE_START_RE.finditer(segment)
    clause_start, boundary = 0, None
    for match in SUBJECT_VERB_RE.finditer(segment):
        if boundary is None:
            boundary = next(clause_starts, False)
        while boundary and boundary.end() <= match.start():
            clause_start, boundary = boundary.end(), next(clause_starts, False)
        yield match.start(), segment[clause_start:match.start()]


def _source_in(text: str, lo: int, hi: int, doc: _DocumentContext, ordinal: int) -> str | None:
    """The source a stretch of a passage attributes its statements to, by cue precedence.

    A cue regex is skipped when the segment lacks a word every match of it contains ("according",
    "by", "citing", "'s"): most sentences name none, and a substring test is much cheaper.
    """
    segment = text[lo:hi]
    lowered = _lowered_for_guards(segment)
    matches = ACCORDING_RE.finditer(segment) if lowered is None or "according" in lowered else ()
    for match in matches:
        found = doc.resolve(match.group("src"), ordinal, lo + match.start())
        if found:
            return found
    inverted = [(match.start("src"), match.group("src")) for match in INVERTED_RE.finditer(segment)]
    # Both kinds of candidate in position order; the subject-verb ones are read only as far as
    # the first that resolves, since the phrases after it cannot change the answer.
    for position, phrase in merge(_subject_phrases(segment), inverted) if inverted else _subject_phrases(segment):
        found = doc.resolve(phrase, ordinal, lo + position)
        if found:
            return found
    for pattern, needed in ((AS_BY_RE, lowered is None or "by" in lowered), (CITING_RE, lowered is None or "citing" in lowered),
                            (POSSESSIVE_RE, "'s" in segment or "’s" in segment)):
        if not needed:
            continue
        for match in pattern.finditer(segment):
            found = doc.resolve(match.group("src"), ordinal, lo + match.start())
            if found:
                return found
    return None


def _attribution(text: str, claim: _Claim, sentences: list[tuple[int, int]], quotes: list[tuple[int, int]],
                 doc: _DocumentContext, ordinal: int, cache: dict) -> str | None:
    """Speaker of a quotation holding the claim, else the source its sentence names."""
    start = claim.mention.start
    for q_start, q_end in quotes:
        if q_start <= start < q_end:
            after = next(((s, e) for s, e in sentences if s <= q_end - 1 < e or s >= q_end), None)
            if after is not None and q_end < len(text):
                found = _source_in(text, q_end - 1, after[1], doc, ordinal)
                if found:
                    return found
            before = next(((s, e) for s, e in sentences if s <= q_start < e), None)
            if before is not None and before[0] < q_start:
                found = _source_in(text, before[0], q_start + 1, doc, ordinal)
                if found:
                    return found
            break
    if claim.sentence not in cache:
        cache[claim.sentence] = _source_in(text, *claim.sentence, doc, ordinal)
    return cache[claim.sentence]


def _qualifier_match(left: str) -> re.Match | None:
    """`QUALIFIER_RE.search(left)`, started where a match can start: inside one of the last
    QUALIFIER_MAX_WORDS whitespace-separated tokens (the lookbehind still sees the character
    before). That skips most of the 40 characters, each of which sre would try."""
    head = left.rstrip().rsplit(None, QUALIFIER_MAX_WORDS)
    return QUALIFIER_RE.search(left, len(head[0]) if len(head) > QUALIFIER_MAX_WORDS else 0)


def _qualifier(text: str, claim: _Claim) -> str:
    left = text[max(claim.sentence[0], claim.mention.start - 40):claim.mention.start]
    match = _qualifier_match(left)
    if match:
        word = " ".join(match.group("q").lower().split())
        if word in SPAN_QUALIFIERS and claim.unit in DURATION_UNITS:
            return "exact"
        return QUALIFIERS[word]
    trailing = TRAILING_QUALIFIER_RE.match(text, claim.mention.end)
    if trailing:
        return TRAILING_QUALIFIERS[trailing.group("q").lower()]
    return "exact"


def _period(text: str, claim: _Claim, left_bound: int, right_bound: int) -> str | None:
    right = RIGHT_PERIOD_RE.match(text, claim.mention.end, right_bound)
    if right:
        word = right.group("unit") or right.group("p")
        return PERIOD_WORDS[" ".join(word.lower().split())]
    left = text[left_bound:claim.mention.start]
    breaks = list(CLAUSE_BREAK_RE.finditer(left))
    if breaks:
        left = left[breaks[-1].end():]
    left = " ".join(left.split()[-8:])
    found = list(LEFT_PERIOD_RE.finditer(left))
    if found:
        return PERIOD_WORDS[" ".join(found[-1].group("p").lower().split())]
    return None


_CURRENCY_CODE_RE = re.compile(r"[A-Z]{3}")


def _measure(rules: tuple[_ReadyRule, ...], fallback: str, unit: str, period: str | None,
             scopes: dict[str, str]) -> tuple[str, str | None]:
    """The first measure with a rule that holds (see `Taxonomy`), else the fallback."""
    is_money = bool(_CURRENCY_CODE_RE.fullmatch(unit))
    for rule in rules:
        if rule.units is not None and unit not in rule.units and not (is_money and "money" in rule.units):
            continue
        if rule.periods is not None and period not in rule.periods:
            continue
        if rule.keywords is not None and not rule.keywords.search(scopes[rule.scope]):
            continue
        return rule.measure, rule.subject
    return fallback, None


def _is_claim(text: str, mention: NumberMention) -> bool:
    if mention.kind != "quantity":
        return False
    if mention.is_spelled:
        if mention.unit is None:
            return False
        if mention.value_high <= 10 and DETERMINER_BEFORE_RE.search(text, max(0, mention.start - 8), mention.start):
            return False
    return True


def _passage_claims(text: str) -> tuple[list[_Claim], list[tuple[int, int]]]:
    sentences = _sentence_spans(text)
    claims: list[_Claim] = []
    for mention in read_number_expressions(text):
        if not _is_claim(text, mention):
            continue
        sentence = next(((s, e) for s, e in sentences if s <= mention.start < e), (0, len(text)))
        unit = mention.unit
        if unit is None:
            previous = next(
                (c for c in reversed(claims) if c.sentence == sentence and not c.mention.is_money and not c.mention.is_percent),
                None,
            )
            unit = previous.unit if previous is not None else "count"
        claims.append(_Claim(mention=mention, unit=unit, sentence=sentence))
    return claims, sentences


# Spaces the web writes that the patterns must read as a plain space: no-break, narrow no-break,
# figure and thin spaces, and the zero-width characters pasted between words. Each becomes one
# plain space, so every offset stays the same; quotes and sentences are cut from the stored text.
SPACE_LIKE_CHARACTERS = "\u00a0\u202f\u2007\u2009\u200a\u200b\u200c\u200d\u2060\ufeff"


class _NeedsDocument(Exception):
    """Raised where an attribution depends on the document: "he said" names the latest person
    named before it in the document, which the passage's text alone does not hold."""


class _TextContext(_DocumentContext):
    """The context of a text read on its own: phrases resolve as in any document, but asking
    for the latest person named (a pronoun's speaker) raises `_NeedsDocument`."""

    def latest_person(self, ordinal: int, position: int) -> str | None:
        raise _NeedsDocument


# The fields of a claim row that the passage's text decides, in `CLAIMS_SCHEMA`'s types, with
# the mention's and its sentence's offsets in the passage (`start`, `end`, `sentence_start`,
# `sentence_end`). `text_index` names the text.
TEXT_CLAIMS_SCHEMA = {
    "text_index": pl.UInt32,
    "start": pl.Int32,
    "end": pl.Int32,
    "sentence_start": pl.Int32,
    "sentence_end": pl.Int32,
    **{name: CLAIMS_SCHEMA[name] for name in (
        "quote", "sentence", "value_low", "value_high", "unit", "qualifier", "period", "measure", "subject", "attributed_to",
    )},
}


def _text_claims(stored: str, text: str, doc: _DocumentContext, ordinal: int, rules: tuple[_ReadyRule, ...],
                 fallback: str) -> list[tuple]:
    """The claims of one passage as tuples of `TEXT_CLAIMS_SCHEMA`'s fields after `text_index`:
    `stored` is the text as stored, `text` the same with space-like characters made plain spaces
    (same length, so offsets are shared)."""
    claims, sentences = _passage_claims(text)
    if not claims:
        return []
    quotes = _quote_spans(text)
    cache: dict = {}
    rows = []
    for i, claim in enumerate(claims):
        mention = claim.mention
        s_start, s_end = claim.sentence
        previous_end = claims[i - 1].mention.end if i and claims[i - 1].sentence == claim.sentence else s_start
        next_start = claims[i + 1].mention.start if i + 1 < len(claims) and claims[i + 1].sentence == claim.sentence else s_end
        period = _period(text, claim, previous_end, next_start)
        left, quote, right = text[previous_end:mention.start], text[mention.start:mention.end], text[mention.end:next_start]
        scopes = {
            "quote": quote,
            "left": left,
            "right": right,
            "window": f"{left}{quote}{right}",
            "sentence": text[s_start:s_end],
        }
        measure, subject = _measure(rules, fallback, claim.unit, period, scopes)
        rows.append((
            mention.start,
            mention.end,
            s_start,
            s_end,
            stored[mention.start:mention.end],
            stored[s_start:s_end],
            mention.value_low,
            mention.value_high,
            claim.unit,
            _qualifier(text, claim),
            period,
            measure,
            subject,
            _attribution(text, claim, sentences, quotes, doc, ordinal, cache),
        ))
    return rows


def _spaced(texts: pl.Expr) -> pl.Expr:
    return texts.str.replace_all(f"[{SPACE_LIKE_CHARACTERS}]", " ")


def text_claims(texts: pl.Series, taxonomy: Taxonomy, aliases: AliasTable, first_index: int = 0) -> tuple[pl.DataFrame, list[int]]:
    """The claims of each text read on its own (`TEXT_CLAIMS_SCHEMA`, `text_index` counted from
    `first_index`), and the indexes of the texts whose claims need their document: one of them
    is attributed by a pronoun ("he said"), whose speaker an earlier passage names."""
    matcher = _alias_matcher(aliases)
    rules = _ready_rules(taxonomy)
    context = _TextContext(matcher, aliases, {})
    rows: list[tuple] = []
    needs_document: list[int] = []
    spaced = pl.select(_spaced(pl.lit(texts))).to_series()
    for index, (stored, text) in enumerate(zip(texts, spaced), start=first_index):
        try:
            found = _text_claims(stored, text, context, 0, rules, taxonomy.fallback)
        except _NeedsDocument:
            needs_document.append(index)
            continue
        rows.extend((index, *row) for row in found)
    return pl.DataFrame(rows, schema=TEXT_CLAIMS_SCHEMA, orient="row"), needs_document


# A claim row before its id and document offsets: the passage's fields, the mention's offsets in
# the passage (`start`, `end`) and what the text says (`_claim_rows` finishes it).
PASSAGE_CLAIMS_SCHEMA = {
    "passage_id": pl.Utf8,
    "doc_id": pl.Utf8,
    "char_start": pl.Int32,
    **{name: dtype for name, dtype in TEXT_CLAIMS_SCHEMA.items() if name != "text_index"},
}


def _rows_in_documents(body: pl.DataFrame, taxonomy: Taxonomy, aliases: AliasTable) -> pl.DataFrame:
    """`PASSAGE_CLAIMS_SCHEMA` rows of the passages marked `needs_document`, each read in its
    document: every passage of it (`body`, sorted by doc_id and ordinal) is added to the context
    in order, so "he said" resolves to the latest person named before."""
    matcher = _alias_matcher(aliases)
    rules = _ready_rules(taxonomy)
    rows: list[tuple] = []
    doc, doc_id = None, None
    named: dict[str, tuple[str | None, bool]] = {}
    for passage in body.with_columns(spaced=_spaced(pl.col("text"))).iter_rows(named=True):
        if doc is None or passage["doc_id"] != doc_id:
            doc, doc_id = _DocumentContext(matcher, aliases, named), passage["doc_id"]
        doc.add_passage(passage["ordinal"], passage["spaced"])
        if passage["needs_document"]:
            found = _text_claims(passage["text"], passage["spaced"], doc, passage["ordinal"], rules, taxonomy.fallback)
            rows.extend((passage["passage_id"], doc_id, passage["char_start"], *row) for row in found)
    return pl.DataFrame(rows, schema=PASSAGE_CLAIMS_SCHEMA, orient="row")


def _body_passages(passages: pl.DataFrame) -> pl.DataFrame:
    """The non-boilerplate passages, without `is_boilerplate` (no copy when there is none)."""
    missing = [c for c in PASSAGE_COLUMNS if c not in passages.columns]
    if missing:
        raise ValueError(f"extract_claims: passages lack columns {missing}")
    body = passages.select(PASSAGE_COLUMNS)
    if body["is_boilerplate"].fill_null(False).any():
        body = body.filter(~pl.col("is_boilerplate").fill_null(False))
    return body.drop("is_boilerplate")


def _distinct_texts(body: pl.DataFrame) -> tuple[pl.Series, pl.DataFrame]:
    """The body's distinct texts, and its rows with `text_index` (a text's row in them) instead
    of the text."""
    texts = body["text"].unique(maintain_order=True)
    indexes = pl.LazyFrame({"text": texts, "text_index": pl.int_range(0, len(texts), dtype=pl.UInt32, eager=True)})
    keyed = body.lazy().join(indexes, on="text", how="left", nulls_equal=True).drop("text").collect()
    return texts, keyed


def _needing_documents(body: pl.DataFrame, texts: pl.Series, needs_document: list[int]) -> pl.DataFrame:
    """The passages of the documents that hold a text whose claims need their document, sorted
    by doc_id and ordinal, with `needs_document` marking those passages."""
    if not needs_document:
        return body.clear().with_columns(needs_document=pl.lit(False))
    needed = texts.gather(needs_document).implode()
    docs = body.filter(pl.col("text").is_in(needed))["doc_id"].unique().implode()
    return body.filter(pl.col("doc_id").is_in(docs)).sort("doc_id", "ordinal").with_columns(
        needs_document=pl.col("text").is_in(needed)
    )


def _rows_of_texts(keyed: pl.DataFrame, found: pl.DataFrame, needs_document: list[int]) -> pl.DataFrame:
    """`found` (the texts' claims) joined to the passages that hold each text, but for the texts
    that need their documents."""
    if needs_document:
        keyed = keyed.filter(~pl.col("text_index").is_in(pl.Series(needs_document, dtype=pl.UInt32).implode()))
    return keyed.join(found, on="text_index", how="inner")


def _claim_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """`CLAIMS_SCHEMA` rows, sorted by doc_id and char_start, from `PASSAGE_CLAIMS_SCHEMA` rows:
    offsets in the document, and claim_id, the first 16 hex digits of the SHA-256 of
    "passage_id:start:end" (offsets in the passage), computed by DuckDB over those three columns
    (in row order)."""
    import duckdb  # here, not at the top: a worker process reading texts never needs it (0.16 s less to start one)

    with duckdb.connect() as conn:  # in memory; a plain projection keeps the row order
        conn.register("claim_rows", rows.select("passage_id", "start", "end"))
        ids = conn.sql(
            "select left(sha256(passage_id || ':' || start || ':' || \"end\"), 16) as claim_id from claim_rows"
        ).pl()["claim_id"]
    return rows.select(
        ids,
        "doc_id",
        "passage_id",
        (pl.col("char_start") + pl.col("start")).alias("char_start"),
        (pl.col("char_start") + pl.col("end")).alias("char_end"),
        (pl.col("char_start") + pl.col("sentence_start")).alias("sentence_start"),
        (pl.col("char_start") + pl.col("sentence_end")).alias("sentence_end"),
        *list(TEXT_CLAIMS_SCHEMA)[5:],
    ).cast(CLAIMS_SCHEMA).sort("doc_id", "char_start", "char_end")


def extract_claims(passages: pl.DataFrame, taxonomy: Taxonomy, aliases: AliasTable) -> pl.DataFrame:
    """One row per claim mention in the non-boilerplate passages, sorted by doc_id and char_start.

    Boilerplate passages are dropped first: they neither yield claims nor name speakers. A
    story reprinted by several outlets repeats most of its passages word for word, so each
    distinct text is read once (`text_claims`) and its claims are given to every passage that
    holds it. A text whose claim is attributed by "he said" is the exception: the speaker is the
    latest person named earlier in the document, so those passages are read again in their
    documents, in ordinal order. Passages may come from many documents in any order.
    Offsets (`char_start`, `char_end` of the quote; `sentence_start`, `sentence_end` of its
    sentence) are in the document: `quote` and `sentence` are its text between them.
    """
    return extract_claims_in_processes(passages, taxonomy, aliases, workers=1)


# Below this many distinct texts a batch is read in process: starting a worker (a fresh
# interpreter importing Polars and this module, from compiled bytecode) costs about 0.4 s, and
# one process reads about 3,300 distinct texts a second. Measured on a quiet machine when each
# passage was read (a distinct text costs what a passage cost; medians of 3, whole documents of
# the 100,000-article benchmark corpus): 2,356 passages 0.35 s in one process, 0.44 s in two;
# 7,856 passages 1.13 s and 0.88 s; 23,490 passages 3.30 s and 2.12 s. Since this module
# imports DuckDB only where it hashes ids, a worker starts in 0.37 s instead of 0.52 s, and the
# +1% batch of the 100,000-article benchmark (4,914 distinct texts) took 1.09-1.46 s in two
# workers against 1.08-1.55 s in process (means 1.23 and 1.37 s, four pairs). With today's
# reader (about 7,000 texts a second) the same batch takes as long either way, 0.70-0.82 s,
# but two workers use 1.33-1.45 CPU-seconds against 0.72-0.81 (`/tmp/s29/ext_ab.py`, four
# alternations). Two workers are faster only when half a batch takes longer to read than a
# worker takes to start (N / 14,000 > 0.37 s: about 5,200 texts), and on two shared cores the
# second process's CPU is taken from whatever else runs: the threshold is 6,000.
PARALLEL_MIN_PASSAGES = 6_000


def extract_claims_in_processes(
    passages: pl.DataFrame,
    taxonomy: Taxonomy,
    aliases: AliasTable,
    workers: int,
    min_passages: int | None = None,
) -> pl.DataFrame:
    """`extract_claims`, with the distinct texts shared out over `workers` processes.

    Reading a text is pure Python (regexes per passage), so threads would share one core. The
    texts are cut into parts read in separate interpreters ("spawn": no fork of a process that
    holds DuckDB and Polars threads); the passages whose claims need their document (a "he
    said") are read in this process. The result is the one `extract_claims` gives, row for row.
    """
    body = _body_passages(passages)
    texts, keyed = _distinct_texts(body)
    if workers <= 1 or len(texts) < (PARALLEL_MIN_PASSAGES if min_passages is None else min_passages):
        found, needs_document = text_claims(texts, taxonomy, aliases)
    else:
        from concurrent.futures import ProcessPoolExecutor
        from itertools import repeat
        from multiprocessing import get_context

        n_parts = 4 * workers  # smaller parts even out texts of different lengths
        cuts = [len(texts) * i // n_parts for i in range(n_parts + 1)]
        starts = [lo for lo, hi in zip(cuts, cuts[1:]) if hi > lo]
        parts = [texts.slice(lo, hi - lo) for lo, hi in zip(cuts, cuts[1:]) if hi > lo]
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            read = list(pool.map(text_claims, parts, repeat(taxonomy), repeat(aliases), starts))
        found = pl.concat([frame for frame, _ in read], rechunk=False)
        needs_document = [index for _, indexes in read for index in indexes]
        del read
    # Held one at a time where they can be: the texts' claims, then the passages' rows.
    in_documents = _needing_documents(body, texts, needs_document)
    del texts
    rows = _rows_of_texts(keyed, found, needs_document).select(list(PASSAGE_CLAIMS_SCHEMA)).cast(PASSAGE_CLAIMS_SCHEMA)
    del found, keyed
    in_documents = _rows_in_documents(in_documents, taxonomy, aliases)
    if in_documents.height:
        rows = pl.concat([rows, in_documents])
    del in_documents
    return _claim_rows(rows)
