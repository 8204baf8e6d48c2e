"""Which checks `BackgroundChecks` starts beside the steps, and what it tells them."""

import pytest
from dagster import build_init_resource_context

from pipelines.defs import validate


@pytest.fixture
def started(monkeypatch):
    """The checks started, as (table, rewrites_settled), in order; each returns its table."""
    calls = []

    def fake_check_beside(table, run_id, warehouse, validation, rewrites_settled):
        calls.append((table, rewrites_settled))
        return table

    monkeypatch.setattr(validate, "_check_beside", fake_check_beside)
    return calls


def _runner() -> validate.BackgroundChecks:
    checks = validate.BackgroundChecks()
    checks.setup_for_execution(build_init_resource_context())
    return checks


EVERY_ASSET = set(validate.CHECKED_TABLES.values()) | {"doc_syndication", "consistency", "published"}
EVERY_CHECK = {f"{table}_expectations" for table in validate.CHECKED_TABLES}


def test_each_materialised_table_with_a_check_in_the_plan_starts_once_and_is_taken_once(started):
    checks = _runner()
    plan_reads = []

    def read_plan():
        plan_reads.append(1)
        return EVERY_ASSET, EVERY_CHECK - {"rejected_files_expectations"}

    try:
        assert checks.materialised({"documents", "rejected_files"}, read_plan, "run", None, None) == ["documents"]
        assert checks.materialised({"passages"}, read_plan, "run", None, None) == ["passages"]
        # the dedup step rewrites the passages' clusters: the passages check was told it is to come
        assert checks.materialised({"passage_clusters", "doc_syndication"}, read_plan, "run", None, None) == ["passage_clusters"]
        assert checks.materialised({"claims", "quarantine"}, read_plan, "run", None, None) == ["claims", "quarantine"]
        assert checks.materialised({"documents"}, read_plan, "run", None, None) == []  # never twice
        assert plan_reads == [1]
        results = [checks.take(table).result() for table in ("documents", "passages", "passage_clusters", "claims", "quarantine")]
        assert results == ["documents", "passages", "passage_clusters", "claims", "quarantine"]
        assert started == [
            ("documents", True), ("passages", False), ("passage_clusters", True), ("claims", True), ("quarantine", True)
        ]
        assert checks.take("documents") is None  # taken
        assert checks.take("rejected_files") is None  # not in the plan
    finally:
        checks.teardown_after_execution(build_init_resource_context())


def test_a_rewriting_step_outside_the_run_counts_as_behind(started):
    checks = _runner()
    try:
        assert checks.materialised({"passages"}, lambda: ({"passages"}, {"passages_expectations"}), "run", None, None) == [
            "passages"
        ]
        checks.take("passages").result()
        assert started == [("passages", True)]
    finally:
        checks.teardown_after_execution(build_init_resource_context())


def test_outside_a_run_nothing_starts(started):
    checks = validate.BackgroundChecks()
    assert checks.materialised({"documents"}, lambda: (EVERY_ASSET, EVERY_CHECK), "run", None, None) == []
    assert checks.take("documents") is None
    assert started == []
