"""Ingest: decode raw file bytes and read the provenance a text states about itself.

Pure functions: bytes and strings in, records and Polars frames out. The raw folder itself is
read by the `RawFolder` resource; this module never touches the file system.

Decoding order, and why:
1. a UTF-8 byte-order mark means UTF-8 (the mark is dropped, so offsets start at the text);
2. strict UTF-8 — almost every modern file, and a legacy file that happens to be valid UTF-8
   is overwhelmingly likely to be plain ASCII;
3. otherwise charset-normalizer picks the legacy encoding. It often ranks several single-byte
   code pages equally (cp1250, cp1252 and cp1257 decode English text to the same chaos score);
   among the equally good ones we prefer the code pages news text is most often written in.
"""

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import polars as pl

UTF8_BOM = b"\xef\xbb\xbf"

# Tie-break among legacy encodings that charset-normalizer scores equally.
PREFERRED_LEGACY_ENCODINGS = ("cp1252", "latin_1", "iso8859_15", "cp1251", "koi8_r", "cp1250")

# Share of control characters (other than tab, newline, carriage return, form feed) above
# which a decoded file is treated as binary rather than text.
MAX_CONTROL_CHAR_SHARE = 0.01
# C0 control characters other than tab, line feed, form feed and carriage return (counted with
# one regex scan: a translate table copies the whole text to count them)
_CONTROLS_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in range(32) if chr(c) not in "\t\n\r\f") + "]")


class RejectedFile(Exception):
    """A raw file that cannot become a document; `reason` is a short code, `detail` for humans."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def too_large_detail(size: int, max_bytes: int) -> str:
    return f"{size} bytes is over the configured limit of {max_bytes} bytes (raise raw_folder.max_file_bytes to read it)"


def doc_id_for(content_sha256: str) -> str:
    """Document ids are derived from content, so reruns and run order never change them."""
    return content_sha256[:16]


def decode_bytes(data: bytes) -> DecodedText:
    """Decode raw bytes to text, or raise `RejectedFile` saying why it is not text."""
    if not data.strip():
        raise RejectedFile("empty", "the file has no content (or only whitespace)")
    if data.startswith(UTF8_BOM):
        return _checked(DecodedText(_decode_bom_utf8(data[len(UTF8_BOM):]), "utf_8_sig"))
    try:
        return _checked(DecodedText(data.decode("utf-8"), "utf_8"))
    except UnicodeDecodeError:
        pass
    return _checked(_detect_legacy(data))


def _decode_bom_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RejectedFile(
            "undecodable", f"starts with a UTF-8 byte-order mark but is not valid UTF-8 ({err.reason} at byte {err.start})"
        ) from None


def _detect_legacy(data: bytes) -> DecodedText:
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise RejectedFile("undecodable", "no text encoding decodes this file (binary data?)")
    best = matches[0]
    ties = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    for preferred in PREFERRED_LEGACY_ENCODINGS:
        for match in ties:
            if preferred in match.could_be_from_charset:
                return DecodedText(data.decode(preferred), preferred)
    return DecodedText(str(best), best.encoding)


def _checked(decoded: DecodedText) -> DecodedText:
    text, encoding = decoded.text, decoded.encoding
    if "\x00" in text and text.count("\x00") / len(text) <= MAX_CONTROL_CHAR_SHARE:
        # a few stray NULs (a truncated write, a bad export) in otherwise good text
        text, encoding = text.replace("\x00", ""), encoding + "+nul_removed"
    repaired = _repair_mojibake(text)
    if repaired != text:
        text, encoding = repaired, encoding + "+ftfy"
    decoded = DecodedText(text, encoding)
    controls = len(_CONTROLS_RE.findall(text))
    if text and controls / len(text) > MAX_CONTROL_CHAR_SHARE:
        raise RejectedFile(
            "binary", f"{controls} control characters in {len(text)} decoded characters; not a text file"
        )
    if not text.strip():
        raise RejectedFile("empty", "the decoded text is only whitespace")
    return decoded


def _repair_mojibake(text: str) -> str:
    """Undo text that was decoded with the wrong code page upstream ("â€™" for "’").

    Only the encoding fix is applied — no quote uncurling or normalisation — so clean text is
    left byte-for-byte alone; the repaired text is what is stored, so offsets stay honest.
    ftfy returns a text unchanged unless its badness test finds mojibake, and that test is
    run here only around the text's non-ASCII characters (`looks_mojibaked`).
    """
    if not looks_mojibaked(text):
        return text
    import ftfy

    return ftfy.fix_encoding(text)


def looks_mojibaked(text: str) -> bool:
    """ftfy's `is_bad(text)`, searched only near non-ASCII characters.

    ftfy's badness regex matches at most `_BADNESS_WIDTH` characters, every match holds a
    non-ASCII character, and its only anchor is the start of the text (all three checked from
    the regex itself at import; when they cannot be shown, the whole text is searched). So a
    match lies within `_BADNESS_WIDTH` characters of a non-ASCII one, and searching those
    stretches gives the same answer as searching everything, several times faster on news
    copy, where most characters are ASCII.
    """
    from ftfy.badness import BADNESS_RE

    width = _badness_width()
    if width is None:
        return BADNESS_RE.search(text) is not None
    low = high = -1
    for found in _NON_ASCII_RE.finditer(text):
        at = found.start()
        if at - (width - 1) > high:
            if high >= 0 and BADNESS_RE.search(text, low, high):
                return True
            low = max(0, at - (width - 1))
        high = at + width
    return high >= 0 and BADNESS_RE.search(text, low, high) is not None


_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")


@lru_cache(maxsize=1)
def _badness_width() -> int | None:
    """The longest match of ftfy's badness regex, when every match must hold a non-ASCII
    character and the only anchor is the text's start; None when that cannot be shown."""
    try:
        from re import _constants as sre
        from re import _parser as sre_parse

        from ftfy.badness import BADNESS_RE

        parsed = sre_parse.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
    except Exception:  # another Python or ftfy: search the whole text
        return None

    def non_ascii_only(op, av) -> bool:
        if op == sre.LITERAL:
            return av >= 128
        if op == sre.IN:
            return all((o == sre.LITERAL and a >= 128) or (o == sre.RANGE and a[0] >= 128) for o, a in av)
        return False

    def anchors(items) -> set:
        found = set()
        for op, av in items:
            if op == sre.AT:
                found.add(av)
            elif op == sre.BRANCH:
                for branch in av[1]:
                    found |= anchors(branch.data)
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                found |= anchors(av[2].data)
            elif op in (sre.SUBPATTERN, sre.ATOMIC_GROUP):
                found |= anchors(av[-1].data)
            elif op in (sre.ASSERT, sre.ASSERT_NOT, sre.GROUPREF, sre.GROUPREF_EXISTS):
                found.add(op)
        return found

    top = parsed.data
    branches = [b.data for b in top[0][1][1]] if len(top) == 1 and top[0][0] == sre.BRANCH else [top]
    every_match_non_ascii = all(any(non_ascii_only(op, av) for op, av in branch) for branch in branches)
    width = parsed.getwidth()[1]
    if not every_match_non_ascii or anchors(top) - {sre.AT_BEGINNING} or width >= sre.MAXREPEAT:
        return None
    return width


# --- provenance the text states about itself ---------------------------------------------

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_TZ = r"(?:UTC|GMT|EST|EDT|CST|CDT|MST|MDT|PST|PDT|CET|CEST|EET|EEST|MSK|KST|JST|BST)"
# A dateline is a short line that is mostly a date: "Oct 25, 2024 21:01 325",
# "6:19 PM EST, November 4, 2024", "November 4, 2024".
DATELINE_PATTERNS = (
    re.compile(
        rf"^(?P<date>{_MONTH}\s+\d{{1,2}},\s+\d{{4}}(?:\s+\d{{1,2}}:\d{{2}}(?:\s*[AP]M)?(?:\s+{_TZ})?)?)(?:\s+\d+)?\s*$",
        re.IGNORECASE,
    ),
    re.compile(
        rf"^(?P<date>\d{{1,2}}:\d{{2}}\s*[AP]M(?:\s+{_TZ})?,?\s+{_MONTH}\s+\d{{1,2}},\s+\d{{4}})\s*$",
        re.IGNORECASE,
    ),
    re.compile(r"^(?P<date>\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?)\s*$"),
)
_TZ_OFFSETS_H = {
    "UTC": 0, "GMT": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
    "PST": -8, "PDT": -7, "CET": 1, "CEST": 2, "EET": 2, "EEST": 3, "MSK": 3, "KST": 9,
    "JST": 9, "BST": 1,
}
_TZINFOS = {name: timezone(timedelta(hours=h)) for name, h in _TZ_OFFSETS_H.items()}

# Lines that name the outlet the text was taken from.
OUTLET_PATTERNS = (
    re.compile(r"^A Message from (?P<outlet>[A-Z][\w.&' -]{1,60}?):?\s*$"),
    re.compile(r"^(?:Last|Latest) news (?:in|from) (?P<outlet>[A-Z][\w.&'-]{1,40})\s*$"),
    re.compile(r"^(?P<outlet>[A-Z][A-Z0-9.&'-]{1,40}) publishes\b"),
    re.compile(r"^(?:Source|Published by|Originally published (?:by|in)):?\s+(?P<outlet>[A-Z][\w.&' -]{1,60}?)\.?\s*$"),
)
# Lines at the head of a page that are neither title nor body.
_HEAD_NOISE = re.compile(r"^(?:Home|Menu|Search|Share|Subscribe|Log ?in|Sign in)\b", re.IGNORECASE)
TITLE_MAX_CHARS = 160
HEAD_LINES = 8


@dataclass(frozen=True)
class StatedProvenance:
    title: str | None
    outlet: str | None
    published_at: datetime | None


def parse_dateline(line: str) -> datetime | None:
    """The UTC time a dateline states, or None when the line is not a dateline."""
    stripped = line.strip()
    for pattern in DATELINE_PATTERNS:
        match = pattern.match(stripped)
        if match:
            return _utc_stamp(match.group("date"))
    return None


# The datelines' usual shapes, read field by field: "Nov 4, 2024 06:19", "November 4, 2024",
# "6:19 PM UTC, November 4, 2024". dateutil's general parser took half of parsing a generated
# article (0.16 of 0.32 ms); these give the same time (tests compare them over every month
# spelling, zone, hour and day) and anything else goes to dateutil.
_MONTH_NUMBERS = {name: i for i, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_CLOCK = rf"(?P<hour>\d{{1,2}}):(?P<minute>\d{{2}})(?:\s*(?P<half>[AP])M)?(?:\s+(?P<tz>{_TZ}))?"
_DAY = rf"(?P<month>{_MONTH})\s+(?P<day>\d{{1,2}}),\s+(?P<year>\d{{4}})"
_SIMPLE_DATES = (
    re.compile(rf"{_DAY}(?:\s+{_CLOCK})?", re.IGNORECASE),
    re.compile(rf"{_CLOCK},?\s+{_DAY}", re.IGNORECASE),
)


def _simple_stamp(date: str) -> datetime | None:
    """The naive UTC time of a dateline in one of the usual shapes, or None when it is in none
    of them or names an impossible time (dateutil then decides)."""
    for pattern in _SIMPLE_DATES:
        match = pattern.fullmatch(date)
        if match:
            break
    else:
        return None
    month = _MONTH_NUMBERS[match["month"][:3].lower()]
    hour, minute = int(match["hour"] or 0), int(match["minute"] or 0)
    half, zone = match["half"], match["tz"]
    # dateutil knows the zones by their upper-case names only
    if minute > 59 or (hour > 23 if half is None else not 1 <= hour <= 12) or (zone is not None and not zone.isupper()):
        return None
    if half is not None:
        hour = hour % 12 + (12 if half.upper() == "P" else 0)
    try:
        stamp = datetime(int(match["year"]), month, int(match["day"]), hour, minute)
    except ValueError:
        return None
    return stamp - timedelta(hours=_TZ_OFFSETS_H[zone.upper()]) if zone is not None else stamp


def _utc_stamp(date: str) -> datetime | None:
    """The naive UTC time of a dateline's date, or None when it cannot be read."""
    stamp = _simple_stamp(date)
    if stamp is not None:
        return stamp
    from dateutil import parser as date_parser

    try:
        stamp = date_parser.parse(date, tzinfos=_TZINFOS)
    except (ValueError, OverflowError):
        return None
    if stamp.tzinfo is not None:
        stamp = stamp.astimezone(timezone.utc).replace(tzinfo=None)
    return stamp


def read_stated_provenance(text: str) -> StatedProvenance:
    """Title, outlet and publication time where the text states them; None where it does not.

    The title is the first line of the head when it reads like a headline (short, no
    sentence-final punctuation); a first line that is a sentence means the text has no title.
    The outlet may be stated anywhere (a donation appeal at the end names it); the dateline
    only in the head.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    outlet = next((m.group("outlet").strip() for line in lines for p in OUTLET_PATTERNS if (m := p.match(line))), None)
    head_stamps = [parse_dateline(line) for line in lines[:HEAD_LINES]]
    published_at = next((stamp for stamp in head_stamps if stamp), None)
    title = None
    for line, stamp in zip(lines[:HEAD_LINES], head_stamps):
        if _HEAD_NOISE.match(line) or any(p.match(line) for p in OUTLET_PATTERNS) or stamp:
            continue
        if _reads_like_headline(line):
            title = line
        break
    return StatedProvenance(title=title, outlet=outlet, published_at=published_at)


def _reads_like_headline(line: str) -> bool:
    words = line.split()
    return 3 <= len(words) and len(line) <= TITLE_MAX_CHARS and not line.endswith((".", ":", ";", ",", "”", '"'))


DOCUMENT_PROVENANCE_SCHEMA = {"title": pl.Utf8, "outlet": pl.Utf8, "published_at": pl.Datetime("us")}


def provenance_frame(texts: list[str]) -> pl.DataFrame:
    """`read_stated_provenance` for many texts, as a frame aligned with the input list."""
    rows = [read_stated_provenance(t) for t in texts]
    return pl.DataFrame(
        {
            "title": [r.title for r in rows],
            "outlet": [r.outlet for r in rows],
            "published_at": [r.published_at for r in rows],
        },
        schema=DOCUMENT_PROVENANCE_SCHEMA,
    )


# --- file formats --------------------------------------------------------------------------

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")


@dataclass(frozen=True)
class ParsedDocument:
    """One document from a raw file; a .jsonl file gives one per line."""

    source_path: str
    content_sha256: str
    size_bytes: int
    encoding: str
    text: str
    title: str | None
    outlet: str | None
    published_at: datetime | None


@dataclass(frozen=True)
class Rejection:
    source_path: str
    content_sha256: str | None
    reason: str
    detail: str


def parse_raw_file(source_path: str, data: bytes, max_bytes: int) -> list[ParsedDocument | Rejection]:
    """Every document a raw file holds, and every part of it that cannot be one, with the reason."""
    sha = sha256_hex(data)
    suffix = "." + source_path.rsplit(".", 1)[-1].lower() if "." in source_path else ""
    try:
        if suffix not in SUPPORTED_SUFFIXES:
            raise RejectedFile(
                "unsupported_type", f"{suffix or 'no suffix'}: only {', '.join(SUPPORTED_SUFFIXES)} files are read"
            )
        if suffix == ".jsonl":
            return _parse_jsonl(source_path, data, max_bytes)
        if len(data) > max_bytes:
            raise RejectedFile("too_large", too_large_detail(len(data), max_bytes))
        decoded = decode_bytes(data)
        if suffix in (".html", ".htm"):
            return [_parse_html(source_path, sha, len(data), decoded)]
        stated = read_stated_provenance(decoded.text)
        return [ParsedDocument(source_path, sha, len(data), decoded.encoding, decoded.text,
                               stated.title, stated.outlet, stated.published_at)]
    except RejectedFile as err:
        return [Rejection(source_path, sha, err.reason, err.detail)]


def _parse_html(source_path: str, sha: str, size: int, decoded: DecodedText) -> ParsedDocument:
    """Main text by trafilatura (a maintained boilerplate remover); date and site from the page metadata."""
    import trafilatura

    extracted = trafilatura.bare_extraction(decoded.text, with_metadata=True, include_comments=False)
    fields = extracted.as_dict() if extracted is not None else {}
    text = (fields.get("text") or "").strip()
    if not text:
        raise RejectedFile("no_main_text", "the HTML page has no main text that could be extracted")
    published_at = None
    if fields.get("date"):
        published_at = parse_dateline(fields["date"])
    return ParsedDocument(source_path, sha, size, decoded.encoding + "+html", text,
                          fields.get("title"), fields.get("sitename"), published_at)


def _parse_jsonl(source_path: str, data: bytes, max_bytes: int) -> list[ParsedDocument | Rejection]:
    return list(iter_jsonl(source_path, data.splitlines(keepends=True), max_bytes))


def iter_jsonl(
    source_path: str, lines: Iterable[bytes], max_bytes: int, hasher=None
) -> Iterator[ParsedDocument | Rejection]:
    """One article per line: `text` required; `url`, `outlet`, `published_at`, `title` optional.

    Streamed: `lines` may be an open binary file, so a feed of any size is read one line at a
    time; `max_bytes` limits one line (one article), not the feed. A bad line is rejected with
    its line number; the good lines are ingested. A line's content hash is of its own bytes
    (line end excluded), so one article in two feeds is one document. Each line is decoded on
    its own (JSON is UTF-8; a legacy line is detected like a file). `hasher`, when given, is
    fed every byte, so the caller gets the whole file's hash without reading it twice.
    """
    hasher = hasher if hasher is not None else hashlib.sha256()
    produced = False
    for number, line_end in enumerate(lines, start=1):
        hasher.update(line_end)
        raw = line_end.rstrip(b"\r\n")
        if number == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM):]
        if not raw.strip():
            continue
        produced = True
        where = f"{source_path}#line={number}"
        sha = sha256_hex(raw)
        if len(raw) > max_bytes:
            yield Rejection(where, sha, "too_large", f"line {number} is {len(raw)} bytes, over the configured limit of {max_bytes} bytes")
            continue
        try:
            decoded = decode_bytes(raw)
        except RejectedFile as err:
            yield Rejection(where, sha, "bad_jsonl_line", f"line {number} is not text: {err.detail}")
            continue
        try:
            item = json.loads(decoded.text)
        except json.JSONDecodeError as err:
            yield Rejection(where, sha, "bad_jsonl_line", f"line {number} is not JSON: {err.msg} at column {err.colno}")
            continue
        text = item.get("text") if isinstance(item, dict) else None
        if not isinstance(text, str) or not text.strip():
            yield Rejection(where, sha, "bad_jsonl_line", f"line {number} has no non-empty \"text\" string")
            continue
        stated = read_stated_provenance(text)
        published_at = None
        if isinstance(item.get("published_at"), str):
            published_at = parse_dateline(item["published_at"]) or _parse_any_date(item["published_at"])
        yield ParsedDocument(
            where, sha, len(raw), decoded.encoding + "+jsonl", text,
            item.get("title") if isinstance(item.get("title"), str) else stated.title,
            item.get("outlet") if isinstance(item.get("outlet"), str) else stated.outlet,
            published_at or stated.published_at,
        )
    if not produced:
        yield Rejection(source_path, hasher.hexdigest(), "empty", "the .jsonl file has no lines")


def _parse_any_date(value: str) -> datetime | None:
    from dateutil import parser as date_parser

    try:
        stamp = date_parser.parse(value, tzinfos=_TZINFOS)
    except (ValueError, OverflowError):
        return None
    return stamp.astimezone(timezone.utc).replace(tzinfo=None) if stamp.tzinfo else stamp
