"""Blocking Great Expectations checks, one per published table.

Each check loads its table from the warehouse, runs the table's suite from `expectations/`
(Great Expectations 1.x, called directly), records the result in `validation_results`, renders
Data Docs, and fails — blocking everything downstream, publication included — when a
structural expectation fails or a row-level one fails for more than its `mostly` share.
"""

import json
from pathlib import Path

import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    ConfigurableResource,
    MetadataValue,
    asset_check,
)

from pipelines.defs.common import markdown_table, table_frame, utc_now
from pipelines.defs.resources import PROJECT_ROOT, Warehouse, read_frame, setting_path, sql_file, transaction
from pipelines.lib.validation import (
    Suite,
    check_claim_references,
    check_passage_offsets,
    check_quote_offsets,
    load_suite,
    validate_frame,
)

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

# table → the asset that writes it
CHECKED_TABLES = {
    "documents": "documents",
    "rejected_files": "rejected_files",
    "passages": "passages",
    "passage_clusters": "passage_clusters",
    "claims": "claims",
    "quarantine": "quarantine",
    "facts": "facts",
}


class ValidationSettings(ConfigurableResource):
    """Where the suites are read from and where Data Docs are written (beside the warehouse)."""

    expectations_dir: str = ""
    data_docs_dir: str = ""

    def suite(self, table: str) -> Suite:
        return load_suite(Path(self.expectations_dir or EXPECTATIONS_DIR) / f"{table}.json")

    def all_suites(self) -> dict[str, Suite]:
        """Every suite, loaded and verified: a broken one is found before a run does any work."""
        return {table: self.suite(table) for table in (*CHECKED_TABLES, "release")}

    def docs_dir(self, table: str) -> Path:
        base = Path(self.data_docs_dir) if self.data_docs_dir else setting_path("CLAIMWIRE_WAREHOUSE").parent / "data_docs"
        return base / table


def _frame_for(conn, table: str) -> pl.DataFrame:
    if table == "claims":
        # The share that row-level rules allow to fail is a share of every extracted claim:
        # validate kept and quarantined rows together.
        kept = table_frame(conn, "claims")
        held = read_frame(conn, "select * exclude (failed_check, reason) from quarantine")
        return pl.concat([kept, held.select(kept.columns).cast(kept.schema)])
    # texts are checked by their length here (and against the document text, chunk by chunk, in
    # the cross-table rules): loading every text would cost the corpus's size
    if table == "passages":
        return read_frame(conn, f"select * exclude (text), length(text) as text_length from ({sql_file('select_published_passages')})")
    if table == "documents":
        return read_frame(conn, "select * exclude (text), length(text) as text_length from documents")
    if table == "facts":
        # a fact's claim ids (every mention of it) are checked by their count
        return read_frame(conn, "select * exclude (claim_ids), len(claim_ids) as n_claim_ids from facts")
    return table_frame(conn, table)


# Documents whose texts are held at once while spans are compared with them.
SPAN_CHECK_DOCUMENTS = 20_000


def _document_ranges(conn, size: int = SPAN_CHECK_DOCUMENTS) -> list[tuple[str | None, str | None]]:
    """doc_id ranges [low, high) of about `size` documents that cover every possible doc_id (the
    first is open below, the last above), so a row whose document is missing still falls in one."""
    ids = read_frame(conn, "select doc_id from documents order by doc_id")["doc_id"]
    bounds = ids.gather_every(size).to_list()[1:]
    return list(zip([None, *bounds], [*bounds, None]))


def _in_range(low: str | None, high: str | None) -> pl.Expr:
    return (pl.lit(True) if low is None else pl.col("doc_id") >= low) & (pl.lit(True) if high is None else pl.col("doc_id") < high)


def _documents_in(conn, low: str | None, high: str | None) -> pl.DataFrame:
    return read_frame(
        conn,
        "select doc_id, text from documents where ($low is null or doc_id >= $low) and ($high is null or doc_id < $high)",
        {"low": low, "high": high},
    )


def _cross_table_failures(conn, table: str) -> pl.DataFrame | None:
    """Rules that span tables: claims point at real passages and documents, and every span
    (claim quote, passage text) is the document text at its offsets. Spans are compared one
    range of documents at a time, so the texts held at once are a chunk's, not the corpus's."""
    if table not in {"claims", "passages"}:
        return None
    published = f"({sql_file('select_published_passages')})"
    ranges = _document_ranges(conn)
    if table == "passages":
        return pl.concat(
            [
                check_passage_offsets(
                    read_frame(
                        conn,
                        f"select passage_id, doc_id, char_start, char_end, text from {published} "
                        "where ($low is null or doc_id >= $low) and ($high is null or doc_id < $high) order by doc_id, char_start",
                        {"low": low, "high": high},
                    ),
                    _documents_in(conn, low, high),
                )
                for low, high in ranges
            ]
        )
    claims = table_frame(conn, "claims")
    passages = read_frame(conn, f"select passage_id, doc_id, char_start, char_end, cluster_id from {published}")
    references = check_claim_references(claims, passages, read_frame(conn, "select doc_id from documents"))
    quotes = [check_quote_offsets(claims.filter(_in_range(low, high)), _documents_in(conn, low, high)) for low, high in ranges]
    return pl.concat([references, *quotes], how="diagonal_relaxed")


def build_check(table: str) -> AssetChecksDefinition:
    @asset_check(
        asset=CHECKED_TABLES[table],
        name=f"{table}_expectations",
        blocking=True,
        description=(
            f"Runs expectations/{table}.json with Great Expectations. Structural expectations (keys, "
            "vocabularies, offsets) fail on any row; row-level ones (plausible ranges) fail when more "
            "than their `mostly` share of rows break them. A failure blocks publication."
        ),
    )
    def _check(context: AssetCheckExecutionContext, warehouse: Warehouse, validation: ValidationSettings) -> AssetCheckResult:
        suite = validation.suite(table)
        with warehouse.get_connection() as conn:
            frame = _frame_for(conn, table)
            cross = _cross_table_failures(conn, table)
            report = validate_frame(frame, suite, data_docs_dir=validation.docs_dir(table))
            n_cross = 0 if cross is None else cross.height
            passed = report.success and n_cross == 0
            rows = report.to_metadata_rows()
            n_failed = report.failing_rows["row_index"].n_unique() if report.failing_rows.height else 0
            with transaction(conn):
                conn.execute(
                    "insert into validation_results values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        table, report.suite_name, utc_now(), context.run.run_id, passed, report.n_rows,
                        n_failed + n_cross,
                        str(report.data_docs_index) if report.data_docs_index else None,
                        json.dumps({"expectations": rows, "cross_table_failures": n_cross}, default=str),
                    ],
                )
        metadata = {
            "suite": MetadataValue.text(report.suite_name),
            "rows_validated": MetadataValue.int(report.n_rows),
            "rows_failing_row_level_rules": MetadataValue.int(n_failed),
            "expectations": MetadataValue.md(markdown_table(pl.DataFrame(rows)) if rows else "_none_"),
            "sample_failing_rows": MetadataValue.md(_failing_sample(frame, report.failing_rows)),
        }
        if cross is not None:
            metadata["cross_table_failures"] = MetadataValue.int(n_cross)
            metadata["sample_cross_table_failures"] = MetadataValue.md(markdown_table(cross.head(10)))
        if report.data_docs_index:
            metadata["data_docs"] = MetadataValue.url(Path(report.data_docs_index).resolve().as_uri())
        return AssetCheckResult(passed=passed, severity=AssetCheckSeverity.ERROR, metadata=metadata)

    return _check


def _failing_sample(frame: pl.DataFrame, failing: pl.DataFrame, n: int = 10) -> str:
    if failing.is_empty():
        return "_no failing rows_"
    sample = failing.head(n).join(frame.with_row_index("row_index").with_columns(pl.col("row_index").cast(pl.Int64)), on="row_index", how="left")
    keep = [c for c in ("failed_check", "reason", "claim_id", "doc_id", "quote", "value_low", "value_high", "unit", "measure") if c in sample.columns]
    return markdown_table(sample.select(keep or sample.columns))


table_checks = [build_check(table) for table in CHECKED_TABLES]
