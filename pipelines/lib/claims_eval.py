"""Scoring claim extraction against hand-labelled gold claims.

A gold claim is a quote (and which occurrence of it) in a named article; its span is found in
the article's text. A predicted claim matches a gold claim of the same article when their
spans overlap; a match is correct when (value_low, value_high, unit) agree. Precision, recall
and F1 are over those triples; qualifier, period, measure and attributed_to are scored as
accuracy over the correct matches.

Two kinds of gold file share that scoring. `claims_gold_seeds.jsonl` labels quotes in the sample
articles (`load_gold_claims`). `claims_gold_sentences.jsonl` is self-contained: one JSON object
per sentence (`id`, `sentence`, `topic`, `claims`), each sentence read as a document of one
body passage (`load_gold_sentences`); an empty `claims` list says the sentence states no claim,
so anything extracted from it is a false positive.
"""

import json
from pathlib import Path

import polars as pl

from pipelines.lib.claims import extract_claims, load_aliases, load_taxonomy
from pipelines.lib.ingest import decode_bytes
from pipelines.lib.passages import load_boilerplate_rules, mark_boilerplate, split_passages

ATTRIBUTES = ("qualifier", "period", "measure", "attributed_to")
TRIPLE = ("value_low", "value_high", "unit")


def load_articles(articles_dir: Path) -> pl.DataFrame:
    """`doc_id` (the file name) and decoded `text` of every .txt article in a folder."""
    files = sorted(Path(articles_dir).glob("*.txt"))
    return pl.DataFrame(
        {"doc_id": [f.name for f in files], "text": [decode_bytes(f.read_bytes()).text for f in files]}
    )


def load_gold_claims(path: Path, articles: pl.DataFrame) -> pl.DataFrame:
    """Gold claims with their spans located in the article texts; a quote not found raises."""
    texts = dict(zip(articles["doc_id"], articles["text"]))
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        item = json.loads(line)
        text = texts[item["file"]]
        start = -1
        for _ in range(item.get("occurrence", 0) + 1):
            start = text.find(item["quote"], start + 1)
        if start < 0:
            raise ValueError(f"{path}:{n}: quote {item['quote']!r} not found in {item['file']}")
        rows.append({"doc_id": item["file"], "char_start": start, "char_end": start + len(item["quote"]),
                     **{k: item[k] for k in (*TRIPLE, *ATTRIBUTES)}})
    return pl.DataFrame(rows, schema_overrides={"period": pl.Utf8, "attributed_to": pl.Utf8})


def load_gold_sentences(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(passages, gold claims) of a sentence gold file: each sentence is one document of one passage.

    The passages have the columns `extract_claims` reads, with `doc_id` and `passage_id` the
    sentence's `id`; a gold quote is located in its sentence (`occurrence` picks a repeat) and a
    quote not found raises, naming the line.
    """
    passages, rows, seen = [], [], set()
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        item = json.loads(line)
        sentence_id, sentence = item["id"], item["sentence"]
        if sentence_id in seen:
            raise ValueError(f"{path}:{n}: sentence id {sentence_id!r} is used twice")
        seen.add(sentence_id)
        passages.append({"passage_id": sentence_id, "doc_id": sentence_id, "ordinal": 1, "char_start": 0,
                         "text": sentence, "is_boilerplate": False})
        for claim in item["claims"]:
            start = -1
            for _ in range(claim.get("occurrence", 0) + 1):
                start = sentence.find(claim["quote"], start + 1)
            if start < 0:
                raise ValueError(f"{path}:{n}: quote {claim['quote']!r} not found in sentence {sentence_id}")
            rows.append({"doc_id": sentence_id, "char_start": start, "char_end": start + len(claim["quote"]),
                         **{k: claim[k] for k in (*TRIPLE, *ATTRIBUTES)}})
    passage_schema = {"passage_id": pl.Utf8, "doc_id": pl.Utf8, "ordinal": pl.Int32, "char_start": pl.Int32,
                      "text": pl.Utf8, "is_boilerplate": pl.Boolean}
    gold_schema = {"doc_id": pl.Utf8, "char_start": pl.Int64, "char_end": pl.Int64, "value_low": pl.Float64,
                   "value_high": pl.Float64, "unit": pl.Utf8, **{k: pl.Utf8 for k in ATTRIBUTES}}
    return pl.DataFrame(passages, schema=passage_schema), pl.DataFrame(rows, schema=gold_schema)


def load_sentence_topics(path: Path) -> dict[str, str]:
    """Sentence id -> topic of a sentence gold file."""
    items = (json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip())
    return {item["id"]: item["topic"] for item in items}


def predict_sentence_claims(passages: pl.DataFrame) -> pl.DataFrame:
    """The claims `extract_claims` finds in sentence passages, with the default taxonomy and aliases."""
    return extract_claims(passages, load_taxonomy(), load_aliases())


def predict_claims(articles: pl.DataFrame) -> pl.DataFrame:
    """The claims the pipeline's own functions extract from the articles' body text."""
    passages = mark_boilerplate(split_passages(articles), load_boilerplate_rules())
    return extract_claims(passages, load_taxonomy(), load_aliases())


def score_extraction(predicted: pl.DataFrame, gold: pl.DataFrame) -> dict:
    """Precision / recall / F1 of the value triple, and attribute accuracy on correct matches."""
    pairs = (
        gold.with_row_index("gold_row")
        .join(predicted.with_row_index("pred_row"), on="doc_id", suffix="_pred")
        .filter((pl.col("char_start_pred") < pl.col("char_end")) & (pl.col("char_start") < pl.col("char_end_pred")))
        .with_columns(
            correct=pl.all_horizontal([pl.col(c) == pl.col(f"{c}_pred") for c in TRIPLE]),
            overlap=pl.min_horizontal("char_end", "char_end_pred") - pl.max_horizontal("char_start", "char_start_pred"),
        )
        .sort(["correct", "overlap"], descending=True)
        .unique("gold_row", keep="first")
        .unique("pred_row", keep="first")
    )
    correct = pairs.filter("correct")
    tp = correct.height
    precision = tp / predicted.height if predicted.height else 0.0
    recall = tp / gold.height if gold.height else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    scores = {"n_gold": gold.height, "n_predicted": predicted.height, "n_correct": tp,
              "precision": precision, "recall": recall, "f1": f1}
    for attribute in ATTRIBUTES:
        same = correct.select(pl.col(attribute).eq_missing(pl.col(f"{attribute}_pred")).sum()).item()
        scores[f"{attribute}_accuracy"] = same / tp if tp else 0.0
    return scores
