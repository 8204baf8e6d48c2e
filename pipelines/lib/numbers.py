"""Numbers: read every number expression in a text, with its exact span, value range and unit.

This is the lexical half of claim extraction. It knows how numbers are *written* in English
news copy — digits with separators, decimals, scale words ("$200 million", "1.5bn"), number
words ("three generals", "a dozen"), currencies, percentages, negatives and ranges ("600,000 to
700,000 tons", "between 600,000 and 700,000", "$1-2 billion") — and which noun they count. It
does not decide what a number *means* (qualifier, period, measure, source): that is
`pipelines.lib.claims`, which also decides which mentions are claims at all.

Span rule (the `quote` of a claim): a mention runs from the first character of the number
expression — including a leading "between", a currency symbol or code and a minus sign — to the
end of its counted noun phrase when one follows directly: modifiers and head noun, as in
"10,000 North Korean soldiers", "9 million 6-inch caliber shells", "600,000 to 700,000 metric
tons". Qualifiers ("about", "over"), prepositional complements ("of rice") and rate phrases ("a
month") are left out, so one quantity always has the same core span however it is hedged.

Dates, years and clock times are returned with `kind` set to "date", "year" or "time" so the
caller can drop them: that includes "9 a.m.", season spans ("2023-24") and durations that date
something ("three years ago"). Sport scores ("won 2-1", "120-115", "6-3, 6-4": two bare
integers joined by an unspaced hyphen or dash with no unit) are `kind` "score": a result, not a
quantity. Ordinals ("1st", "seventh"), numbers glued to a word ("6-inch", "Su-35", "G7"),
phone numbers ("+1 202-555-0143", "020 7946 0958"), numeric dates ("2024-03-12", "12/03/2024",
"9/11", "24/7"), names and labels ("Article 5", "Windows 10", "Boeing 737", "iOS 18.2",
"version 3.12": a bare number right after a capitalised word or a label noun) and the second
term of a ratio ("one in five") are not number expressions and are not returned.

Signs are read as written, never inferred from a verb: "fell by -3.5%" is -3.5, "fell 3.5%" is
3.5, "minus 20 degrees" is -20. "from X to Y" after a verb of change ("rose from 3.1% to 2.4%")
is two values, not a range; ends that disagree in kind ("3% to $71.20") are never a range.

Units are normalised here because the span depends on them: a known unit noun ends the noun
phrase. Tons, tonnes and metric tons are `metric_ton`; short and long tons are converted to
metric tons with pint (a bare "tons" in news copy means metric tons, whereas pint's "ton" is the
US short ton, so the word is never handed to pint unqualified). Other physical units (km, miles,
kg, mg, litres, km/h, mph...) are converted with pint to one canonical unit per dimension
(`kilometer`, `kilogram`, `liter`, `square_kilometer`, `kilometer_per_hour`); barrels stay `barrel` because oil is reported in
barrels and a litre figure would match no other source. Every unit lookup is cached, so pint
is imported once and consulted once per distinct unit word.
"""

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from pipelines.lib.patterns import trie_alternation

__all__ = ["NumberMention", "normalise_unit", "read_number_expressions"]


@dataclass(frozen=True)
class NumberMention:
    """One number expression found in a text.

    `start`/`end` index the text that was read (end exclusive). `value_low`/`value_high` are in
    `unit` (after scale words and unit conversion; equal for a single value). `unit` is
    normalised: an ISO 4217 code for money, `percent`, `metric_ton`, `person`, a time unit, a
    pint-canonical unit, a singular counted noun, or None when no unit is written. `unit_text`
    is the unit as written ("tons", "military personnel", "dollars", "$"). `kind` is "quantity"
    for a number that can be a claim, otherwise "year", "date" or "time".
    """

    start: int
    end: int
    text: str
    value_low: float
    value_high: float
    unit: str | None
    unit_text: str | None
    is_money: bool
    currency: str | None
    is_percent: bool
    scale: float
    is_range: bool
    is_spelled: bool
    kind: str


CURRENCY_SYMBOLS = {"US$": "USD", "$": "USD", "€": "EUR", "£": "GBP", "₩": "KRW", "₽": "RUB", "¥": "JPY", "₴": "UAH"}
CURRENCY_CODES = ("USD", "EUR", "GBP", "KRW", "RUB", "JPY", "CNY", "UAH", "CHF")
# "pounds" is deliberately absent: without "£" or "sterling" it is far more often a weight.
CURRENCY_WORDS = {
    "us dollars": "USD", "u.s. dollars": "USD", "dollars": "USD", "dollar": "USD",
    "won": "KRW", "rubles": "RUB", "roubles": "RUB", "ruble": "RUB", "rouble": "RUB",
    "euros": "EUR", "euro": "EUR", "pounds sterling": "GBP", "yuan": "CNY", "yen": "JPY",
    "hryvnias": "UAH", "hryvnia": "UAH",
}
SCALE_WORDS = {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
# Abbreviated scales; "m" and "k" count only after a currency, where they cannot be metres.
SCALE_ABBREVIATIONS = {"bn": 1e9, "b": 1e9, "mn": 1e6, "mln": 1e6, "tn": 1e12, "m": 1e6, "k": 1e3}
MONEY_ONLY_ABBREVIATIONS = {"m", "k", "b"}

UNIT_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "zero": 0,
}
TENS_WORDS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
WORD_SCALES = {"dozen": 12, **SCALE_WORDS}

_SMALL = "|".join(sorted([*UNIT_WORDS, *TENS_WORDS], key=len, reverse=True))
_BIG = "|".join(sorted(WORD_SCALES, key=len, reverse=True))
_CODES = "|".join(CURRENCY_CODES)
_CUR_WORDS = "|".join(re.escape(w) for w in sorted(CURRENCY_WORDS, key=len, reverse=True))
_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)

# One value: optional sign and currency, a number in digits or words, optional scale, percent
# sign or currency word. Digits may not continue a word or a decimal ("Su-35", "G7", "1.5").
ATOM_RE = re.compile(
    rf"""
    (?P<neg>(?<![\w\-–—−])[-−](?=[$€£₩₽¥₴]?\d)|\bminus\s+)?
    (?P<cur_pre>US\$|[$€£₩₽¥₴]|\b(?:{_CODES})\s?(?=\d))?
    (?:
        (?P<digits>(?<![\w.,])(?<![A-Za-z]-)(?:\d{{1,3}}(?:,\d{{3}})+(?![\d,]\d)|\d+)(?:\.\d+)?)
      | (?P<words>\b(?:(?:half\s+)?an?\s+(?=(?:{_BIG})\b))?(?:{_SMALL}|{_BIG})(?:(?:(?<=hundred)\s+and\s+|[ -])(?:{_SMALL}|{_BIG}))*\b)
    )
    (?P<scale>\s*(?:{"|".join(SCALE_WORDS)})\b(?!-)|\s?(?:bn|mln|mn|tn|b|m|k)\b)?
    (?P<pct>\s*%|\s*(?:percent|per\s+cent|pct)\b)?
    (?P<cur_post>\s+(?:{_CUR_WORDS}|{_CODES})\b)?
    """,
    re.VERBOSE | re.IGNORECASE,
)
# Where a match of ATOM_RE can begin: a sign, a currency symbol, a digit, or a word that can
# start one. Searching for these first and trying ATOM_RE only there gives the same matches as
# ATOM_RE.search at a third of the cost (its optional prefixes make every position expensive).
_ATOM_SIGNS = "-−$€£₩₽¥₴"
_ATOM_WORDS = {w.lower() for w in ("minus", "us", "half", "a", "an", *_CODES.split("|"), *_SMALL.split("|"), *_BIG.split("|"))}
ATOM_START_RE = re.compile(rf"[{_ATOM_SIGNS}\d]|\b{trie_alternation(_ATOM_WORDS)}\b", re.IGNORECASE)
# ATOM_START_RE found faster: sre skips straight to a character of the class a pattern starts
# with, but tries a pattern that starts with "\b" at every position. This one starts with the
# sign or digit itself, or with the non-word character before a word (whose start is then where
# a "\b" holds), so the positions between are skipped; `_next_atom_start` turns its matches into
# ATOM_START_RE's. The first-letter lookahead fails a word no number word starts like before
# the trie is entered.
_ATOM_START_SCAN = (
    rf"[\W\d](?:(?<=\W)(?=[{''.join(sorted({w[0] for w in _ATOM_WORDS}))}])(?=(?P<word>{trie_alternation(_ATOM_WORDS)})\b)"
    rf"|(?<=[{_ATOM_SIGNS}\d]))"
)
_ATOM_START_SCAN_RE = re.compile(_ATOM_START_SCAN, re.IGNORECASE)
# The same pattern, case-sensitive, for lower-cased ASCII text (see `_atom_scan_text`): sre
# skips a trie branch whose first letter differs at once only when the letter is case-sensitive.
_ATOM_START_SCAN_LOWER_RE = re.compile(_ATOM_START_SCAN)
_WORDS_TOKEN_RE = re.compile(r"[a-z]+")
# A plain hyphen joins a range only when unspaced: " - " is a dash between clauses.
RANGE_SEP_RE = re.compile(r"\s*–\s*|-|\s+(?:to|and)\s+", re.IGNORECASE)
BETWEEN_BEFORE_RE = re.compile(r"\bbetween\s+$", re.IGNORECASE)
TIME_AFTER_RE = re.compile(r":\d{2}\b(?:\s*[ap]\.?m\.?)?|\s*[ap]\.m\.|\s*[ap]m\b", re.IGNORECASE)
AGO_AFTER_RE = re.compile(r"\s+ago\b", re.IGNORECASE)
# Spans that hold digits but no number: phone numbers and numeric dates. An international
# number starts with "+"; a domestic one has at least three groups and ends in four digits.
# Read as "(?<![\w.,])(?:\+\d{1,3}...|\(?\d{2,4}...|\d{4}-...|\d{1,4}/...)": the first character
# is matched first (so sre skips straight to a "+", "(" or digit instead of trying the
# lookbehind at every position), then the lookbehind looks past it, and each alternative
# continues after the character it can start with, in the same order.
NOT_NUMBER_RE = re.compile(
    r"[+(\d](?<![\w.,].)(?:"
    r"(?<=\+)\d{1,3}(?:[\s.\-]?\(\d{1,4}\))?(?:[\s.\-]?\d{2,4}){2,4}"
    r"|(?<=\()\d{2,4}\)?(?:[\s.\-]\d{2,4}){1,2}[\s.\-]\d{4}"
    r"|(?<=\d)\d{1,3}\)?(?:[\s.\-]\d{2,4}){1,2}[\s.\-]\d{4}"
    r"|(?<=\d)\d{3}-\d{2}-\d{2}"
    r"|(?<=\d)\d{0,3}/\d{1,2}(?:/\d{2,4})?"
    r")(?![\w/]|[.,]\d)"
)
# A bare number right after a capitalised word or a label noun names something ("Article 5",
# "Windows 10", "iOS 18.2"); words that hedge or place a number are not names.
LABEL_BEFORE_RE = re.compile(
    r"\b(?:article|section|chapter|clause|paragraph|version|category|level|route|flight|room|page|model"
    r"|phase|grade|resolution|no\.)[ \t]$",
    re.IGNORECASE,
)
NAME_BEFORE_RE = re.compile(r"(?<![\w’'])(?P<name>[a-z]*[A-Z][\w\-]*)[ \t]$")
NOT_LABEL_WORDS = frozenset(
    """
    about around approximately roughly nearly almost some over under only just exactly estimated upwards well
    another all the these those its their his her our both each every in on at by for from with of and but or to
    since until after before during than total totalling
    monday tuesday wednesday thursday friday saturday sunday
    """.split()
)
# "one in five": the second number is a ratio's base, not a count.
RATIO_BEFORE_RE = re.compile(r"\b(?:one|1)\s+in\s+(?:every\s+)?$", re.IGNORECASE)
RATIO_AFTER_RE = re.compile(r"\s+in\s+(?:every\s+)?(?:\d|(?:two|three|four|five|six|seven|eight|nine|ten|a)\b)", re.IGNORECASE)
# "rose from 3.1% to 2.4%" is a change between two values, not a range.
CHANGE_FROM_BEFORE_RE = re.compile(
    r"\b(?:rose|rise|rises|risen|fell|fall|falls|fallen|increased?|increases|decreased?|decreases|climbed|climbs"
    r"|dropped|drops?|grew|grows?|jumped|jumps|declined?|declines|cut|cuts|raised?|raises|lowered|lowers|slowed"
    r"|eased|eases|edged|slipped|soared|surged|plunged|shrank|shrunk|went|moved|changed|up|down)\b"
    r"[^.;:!?]{0,40}?\bfrom\s+$",
    re.IGNORECASE,
)
LABEL_TAIL_RE = re.compile(r"(?:[-–/]\d+(?:\.\d+)*)*")
SCORE_SEPARATORS = frozenset({"-", "–"})
SCORE_NOUNS = frozenset({"win", "victory", "defeat", "loss", "draw", "lead", "scoreline", "thrashing", "home", "away"})
DATE_BEFORE_RE = re.compile(rf"\b{_MONTHS}\.?\s+$")
DATE_AFTER_RE = re.compile(rf"(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\b")
GLUED_AFTER_RE = re.compile(r"-[A-Za-z]|[A-Za-z]|\.\d")
# A possessive or contraction ("Russia's") is never part of the counted noun.
NOUN_TOKEN_RE = re.compile(
    r"[ \t]+(?P<tok>\d+(?:\.\d+)?(?:-[A-Za-z]+(?:-[A-Za-z]+)*|mm|cm)|[A-Za-z](?:[A-Za-z\-]*[A-Za-z])?)(?![’'\w])"
)
# A unit with a slash ("km/h") is no word token; it is tried first, right after the number.
SLASH_UNIT_RE = re.compile(r"[ \t]*(?P<tok>km/h|km/hr|m/s)(?![\w/])")
# Modifiers that may sit between a number and its noun ("3,000 more troops") but never head it.
MODIFIER_ONLY = frozenset({"more", "additional", "extra", "other"})
GLUED_RE = re.compile(r"[\w\-.]*")

# Words that end a counted-noun phrase: the number counts nothing written after them.
NOUN_STOPWORDS = frozenset(
    """
    a an the of to in on at for from by with into onto per over under about than as between across near after before
    during since until within without through against among via and or but nor so yet while which that who whom whose
    what when where why how if because although though is are was were be been being have has had do does did will would
    can could may might must shall should it its they them their he him his she her we us our you your this these those
    there here already more less fewer most least still also not only just now even each every all both some any no
    annually monthly yearly daily weekly a-year apiece alone altogether again too very then say says said according
    last next ago earlier later
    """.split()
)

PERSON_NOUNS = frozenset(
    """
    soldier soldiers troop troops personnel officer officers general generals worker workers citizen citizens
    killed wounded casualty casualties people person persons civilian civilians man men woman women child children
    servicemen serviceman fighter fighters mercenary mercenaries conscript conscripts recruit recruits refugee refugees
    prisoner prisoners sailor sailors pilot pilots commander commanders laborer laborers labourer labourers
    forces engineer engineers staff employee employees player players fan fans spectator spectators
    volunteer volunteers patient patients resident residents passenger passengers student students
    nurse nurses doctor doctors adult adults migrant migrants voter voters protester protesters
    """.split()
)
TIME_UNITS = {
    "day": "day", "days": "day", "week": "week", "weeks": "week", "month": "month", "months": "month",
    "year": "year", "years": "year", "hour": "hour", "hours": "hour",
}
METRIC_TON_WORDS = frozenset({"ton", "tons", "tonne", "tonnes", "metric ton", "metric tons", "metric tonne", "metric tonnes"})
# Written unit -> pint unit; only these words are ever handed to pint (see module docstring).
PINT_UNITS = {
    "short ton": "short_ton", "short tons": "short_ton", "long ton": "long_ton", "long tons": "long_ton",
    "km": "kilometer", "kilometer": "kilometer", "kilometers": "kilometer", "kilometre": "kilometer", "kilometres": "kilometer",
    "mile": "mile", "miles": "mile", "meter": "meter", "meters": "meter", "metre": "meter", "metres": "meter",
    "kg": "kilogram", "kilogram": "kilogram", "kilograms": "kilogram", "kilo": "kilogram", "kilos": "kilogram",
    "pound": "pound", "pounds": "pound", "lb": "pound", "lbs": "pound",
    "liter": "liter", "liters": "liter", "litre": "liter", "litres": "liter", "gallon": "gallon", "gallons": "gallon",
    "hectare": "hectare", "hectares": "hectare", "acre": "acre", "acres": "acre",
    "square kilometers": "kilometer**2", "square kilometres": "kilometer**2", "sq km": "kilometer**2",
    "mm": "millimeter", "millimeter": "millimeter", "millimeters": "millimeter", "millimetre": "millimeter",
    "millimetres": "millimeter", "cm": "centimeter", "centimeter": "centimeter", "centimeters": "centimeter",
    "centimetre": "centimeter", "centimetres": "centimeter",
    "mg": "milligram", "milligram": "milligram", "milligrams": "milligram", "gram": "gram", "grams": "gram",
    "ml": "milliliter", "milliliter": "milliliter", "milliliters": "milliliter", "millilitre": "milliliter",
    "millilitres": "milliliter",
    "km/h": "kilometer/hour", "km/hr": "kilometer/hour", "kph": "kilometer/hour", "mph": "mile/hour",
    "m/s": "meter/second", "kilometers per hour": "kilometer/hour", "kilometres per hour": "kilometer/hour",
    "miles per hour": "mile/hour",
}
# Counted nouns of two words with a unit name of their own.
NAMED_UNITS = {"percentage point": "percentage_point", "percentage points": "percentage_point",
               "basis point": "basis_point", "basis points": "basis_point"}
KEPT_UNITS = {"barrel": "barrel", "barrels": "barrel", "bbl": "barrel"}
CANONICAL_BY_DIMENSION = {
    "[length]": ("kilometer", "kilometer"),
    "[mass]": ("kilogram", "kilogram"),
    "[length] ** 3": ("liter", "liter"),
    "[length] ** 2": ("kilometer**2", "square_kilometer"),
    "[length] / [time]": ("kilometer/hour", "kilometer_per_hour"),
}
TWO_WORD_UNITS = frozenset(
    {w for w in [*METRIC_TON_WORDS, *PINT_UNITS, *NAMED_UNITS] if " " in w}
    | {"military personnel", "service members", "special forces"}
)
THREE_WORD_UNITS = frozenset(w for w in PINT_UNITS if w.count(" ") == 2)
SINGULAR_EXCEPTIONS = {"personnel": "personnel", "series": "series", "species": "species", "news": "news", "data": "data"}


@lru_cache(maxsize=4096)
def normalise_unit(written: str) -> tuple[str, float] | None:
    """Map a written unit noun to (vocabulary unit, factor to multiply values by); None if not a unit.

    A counted noun that is no known unit becomes its lower-case singular ("containers" ->
    "container"), the contract's fallback; capitalised words are names, not units.
    """
    lowered = " ".join(written.lower().split())
    if lowered in METRIC_TON_WORDS:
        return "metric_ton", 1.0
    if lowered in NAMED_UNITS:
        return NAMED_UNITS[lowered], 1.0
    if lowered in PERSON_NOUNS or lowered in {"military personnel", "service members", "special forces"}:
        return "person", 1.0
    if lowered in TIME_UNITS:
        return TIME_UNITS[lowered], 1.0
    if lowered in KEPT_UNITS:
        return KEPT_UNITS[lowered], 1.0
    if lowered in PINT_UNITS:
        return _convert_with_pint(PINT_UNITS[lowered])
    if written[:1].isupper() or not re.fullmatch(r"[a-z][a-z\-]*", lowered) or lowered in MODIFIER_ONLY:
        return None
    return _singular(lowered).replace("-", "_"), 1.0


@lru_cache(maxsize=None)
def _unit_registry():
    import pint

    return pint.UnitRegistry()


@lru_cache(maxsize=256)
def _convert_with_pint(pint_unit: str) -> tuple[str, float]:
    """Canonical unit and factor for a pint unit: metric tons for tons, one unit per dimension otherwise."""
    registry = _unit_registry()
    quantity = registry.Quantity(1.0, pint_unit)
    if pint_unit in {"short_ton", "long_ton"}:
        return "metric_ton", float(quantity.to("metric_ton").magnitude)
    target, name = CANONICAL_BY_DIMENSION[str(quantity.dimensionality)]
    return name, float(quantity.to(target).magnitude)


def _singular(word: str) -> str:
    if word in SINGULAR_EXCEPTIONS:
        return SINGULAR_EXCEPTIONS[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _words_value(words: str) -> float | None:
    """Value of a spelled number ("four million", "a dozen", "twenty-five"); None if it is not one."""
    tokens = [t for t in _WORDS_TOKEN_RE.findall(words.lower()) if t != "and"]
    if tokens and tokens[0] == "half":
        rest = _words_value(" ".join(tokens[1:]))
        return None if rest is None else rest / 2
    if tokens and tokens[0] in ("a", "an"):
        tokens[0] = "one"
    elif tokens and tokens[0] in WORD_SCALES:
        # "dozen dollars" in "several dozen dollars" is no number: a scale needs a multiplicand.
        return None
    total, current = 0.0, 0.0
    for token in tokens:
        if token in UNIT_WORDS:
            current += UNIT_WORDS[token]
        elif token in TENS_WORDS:
            current += TENS_WORDS[token]
        elif token == "hundred":
            current = max(current, 1) * 100
        else:
            scale = WORD_SCALES[token]
            if token == "dozen" or scale < 1000:
                current = max(current, 1) * scale
            else:
                total += max(current, 1) * scale
                current = 0.0
    return total + current


@dataclass(frozen=True)
class _Atom:
    start: int
    end: int
    value: float
    scale: float
    currency: str | None
    currency_text: str | None
    is_percent: bool
    is_spelled: bool
    is_plain_integer: bool


def _read_atom(match: re.Match | None) -> _Atom | None:
    """Turn one ATOM_RE match into a value, or None when the match is not a number after all."""
    if match is None:
        return None
    digits, words, neg, currency_text, scale_text, pct, cur_post = match.group(
        "digits", "words", "neg", "cur_pre", "scale", "pct", "cur_post"
    )
    if not (digits or words):
        return None
    if digits:
        value = float(digits.replace(",", ""))
        spelled = False
    else:
        parsed = _words_value(words)
        if parsed is None:
            return None
        value, spelled = parsed, True
    if neg:
        value = -value
    currency = None
    if currency_text:
        currency = CURRENCY_SYMBOLS.get(currency_text) or currency_text.strip().upper()
    end = match.end()
    scale = 1.0
    scale_text = (scale_text or "").strip().lower()
    if scale_text in SCALE_WORDS:
        scale = SCALE_WORDS[scale_text]
    elif scale_text and (currency is not None or scale_text not in MONEY_ONLY_ABBREVIATIONS):
        scale = SCALE_ABBREVIATIONS[scale_text]
    elif scale_text:
        # "3 m" without a currency is three metres, not three million: keep the bare number.
        end = match.end("digits")
    post = cur_post if end == match.end() else None
    if post:
        word = post.strip()
        currency_text = currency_text or word
        currency = currency or CURRENCY_WORDS.get(word.lower()) or word.upper()
    digits = digits or ""
    return _Atom(
        start=match.start(),
        end=end,
        value=value,
        scale=scale,
        currency=currency,
        currency_text=currency_text.strip() if currency_text else None,
        is_percent=bool(pct) and end == match.end(),
        is_spelled=spelled,
        is_plain_integer=bool(digits) and digits.isdigit() and scale == 1.0,
    )


def _is_known_unit(lowered: str) -> bool:
    return (
        lowered in PERSON_NOUNS or lowered in METRIC_TON_WORDS or lowered in TIME_UNITS
        or lowered in PINT_UNITS or lowered in KEPT_UNITS or lowered in NAMED_UNITS
    )


def _noun_phrase(text: str, pos: int) -> tuple[int, str | None, tuple[str, float] | None, bool]:
    """Find the counted noun after `pos`: (end of phrase, head as written, normalised unit, is a known unit).

    Modifiers are collected until a known unit noun (which ends the phrase) or a stop word or
    punctuation; the first plural collected, else the last word, is then the head. At most four
    words are read, so a number never reaches into the next clause.
    """
    slash = SLASH_UNIT_RE.match(text, pos)
    if slash is not None:
        return slash.end(), slash.group("tok"), normalise_unit(slash.group("tok")), True
    tokens: list[re.Match] = []
    cursor = pos
    for _ in range(4):
        match = NOUN_TOKEN_RE.match(text, cursor)
        if match is None:
            break
        word = match.group("tok")
        lowered = word.lower()
        following = NOUN_TOKEN_RE.match(text, match.end())
        if following is not None:
            third = NOUN_TOKEN_RE.match(text, following.end())
            if third is not None:
                triple = f"{lowered} {following.group('tok').lower()} {third.group('tok').lower()}"
                if triple in THREE_WORD_UNITS:
                    return third.end(), text[match.start("tok"):third.end()], normalise_unit(triple), True
            pair = f"{lowered} {following.group('tok').lower()}"
            if pair in TWO_WORD_UNITS:
                return following.end(), f"{word} {following.group('tok')}", normalise_unit(pair), True
        if _is_known_unit(lowered):
            return match.end(), word, normalise_unit(word), True
        if lowered in MODIFIER_ONLY:
            tokens.append(match)
            cursor = match.end()
            continue
        if lowered in NOUN_STOPWORDS or lowered.endswith(("ly", "ing", "ed")):
            break
        tokens.append(match)
        cursor = match.end()
    # A plural is the head ("drones" in "drones hit Kyiv"); verbs after it are not. A singular
    # count ("one satellite") has no plural, so the last word read stands in.
    plurals = [t for t in tokens if re.fullmatch(r"[a-z][a-z\-]*[^s]s", t.group("tok"))]
    for candidate in (plurals[:1], reversed(tokens)):
        for token in candidate:
            head = token.group("tok")
            unit = None if head[0].isdigit() else normalise_unit(head)
            if unit is not None:
                return token.end(), head, unit, False
    return pos, None, None, False


def _classify(text: str, first: _Atom, last: _Atom, has_known_unit: bool, unit: str | None, end: int) -> str:
    """Whether a number is a quantity or a date, year, clock time or sport score."""
    if first.is_plain_integer and TIME_AFTER_RE.match(text, first.end) and (
        text[first.end] == ":" or 1 <= first.value <= 12
    ):
        return "time"
    if last is not first and first.is_plain_integer and last.is_plain_integer:
        separator = text[first.end:last.start]
        bare = first.currency is None and last.currency is None and not first.is_percent and not last.is_percent
        if separator in SCORE_SEPARATORS and bare:
            if 1800 <= first.value <= 2100 and len(text[last.start:last.end]) == 2:
                return "year"
            if unit is None or unit in SCORE_NOUNS:
                return "score"
    if unit in {"day", "week", "month", "year", "hour"} and AGO_AFTER_RE.match(text, end):
        return "date"
    if first.is_plain_integer and first.currency is None and not first.is_percent and 1 <= first.value <= 31:
        if DATE_BEFORE_RE.search(text, max(0, first.start - 16), first.start) or DATE_AFTER_RE.match(text, first.end):
            return "date"
    year_like = all(
        a.is_plain_integer and a.currency is None and not a.is_percent and 1800 <= a.value <= 2100 for a in (first, last)
    )
    if year_like and not has_known_unit:
        return "year"
    return "quantity"


def read_number_expressions(text: str) -> list[NumberMention]:
    """Every number expression in `text`, left to right, non-overlapping.

    Ranges share what is written once: "600,000 to 700,000 tons" puts both ends in tons,
    "$1-2 billion" scales both ends (when that keeps the range in order), and "$1,200–$2,400"
    reads each end's own currency.
    """
    mentions: list[NumberMention] = []
    blocked = [(m.start(), m.end()) for m in NOT_NUMBER_RE.finditer(text)]
    pos = 0
    scan_text, scanner = _atom_scan_text(text)
    while (start := _next_atom_start(scan_text, scanner, pos)) is not None:
        match = ATOM_RE.match(text, start)
        if match is None:
            pos = start + 1
            continue
        inside = next((e for s, e in blocked if s <= match.start() < e), None) if blocked else None
        if inside is not None:
            pos = inside
            continue
        number_end = match.end("digits") if match.group("digits") else match.end("words")
        glued = GLUED_AFTER_RE.match(text, number_end) if match.group("digits") else text.startswith("-", number_end)
        if glued and match.end() == number_end:
            pos = GLUED_RE.match(text, number_end).end()
            continue
        first = _read_atom(match)
        if first is None:
            pos = match.end()
            continue
        if _is_label(text, match) or _is_ratio(text, first):
            # the whole label goes, with any "-1" or "/2" joined to it ("Arsenal 2-1")
            pos = LABEL_TAIL_RE.match(text, number_end).end()
            continue
        mention = _read_from(text, first)
        mentions.append(mention)
        pos = max(mention.end, first.end)
    return mentions


def _atom_scan_text(text: str) -> tuple[str, re.Pattern]:
    """The text `_next_atom_start` scans and the pattern it scans with. ASCII text (most
    passages) is lower-cased for the case-sensitive pattern: there lower() only turns A-Z into
    a-z, which IGNORECASE equates, and keeps every offset, digit, sign and word boundary."""
    if text.isascii():
        return text.lower(), _ATOM_START_SCAN_LOWER_RE
    return text, _ATOM_START_SCAN_RE


def _next_atom_start(text: str, scanner: re.Pattern, pos: int) -> int | None:
    """`ATOM_START_RE.search(text, pos).start()`, or None, from the matches of `scanner` (see
    `_atom_scan_text` for the pair to pass)."""
    if pos == 0 and ATOM_START_RE.match(text):
        return 0  # no character before it to scan
    scan_from = max(pos - 1, 0)  # the character before `pos` may precede a word at `pos`
    while (match := scanner.search(text, scan_from)) is not None:
        at = match.start()
        if at >= pos and (text[at] in _ATOM_SIGNS or text[at].isdecimal()):  # isdecimal() is sre's \d
            return at
        if match.group("word") is not None:
            return at + 1
        scan_from = at + 1
    return None


def _is_label(text: str, match: re.Match) -> bool:
    """A bare number in digits that names rather than counts ("Article 5", "Windows 10", "iOS 18.2")."""
    digits = match.group("digits")
    if not digits or "," in digits or match.group("neg") or match.group("cur_pre") or match.group("pct"):
        return False
    if LABEL_BEFORE_RE.search(text, max(0, match.start() - 20), match.start()):
        return True
    before = NAME_BEFORE_RE.search(text, max(0, match.start() - 40), match.start())
    if before is None:
        return False
    word = before.group("name")
    return word.lower() not in NOT_LABEL_WORDS and DATE_BEFORE_RE.search(word + " ") is None


def _is_ratio(text: str, atom: _Atom) -> bool:
    """Either term of "one in five" / "1 in 10": a proportion that states no count."""
    if RATIO_BEFORE_RE.search(text, max(0, atom.start - 20), atom.start):
        return True
    return atom.value == 1 and atom.scale == 1 and RATIO_AFTER_RE.match(text, atom.end) is not None


def _range_ends_agree(text: str, first: _Atom, second: _Atom) -> bool:
    """Whether two values can be the ends of one range: same kind, and no "rose from X to Y"."""
    if first.is_percent and second.currency or first.currency and second.is_percent:
        return False
    if first.currency and second.currency and first.currency != second.currency:
        return False
    separator = text[first.end:second.start].strip().lower()
    return not (separator == "to" and CHANGE_FROM_BEFORE_RE.search(text, max(0, first.start - 80), first.start))


def _read_from(text: str, first: _Atom) -> NumberMention:
    """Complete a mention from its first value: the range's second end, then the unit noun."""
    start = first.start
    between = BETWEEN_BEFORE_RE.search(text, max(0, start - 12), start)
    last = first
    separator = RANGE_SEP_RE.match(text, first.end)
    if separator is not None and (separator.group(0).strip().lower() != "and" or between is not None):
        second = _read_atom(ATOM_RE.match(text, separator.end()))
        if (
            second is not None and second.is_spelled == first.is_spelled and not GLUED_AFTER_RE.match(text, second.end)
            and _range_ends_agree(text, first, second)
        ):
            last = second
    is_range = last is not first
    if is_range and between is not None:
        start = between.start()

    scale_low = first.scale
    if is_range and first.scale == 1.0 and last.scale != 1.0 and first.value <= last.value:
        scale_low = last.scale
    currency = first.currency or last.currency
    is_percent = first.is_percent or last.is_percent
    low, high = first.value * scale_low, last.value * last.scale

    end = last.end
    unit_text: str | None = None
    unit: str | None = None
    known = False
    if currency:
        unit, unit_text, known = currency, first.currency_text or last.currency_text, True
    elif is_percent:
        unit, unit_text, known = "percent", "%" if "%" in text[first.start:last.end] else "percent", True
    else:
        phrase_end, head, normalised, known = _noun_phrase(text, end)
        if normalised is not None:
            end, unit_text = phrase_end, head
            unit, factor = normalised
            low, high = low * factor, high * factor
    kind = _classify(text, first, last, has_known_unit=known, unit=unit, end=end)
    if kind != "quantity":
        start, end = first.start, (TIME_AFTER_RE.match(text, first.end).end() if kind == "time" else last.end)
        low, high, unit, unit_text = first.value, last.value, None, None
    return NumberMention(
        start=start,
        end=end,
        text=text[start:end],
        value_low=_clean(low),
        value_high=_clean(high),
        unit=unit,
        unit_text=unit_text,
        is_money=currency is not None,
        currency=currency,
        is_percent=is_percent,
        scale=last.scale,
        is_range=is_range,
        is_spelled=first.is_spelled,
        kind=kind,
    )


def _clean(value: float) -> float:
    """Round away binary noise from scaling ("1.1 million" -> 1100000.0, not 1100000.0000000002)."""
    if value == 0 or not math.isfinite(value):
        return value
    if value.is_integer() and -1e12 < value < 1e12:
        return value  # at most 12 digits: "{:.12g}" writes it exactly, so it reads back the same
    return float(f"{value:.12g}")
