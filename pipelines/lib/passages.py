"""Passages: split documents into paragraphs with exact offsets, and mark boilerplate.

A passage is one non-blank line of the decoded text, stripped of surrounding whitespace; its
`char_start`/`char_end` index the document text so `text[char_start:char_end]` is the
passage. Everything is Polars expressions over the whole batch — no per-document Python loop.

Boilerplate is marked, never deleted: donation appeals, related-link lists, navigation,
datelines, captions, disclaimers and bylines keep their text and get a reason. The rules are
data (`pipelines/data/boilerplate_rules.json`) so a new outlet's template is a new rule, not code.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

DEFAULT_RULES_PATH = Path(__file__).resolve().parent.parent / "data" / "boilerplate_rules.json"

PASSAGES_SCHEMA = {
    "passage_id": pl.Utf8,
    "doc_id": pl.Utf8,
    "ordinal": pl.Int32,
    "char_start": pl.Int32,
    "char_end": pl.Int32,
    "text": pl.Utf8,
    "is_boilerplate": pl.Boolean,
    "boilerplate_reason": pl.Utf8,
}


@dataclass(frozen=True)
class BoilerplateRule:
    reason: str
    scope: str  # "line" | "block"
    pattern: str
    max_words: int | None


@dataclass(frozen=True)
class BoilerplateRules:
    rules: tuple[BoilerplateRule, ...]


def load_boilerplate_rules(path: Path | None = None) -> BoilerplateRules:
    """Read and validate the rules file; a bad file raises ValueError naming the path and rule."""
    path = Path(path or DEFAULT_RULES_PATH)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"boilerplate rules {path}: cannot read JSON ({err})") from None
    rules = []
    for i, item in enumerate(raw.get("rules", [])):
        try:
            rule = BoilerplateRule(
                reason=str(item["reason"]),
                scope=str(item["scope"]),
                pattern=str(item["pattern"]),
                max_words=item.get("max_words"),
            )
        except KeyError as err:
            raise ValueError(f"boilerplate rules {path}: rule {i} lacks {err}") from None
        if rule.scope not in {"line", "block"}:
            raise ValueError(f"boilerplate rules {path}: rule {i} ({rule.reason}) has scope {rule.scope!r}")
        try:
            pl.select(pl.lit("probe").str.contains(rule.pattern))
        except pl.exceptions.PolarsError as err:
            raise ValueError(f"boilerplate rules {path}: rule {i} ({rule.reason}) has an invalid pattern: {err}") from None
        rules.append(rule)
    if not rules:
        raise ValueError(f"boilerplate rules {path}: no rules")
    return BoilerplateRules(tuple(rules))


def split_passages(documents: pl.DataFrame) -> pl.DataFrame:
    """One row per non-blank line of each document (`doc_id`, `text` in), with offsets.

    Offsets are character offsets: a line's start is the sum of the lengths of the lines
    before it plus their newline characters.
    """
    if documents.is_empty():
        return pl.DataFrame(schema={k: v for k, v in PASSAGES_SCHEMA.items() if k not in {"is_boilerplate", "boilerplate_reason"}})
    lines = (
        documents.select("doc_id", pl.col("text").str.split("\n").alias("line"))
        .explode("line")
        .with_columns(n=pl.col("line").str.len_chars())
        .with_columns(line_start=(pl.col("n") + 1).cum_sum().over("doc_id") - (pl.col("n") + 1))
        .with_columns(
            lead=pl.col("n") - pl.col("line").str.strip_chars_start().str.len_chars(),
            body=pl.col("line").str.strip_chars(),
        )
        .filter(pl.col("body").str.len_chars() > 0)
        .with_columns(
            char_start=(pl.col("line_start") + pl.col("lead")).cast(pl.Int32),
            ordinal=(pl.int_range(pl.len()).over("doc_id") + 1).cast(pl.Int32),
        )
        .with_columns(char_end=(pl.col("char_start") + pl.col("body").str.len_chars()).cast(pl.Int32))
    )
    return lines.select(
        passage_id=pl.col("doc_id") + pl.lit("-p") + pl.col("ordinal").cast(pl.Utf8).str.zfill(4),
        doc_id="doc_id",
        ordinal="ordinal",
        char_start="char_start",
        char_end="char_end",
        text="body",
    )


def mark_boilerplate(passages: pl.DataFrame, rules: BoilerplateRules) -> pl.DataFrame:
    """Add `is_boilerplate` and `boilerplate_reason`; the first rule that applies names the reason.

    Block rules are a segmented forward fill: a header line opens the block, and the block
    runs on through following passages of the same document until one has more words than
    the rule allows.
    """
    ordered = passages.sort("doc_id", "ordinal")
    reasons = []
    for i, rule in enumerate(rules.rules):
        hit = pl.col("text").str.contains(rule.pattern)
        if rule.scope == "line":
            reasons.append(pl.when(hit).then(pl.lit(rule.reason)))
            continue
        breaks = pl.lit(False) if rule.max_words is None else _more_words_than(rule.max_words)
        state = (
            pl.when(hit).then(pl.lit(True)).when(breaks).then(pl.lit(False)).otherwise(None)
            .forward_fill().over("doc_id").fill_null(False)
        )
        reasons.append(pl.when(state).then(pl.lit(rule.reason)))
    reason = pl.coalesce(reasons) if reasons else pl.lit(None, dtype=pl.Utf8)
    return (
        ordered.with_columns(boilerplate_reason=reason.cast(pl.Utf8))
        .with_columns(is_boilerplate=pl.col("boilerplate_reason").is_not_null())
        .select(list(PASSAGES_SCHEMA))
        .cast(PASSAGES_SCHEMA)
    )


# Up to this many words a passage's "more than n words" is one anchored regex that stops at
# word n + 1 (Rust's regex size limit allows about 1,000); above it, the words are counted.
# At 100,000 articles (1.6 million passages) the regex took 0.3 s for the related-links rule's
# 25 words, counting every passage's words 1.9 s: the longest part of marking boilerplate.
MAX_WORDS_BY_REGEX = 200


def _more_words_than(n: int) -> pl.Expr:
    """Whether a passage has more than `n` words (maximal runs of non-space characters)."""
    if n > MAX_WORDS_BY_REGEX:
        return pl.col("text").str.count_matches(r"\S+") > n
    return pl.col("text").str.contains(rf"^\s*(?:\S+\s+){{{n}}}\S")
