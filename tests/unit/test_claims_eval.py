"""Unit tests for pipelines.lib.claims_eval: span matching, scores, and the sentence gold file."""

import json
from pathlib import Path

import polars as pl
import pytest

from pipelines.lib.claims_eval import (
    load_gold_claims,
    load_gold_sentences,
    load_sentence_topics,
    predict_sentence_claims,
    score_extraction,
)

SENTENCES_PATH = Path(__file__).resolve().parents[2] / "tests" / "data" / "claims_gold_sentences.jsonl"

ROW = {"qualifier": "approx", "period": "month", "measure": "pay_per_soldier", "attributed_to": "NIS"}


def _claims(rows):
    return pl.DataFrame(rows, schema_overrides={"period": pl.Utf8, "attributed_to": pl.Utf8})


def test_overlapping_span_with_equal_triple_is_correct():
    gold = _claims([
        {"doc_id": "a", "char_start": 10, "char_end": 16, "value_low": 2000.0, "value_high": 2000.0, "unit": "USD", **ROW},
        {"doc_id": "a", "char_start": 40, "char_end": 52, "value_low": 2e8, "value_high": 2e8, "unit": "USD", **ROW},
    ])
    predicted = _claims([
        # same figure, wider span: correct, but the period is wrong
        {"doc_id": "a", "char_start": 9, "char_end": 16, "value_low": 2000.0, "value_high": 2000.0, "unit": "USD", **ROW, "period": "year"},
        # overlaps the second gold claim with a wrong value: not correct
        {"doc_id": "a", "char_start": 40, "char_end": 44, "value_low": 200.0, "value_high": 200.0, "unit": "USD", **ROW},
        # a claim nobody labelled: a false positive
        {"doc_id": "a", "char_start": 70, "char_end": 72, "value_low": 5.0, "value_high": 5.0, "unit": "percent", **ROW},
    ])
    scores = score_extraction(predicted, gold)
    assert (scores["n_correct"], scores["precision"], scores["recall"]) == (1, 1 / 3, 0.5)
    assert scores["f1"] == pytest.approx(0.4)
    assert scores["period_accuracy"] == 0.0 and scores["measure_accuracy"] == 1.0


def test_gold_quotes_are_located_by_occurrence(tmp_path):
    articles = pl.DataFrame({"doc_id": ["x.txt"], "text": ["$5 then $5 again"]})
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"file": "x.txt", "quote": "$5", "occurrence": 1, "value_low": 5.0, "value_high": 5.0,
                                "unit": "USD", **ROW}) + "\n")
    assert load_gold_claims(gold, articles).select("char_start", "char_end").rows() == [(8, 10)]
    gold.write_text(json.dumps({"file": "x.txt", "quote": "$6", "value_low": 6.0, "value_high": 6.0, "unit": "USD", **ROW}))
    with pytest.raises(ValueError, match=r"gold.jsonl:1: quote '\$6' not found in x.txt"):
        load_gold_claims(gold, articles)


def test_sentence_gold_is_one_document_per_sentence(tmp_path):
    gold = tmp_path / "sentences.jsonl"
    lines = [
        {"id": "s1", "sentence": "Wi said $5 and then $5 again.", "topic": "war",
         "claims": [{"quote": "$5", "occurrence": 1, "value_low": 5.0, "value_high": 5.0, "unit": "USD", **ROW}]},
        {"id": "s2", "sentence": "The G7 met on 3 May.", "topic": "trap", "claims": []},
    ]
    gold.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    passages, claims = load_gold_sentences(gold)
    assert passages.select("passage_id", "doc_id", "ordinal", "char_start", "is_boilerplate").rows() == [
        ("s1", "s1", 1, 0, False), ("s2", "s2", 1, 0, False),
    ]
    assert claims.select("doc_id", "char_start", "char_end", "unit", "attributed_to").rows() == [("s1", 20, 22, "USD", "NIS")]
    assert load_sentence_topics(gold) == {"s1": "war", "s2": "trap"}


def test_sentence_gold_quote_not_found_raises(tmp_path):
    gold = tmp_path / "sentences.jsonl"
    gold.write_text(json.dumps({"id": "s1", "sentence": "No figure.", "topic": "x",
                                "claims": [{"quote": "$6", "value_low": 6.0, "value_high": 6.0, "unit": "USD", **ROW}]}))
    with pytest.raises(ValueError, match=r"sentences.jsonl:1: quote '\$6' not found in sentence s1"):
        load_gold_sentences(gold)


def test_sentence_gold_file_meets_the_targets():
    passages, gold = load_gold_sentences(SENTENCES_PATH)
    assert passages.height >= 150
    scores = score_extraction(predict_sentence_claims(passages), gold)
    assert scores["f1"] >= 0.95
    assert scores["qualifier_accuracy"] >= 0.95 and scores["period_accuracy"] >= 0.95
    assert scores["attributed_to_accuracy"] >= 0.9
