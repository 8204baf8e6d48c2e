"""`make query Q=<name>`: run one analyst query from sql/queries on a published release.

    python -m pipelines.query <name> [--release PATH]

The query file refers to the release as `getvariable('release')`; the runner binds it with a
prepared `set variable release = ?`, so the same file runs unchanged in the DuckDB CLI
(docs/queries.md). Without --release the release is CLAIMWIRE_PUBLISH_DIR, default
data/published, relative paths taken from the project folder — the rule of
`pipelines.defs.resources.setting_path`, restated here so a query does not import Dagster
(tests/e2e/test_queries.py checks the two agree).
"""

import argparse
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

PROJECT_ROOT = Path(__file__).resolve().parents[1]
QUERIES_DIR = PROJECT_ROOT / "sql" / "queries"
MAX_CELL_CHARS = 60


class QueryError(Exception):
    """A query that cannot run: unknown name, missing release, or DuckDB's own error."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]


def available_queries() -> list[str]:
    return sorted(path.stem for path in QUERIES_DIR.glob("*.sql"))


def default_release() -> Path:
    path = Path(os.environ.get("CLAIMWIRE_PUBLISH_DIR") or "data/published").expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def run_query(name: str, release: Path) -> QueryResult:
    """Run sql/queries/<name>.sql on the release folder and return every row."""
    if name not in available_queries():
        raise QueryError(f"unknown query {name!r}; the queries are: {', '.join(available_queries())}")
    if not (release / "_manifest.json").is_file():
        raise QueryError(f"no release at {release} (no _manifest.json there); run `make run` or pass --release PATH")
    sql = (QUERIES_DIR / f"{name}.sql").read_text(encoding="utf-8")
    with duckdb.connect() as conn:
        try:
            conn.execute("set variable release = ?", [str(release)])
            cursor = conn.execute(sql)
            return QueryResult([d[0] for d in cursor.description], cursor.fetchall())
        except duckdb.Error as err:
            raise QueryError(f"query {name} failed on {release}: {err}") from err


def format_table(result: QueryResult) -> str:
    """A plain text table: one header line, a rule, one line per row, then the row count."""
    cells = [[_cell(v) for v in row] for row in result.rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(result.columns)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(result.columns, widths)).rstrip(),
        "  ".join("-" * w for w in widths),
        *("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells),
        f"({len(cells)} row{'' if len(cells) == 1 else 's'})",
    ]
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, float):
        text = f"{int(value):,}" if math.isfinite(value) and value.is_integer() else f"{value:.4g}"
    elif isinstance(value, list):
        text = "[" + ", ".join(_cell(v) for v in value) + "]"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.query", description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", help="a file name in sql/queries, without .sql")
    parser.add_argument("--release", type=Path, help="release folder (default: $CLAIMWIRE_PUBLISH_DIR or data/published)")
    args = parser.parse_args(argv)
    if not args.name:
        print(f"name a query (make query Q=<name>): {', '.join(available_queries())}", file=sys.stderr)
        return 2
    release = args.release.expanduser().resolve() if args.release else default_release()
    try:
        result = run_query(args.name, release)
    except QueryError as err:
        print(f"query: {err}", file=sys.stderr)
        return 2
    print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
