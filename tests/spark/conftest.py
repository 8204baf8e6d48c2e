"""A local Spark session for the Spark tests, and the corpora they compare engines on.

The tests skip, saying why, only when no Java runtime is installed; `.ci/run` sets
CLAIMWIRE_REQUIRE_JAVA so that in CI a missing Java fails instead (`make test` installs it).
"""

import os
from pathlib import Path

import polars as pl
import pytest

from pipelines.lib.ingest import parse_raw_file
from tests.conftest import PROJECT_ROOT

RAW_SEEDS = PROJECT_ROOT / "raw"
GENERATED_ARTICLES = 2000


def require_java() -> None:
    from pipelines.spark.session import java_available

    if not java_available():
        if os.environ.get("CLAIMWIRE_REQUIRE_JAVA"):
            pytest.fail("a Java 17+ runtime is required here (CLAIMWIRE_REQUIRE_JAVA) but `java` is not installed")
        pytest.skip("no Java runtime: Spark needs Java 17+ (`make test` installs openjdk-17-jre-headless when run as root)")


@pytest.fixture(scope="session")
def spark():
    require_java()
    from pipelines.spark.session import start_session

    session = start_session("local[2]")
    yield session
    session.stop()


def read_documents(raw_dir: Path) -> pl.DataFrame:
    """The documents the embedded ingest makes of a folder (doc_id, text, outlet, dates)."""
    from pipelines.lib.ingest import ParsedDocument, doc_id_for

    rows = []
    for path in sorted(p for p in raw_dir.rglob("*") if p.is_file()):
        for part in parse_raw_file(path.relative_to(raw_dir).as_posix(), path.read_bytes(), 50_000_000):
            if isinstance(part, ParsedDocument):
                rows.append({
                    "doc_id": doc_id_for(part.content_sha256), "source_path": part.source_path, "text": part.text,
                    "outlet": part.outlet, "published_at": part.published_at,
                })
    return pl.DataFrame(rows, schema={"doc_id": pl.Utf8, "source_path": pl.Utf8, "text": pl.Utf8, "outlet": pl.Utf8,
                                      "published_at": pl.Datetime("us")}).unique("doc_id", keep="first").sort("doc_id")


@pytest.fixture(scope="session")
def seed_documents() -> pl.DataFrame:
    return read_documents(RAW_SEEDS)


@pytest.fixture(scope="session")
def generated_documents(tmp_path_factory) -> pl.DataFrame:
    from benchmarks.corpus import write_corpus

    out = tmp_path_factory.mktemp("corpus")
    write_corpus(out, GENERATED_ARTICLES, seed=20241104)
    return read_documents(out / "raw")


def same_rows(spark_frame, expected: pl.DataFrame) -> None:
    """The Spark frame's rows equal `expected`'s, with the same columns and types, order aside."""
    got = pl.from_arrow(spark_frame.toArrow()).select(expected.columns).cast(expected.schema)
    keys = [c for c, t in expected.schema.items() if not isinstance(t, pl.List)]
    assert got.height == expected.height
    assert got.sort(keys, nulls_last=True).equals(expected.sort(keys, nulls_last=True))
