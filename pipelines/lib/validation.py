"""Validation: run a table's Great Expectations suite on a Polars frame, and the cross-table rules.

One suite per published table lives in `expectations/<table>.json` (GX 1.x suite JSON). Every
expectation says in its `meta` which of two levels it is and why it exists:

- `"level": "row"` — a plausibility rule about one row (a pay figure outside 100–20,000 USD a
  month). Failing rows are quarantined with the rule as the reason; the check itself fails, and
  blocks, only when more than the expectation's `mostly` share of the rows in scope fail.
- `"level": "structural"` — keys, vocabularies, offsets. Any failure blocks publication.

GX is imported lazily (it costs seconds) and runs in a fresh ephemeral context per validation, so
nothing leaks between calls; the frame is handed to GX as pandas (GX's SQL data source over
DuckDB does not work). A validation that cannot run raises — it never reports success.

Rules GX cannot state on one frame (every claim points at an existing document and passage; a
claim's quote is the document text at its offsets) are plain Polars functions here.
"""

import ast
import copy
import json
import math
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

DEFAULT_SUITES_DIR = Path(__file__).resolve().parents[2] / "expectations"
LEVELS = ("row", "structural")
N_SAMPLE_VALUES = 5

_EXPECTATION_KEYS = {"type", "kwargs", "meta", "notes", "description"}
_SUITE_KEYS = {"name", "expectations", "meta", "notes", "id", "suite_parameters"}
_COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")
_DATA_DOCS_SITE = "claimwire"

FAILING_ROWS_SCHEMA = {"row_index": pl.Int64, "failed_check": pl.Utf8, "reason": pl.Utf8}


class SuiteError(ValueError):
    """A suite file that cannot be trusted: unreadable, or an expectation GX would not keep."""


class ValidationRunError(RuntimeError):
    """GX could not run the suite (or one of its expectations) on the frame."""


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation as written in the suite JSON, with our level and rule text."""

    type: str
    kwargs: Mapping[str, Any] = field(hash=False)
    level: str
    rule: str

    @property
    def columns(self) -> tuple[str, ...]:
        cols: list[str] = []
        for key in _COLUMN_KWARGS:
            value = self.kwargs.get(key)
            if isinstance(value, str):
                cols.append(value)
            elif isinstance(value, list):
                cols.extend(str(v) for v in value)
        return tuple(cols)

    @property
    def check_name(self) -> str:
        """`expect_column_values_to_be_between:value_high` — type plus the column(s) it reads."""
        return f"{self.type}:{','.join(self.columns)}" if self.columns else self.type


@dataclass(frozen=True)
class Suite:
    """A loaded, verified suite: our specs plus the GX ExpectationSuite built from them."""

    name: str
    path: Path
    expectations: tuple[ExpectationSpec, ...]
    gx_suite: Any = field(compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class ExpectationResult:
    """Outcome of one expectation. `n_failed` is None for table-level expectations that count no rows."""

    expectation_type: str
    columns: tuple[str, ...]
    level: str
    rule: str
    success: bool
    n_checked: int | None
    n_failed: int | None
    failing_values: tuple[Any, ...] = field(hash=False)
    failing_row_indices: tuple[int, ...] = ()

    @property
    def check_name(self) -> str:
        return f"{self.expectation_type}:{','.join(self.columns)}" if self.columns else self.expectation_type


@dataclass(frozen=True)
class ValidationReport:
    """The result of one suite on one frame.

    `success` is False when any structural expectation failed or any row-level expectation had
    more failures than its `mostly` allows. `failing_rows` has one row per (row, failed row-level
    expectation): row_index (position in the validated frame), failed_check, reason.
    """

    suite_name: str
    success: bool
    n_rows: int
    results: tuple[ExpectationResult, ...]
    failing_rows: pl.DataFrame = field(compare=False, hash=False)
    data_docs_index: Path | None = None

    @property
    def blocking_failures(self) -> tuple[ExpectationResult, ...]:
        return tuple(r for r in self.results if not r.success)

    def to_metadata_rows(self) -> list[dict[str, Any]]:
        """One dict per expectation, for a Markdown table (expectation, level, success, n_failed)."""
        return [
            {"expectation": r.check_name, "level": r.level, "success": r.success, "n_failed": r.n_failed}
            for r in self.results
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (for the manifest and `validation_results.results_json`)."""
        return {
            "suite": self.suite_name,
            "success": self.success,
            "n_rows": self.n_rows,
            "n_failed_rows": self.failing_rows["row_index"].n_unique(),
            "data_docs": str(self.data_docs_index) if self.data_docs_index else None,
            "results": [
                {
                    "expectation": r.check_name,
                    "level": r.level,
                    "rule": r.rule,
                    "success": r.success,
                    "n_checked": r.n_checked,
                    "n_failed": r.n_failed,
                    "failing_values": [_json_safe(v) for v in r.failing_values],
                }
                for r in self.results
            ],
        }


def _gx():
    """Import GX on first use; it takes seconds and most callers (and tests) never need it.

    GX's pandas engine fingerprints every batch under 1 GB in memory (`HASH_THRESHOLD`): an MD5
    over pandas' hash of every row and column, kept as a batch marker, which claimwire never
    reads (a run is identified by its Dagster run and `validation_results`). At 100,000
    articles that hash took 2.8 s per suite run on the claims (which run twice when a `mostly`
    rule finds failing rows), 2.8 s on the passages and 1.3 s on the clusters: a third of the
    claims check. A threshold of 0 turns it off; the unit tests hold GX to that."""
    import great_expectations
    from great_expectations.execution_engine import pandas_execution_engine
    from great_expectations.expectations.expectation import Expectation

    pandas_execution_engine.HASH_THRESHOLD = 0
    global _gx_configuration, _gx_row_condition_filter
    engine = pandas_execution_engine.PandasExecutionEngine
    with _patching:  # once per process, whichever thread asks first
        if _gx_configuration is None:
            _gx_configuration = Expectation.configuration.fget
            Expectation.configuration = property(_configuration_built_once, doc=Expectation.configuration.__doc__)
        if _gx_row_condition_filter is None:
            _gx_row_condition_filter = engine._apply_row_condition_filter
            engine._apply_row_condition_filter = _row_condition_filtered_once
    return great_expectations


# GX's `Expectation.configuration` builds a new ExpectationConfiguration from the expectation's
# pydantic fields at every read (`self.dict()` and a deep copy), and a suite's run reads it about
# fifty times per expectation while it plans and evaluates metrics: a quarter of a small suite's
# run (4,134 reads for the claims' 38 expectations on 13,190 rows). While a suite runs on a
# thread (`_once_per_suite_run`), each expectation object's configuration is built at its
# first read and handed back after; the expectations GX validates are made for the run
# (`to_domain_obj`) and not changed while it reads them. Outside a run, and on any other thread,
# GX's own property answers. The claims, documents, passages and facts suites of the +1% batch
# at 100,000 articles: 0.95 against 0.78 s, every result the same (tests/unit/test_validation.py
# runs the suites both ways).
#
# Likewise GX's pandas engine filters the frame by an expectation's `row_condition` (pandas'
# `query`, which parses and evaluates the condition) for each metric it computes: 55 filters for
# the claims suite's conditioned rules. While a suite runs, each condition is evaluated once and
# the rows it kept are taken again for the next metrics (the same rows, in the same order, with
# their labels). The kept positions are held, not the filtered frames: those held 0.1-0.2 GB
# more on the full run's 1.29 million claims. The claims suite on the +1% batch's 13,190 rows:
# 0.44-0.46 s as GX is, 0.34-0.35 s with configurations built once, 0.27 s with conditions
# evaluated once too; on 1.29 million 3.8-4.3, 3.9-4.1 and 3.6-3.9 s; the same results every
# way (tests/unit/test_validation.py).
_gx_configuration = None
_gx_row_condition_filter = None
_patching = threading.Lock()
_built_once = threading.local()
# One Great Expectations run at a time in a process: a new context becomes GX's process-wide
# current project, which another thread's run in between would find instead of its own (a check
# beside a step that screens claims). Both hold the GIL anyway.
_GX_LOCK = threading.Lock()


def _held(key: tuple, owner: Any, build) -> Any:
    """`build()` the first time `key` is asked for while a suite runs on this thread, and what
    it built after; `build()` every time outside a run. The cache holds `owner` (the object
    whose id is in `key`), so no other object takes that id while the run lasts."""
    cache = getattr(_built_once, "cache", None)
    if cache is None:
        return build()
    held = cache.get(key)
    if held is None or held[0] is not owner:
        held = cache[key] = (owner, build())
    return held[1]


def _configuration_built_once(expectation):
    return _held(("configuration", id(expectation)), expectation, lambda: _gx_configuration(expectation))


def _row_condition_filtered_once(engine, data, row_condition, domain_kwargs):
    # GX hands a suite's string conditions over as {"pass_through_filter": ...}
    if isinstance(row_condition, dict):
        condition = json.dumps(row_condition, sort_keys=True, default=str)
    elif isinstance(row_condition, str):
        condition = row_condition
    else:  # a Condition object: GX's own filter every time
        return _gx_row_condition_filter(engine, data, row_condition, domain_kwargs)
    if getattr(_built_once, "cache", None) is None or not data.index.is_unique:  # kept rows are found by label
        return _gx_row_condition_filter(engine, data, row_condition, domain_kwargs)
    key = ("row_condition", id(data), condition, domain_kwargs.get("condition_parser"))
    rows = _held(key, data, lambda: data.index.get_indexer(_gx_row_condition_filter(engine, data, row_condition, domain_kwargs).index))
    return data.take(rows)


def _without_config_dumps(context):
    """An ephemeral GX `context` that keeps its project config in memory only. Its data sources
    and Data Docs read the config there; GX's documentation says an ephemeral context's config
    is not saved, yet each data source, asset, batch definition and site added dumped it to YAML
    into a store nothing reads: 0.014 of 0.094 s a validation of 1,000 documents."""
    context._save_project_config = lambda: None
    return context


@contextmanager
def _once_per_suite_run() -> Iterator[None]:
    """Within the block, on this thread, each expectation's GX configuration is built once, and
    each row condition is evaluated once on a frame."""
    outer = getattr(_built_once, "cache", None)
    _built_once.cache = {}
    try:
        yield
    finally:
        _built_once.cache = outer


def load_suite(path: Path) -> Suite:
    """Read one suite JSON and build it, refusing anything GX would drop or we could not classify."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise SuiteError(f"suite {path}: cannot read JSON ({err})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("expectations"), list):
        raise SuiteError(f"suite {path}: expected an object with a list of `expectations`")
    unknown = set(raw) - _SUITE_KEYS
    if unknown:
        raise SuiteError(f"suite {path}: unknown keys {sorted(unknown)}")
    name = raw.get("name")
    if name != path.stem:
        raise SuiteError(f"suite {path}: name {name!r} must equal the file's table name {path.stem!r}")
    specs = tuple(_parse_spec(path, i, item) for i, item in enumerate(raw["expectations"]))
    if not specs:
        raise SuiteError(f"suite {path}: has no expectations")
    gx_suite = _build_gx_suite(name, specs, path)
    return Suite(name=name, path=path, expectations=specs, gx_suite=gx_suite)


def load_suites(directory: Path = DEFAULT_SUITES_DIR) -> dict[str, Suite]:
    """Every suite in `directory`, by table name."""
    return {p.stem: load_suite(p) for p in sorted(Path(directory).glob("*.json"))}


def _parse_spec(path: Path, i: int, item: Any) -> ExpectationSpec:
    label = f"suite {path}: expectation {i}"
    if not isinstance(item, dict):
        raise SuiteError(f"{label} is not an object")
    label = f"{label} ({item.get('type')})"
    unknown = set(item) - _EXPECTATION_KEYS
    if unknown:
        raise SuiteError(f"{label}: unknown keys {sorted(unknown)}")
    if not isinstance(item.get("type"), str) or not isinstance(item.get("kwargs"), dict):
        raise SuiteError(f"{label}: needs a string `type` and an object `kwargs`")
    meta = item.get("meta") or {}
    level, rule = meta.get("level"), meta.get("rule")
    if level not in LEVELS:
        raise SuiteError(f"{label}: meta.level must be one of {LEVELS}, got {level!r}")
    if not isinstance(rule, str) or not rule.strip():
        raise SuiteError(f"{label}: meta.rule must say in words what the expectation checks")
    kwargs = item["kwargs"]
    if level == "row" and "mostly" not in kwargs:
        raise SuiteError(f"{label}: a row-level expectation must set `mostly` (the share that must pass)")
    if level == "structural" and "mostly" in kwargs:
        raise SuiteError(f"{label}: a structural expectation must not set `mostly`; it always blocks")
    condition = kwargs.get("row_condition")
    if condition is not None:
        if kwargs.get("condition_parser") != "pandas" or not isinstance(condition, str):
            raise SuiteError(f"{label}: row_condition must be a string with condition_parser 'pandas'")
        try:
            ast.parse(condition, mode="eval")
        except SyntaxError as err:
            raise SuiteError(f"{label}: row_condition {condition!r} does not parse ({err.msg})") from None
    return ExpectationSpec(type=item["type"], kwargs=kwargs, level=level, rule=rule.strip())


def _build_gx_suite(name: str, specs: tuple[ExpectationSpec, ...], path: Path | str, indexes: tuple[int, ...] | None = None):
    """Build each expectation ourselves so an invalid one raises instead of being dropped.
    `indexes` are the specs' places in their suite (0, 1, … when not given)."""
    gx = _gx()
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    built = []
    # String row conditions are deprecated since GX 1.9 but still the readable form in JSON.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for i, spec in zip(range(len(specs)) if indexes is None else indexes, specs):
            try:
                config = ExpectationConfiguration(
                    type=spec.type,
                    kwargs=dict(spec.kwargs),
                    meta={"level": spec.level, "rule": spec.rule, "claimwire_index": i},
                )
                built.append(config.to_domain_obj())
            except Exception as err:  # GX raises several unrelated types for a bad expectation
                message = " ".join(str(err).split())
                raise SuiteError(f"suite {path}: expectation {i} ({spec.check_name}) is invalid: {message}") from None
        gx_suite = gx.ExpectationSuite(name=name, expectations=built)
    if len(gx_suite.expectations) != len(specs):
        raise SuiteError(
            f"suite {path}: GX kept {len(gx_suite.expectations)} of {len(specs)} expectations; "
            "an expectation was dropped as invalid"
        )
    return gx_suite


def _data_docs_site(docs_dir: Path) -> dict:
    """A local Data Docs site in `docs_dir` whose pages are rendered by views that compile GX's
    templates once per process (`gx_views`): GX's own views recompile them for every page."""
    page_view = {"module_name": "pipelines.lib.gx_views", "class_name": "CachedPageView"}
    return {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        "site_section_builders": {
            "expectations": {"view": page_view},
            "validations": {"view": page_view},
            "profiling": {"view": page_view},
        },
        "site_index_builder": {
            "class_name": "DefaultSiteIndexBuilder",
            "view": {"module_name": "pipelines.lib.gx_views", "class_name": "CachedIndexPageView"},
        },
    }


# GX's pandas `expect_column_values_to_be_between` compares in NumPy only when a column's dtype is
# int64 or float64; any other width goes through a Python function per value (1.09 million
# passage clusters: 2.2 million calls, 2.1 s of 4.7 for two rules on Int32 columns).
_NARROW_INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32)


def _widened(df: pl.DataFrame) -> pl.DataFrame:
    """`df` with narrow integers as Int64 and Float32 as Float64: the same values, in the dtypes
    GX compares in NumPy."""
    return df.with_columns(pl.col(*_NARROW_INTEGERS).cast(pl.Int64), pl.col(pl.Float32).cast(pl.Float64))


# On a large frame, the string columns that row conditions read reach GX as pandas categoricals
# when they hold few distinct values (measure, unit, period): GX evaluates a rule's condition
# for each of its metrics, a dozen times per rule, and then compares codes instead of strings.
# 1.29 million claims: 12.6–14.5 → 9.4–11.3 s, every result the same. A column is judged by its first
# rows; a pair rule's columns stay strings (pandas will not compare two categoricals of
# different categories).
CATEGORICAL_MIN_ROWS = 50_000
CATEGORICAL_SAMPLE_ROWS = 10_000
CATEGORICAL_MAX_SHARE = 0.05


def _gx_frame(df: pl.DataFrame, suite: Suite) -> pl.DataFrame:
    """The frame GX validates: `_widened`, and on a large frame the strings that row conditions
    read, when they hold few distinct values, as categoricals."""
    wide = _widened(df)
    if df.height < CATEGORICAL_MIN_ROWS:
        return wide
    paired = {spec.kwargs.get(k) for spec in suite.expectations for k in ("column_A", "column_B")}
    conditioned = set().union(*(_condition_columns(spec) for spec in suite.expectations))
    sample = df.head(CATEGORICAL_SAMPLE_ROWS)
    few = [
        name for name, dtype in df.schema.items()
        if dtype == pl.String and name in conditioned - paired
        and sample[name].n_unique() <= CATEGORICAL_MAX_SHARE * sample.height
    ]
    return wide.with_columns(pl.col(few).cast(pl.Categorical))


# Great Expectations' result formats: in COMPLETE, every expectation also lists its failing
# rows' values and indices, which costs metrics even when it passes. A suite runs in BASIC
# (counts and up to 20 failing values) and only the expectations that found failing rows run
# again in COMPLETE, for their row indices. Measured on 13,190 claims (38 expectations):
# 0.93-1.16 s in COMPLETE, 0.72-0.74 s in BASIC; 16,000 passages (16): 0.25 and 0.18 s.
FIRST_RESULT_FORMAT = "BASIC"
ROWS_RESULT_FORMAT = "COMPLETE"


def validate_frame(
    df: pl.DataFrame,
    suite: Suite,
    *,
    data_docs_dir: Path | None = None,
    slice_rows: int | None = None,
    judged_elsewhere: frozenset[int] = frozenset(),
    between_slices: Callable[[], None] | None = None,
) -> ValidationReport:
    """Run `suite` on `df`; render Data Docs into `data_docs_dir` when given.

    With `slice_rows`, a frame of more rows is validated `slice_rows` at a time when every
    expectation's outcome on the frame follows from its outcomes on the slices
    (`can_validate_in_slices`; `judged_elsewhere` are the indexes of the expectations the
    caller judges over the whole table itself, `table_wide_rules`): then Great Expectations'
    pandas copy is a slice's, not the frame's, and `between_slices` (say, giving freed memory
    back) is called after each slice. The report is the one the whole frame gives, and so is
    the Data Docs page, rendered once from the slices' results merged; but for a rule judged
    elsewhere that compares rows (a key), which each slice judges on its own rows: the caller
    replaces its counts (`merge_table_wide`).

    Raises ValidationRunError naming the suite when GX fails or any expectation could not be
    evaluated (a missing column, a row_condition pandas cannot run).
    """
    docs_dir = Path(data_docs_dir).resolve() if data_docs_dir is not None else None
    if slice_rows is None or df.height <= slice_rows or not can_validate_in_slices(suite, judged_elsewhere):
        results = _collect_results(suite, _validated(_gx_frame(df, suite).to_pandas(), suite, docs_dir))
    else:
        results = _validated_in_slices(df, suite, slice_rows, docs_dir, between_slices)
    failing_rows = _failing_rows(results)
    index = None
    if docs_dir is not None:
        index = docs_dir / "index.html"
        if not index.is_file():
            raise ValidationRunError(f"suite {suite.name!r}: Data Docs were built but {index} does not exist")
    return ValidationReport(
        suite_name=suite.name,
        success=all(r.success for r in results),
        n_rows=df.height,
        results=results,
        failing_rows=failing_rows,
        data_docs_index=index,
    )


def _validated(pdf, suite: Suite, docs_dir: Path | None, rendered: Callable[[Any], Any] | None = None) -> dict:
    """GX's result of each expectation on the pandas frame `pdf`, by index: BASIC for all, then
    COMPLETE for those that found failing rows. `rendered` is handed to `_run_suite`."""
    by_index = _run_suite(pdf, suite, tuple(range(len(suite.expectations))), FIRST_RESULT_FORMAT, docs_dir, rendered)
    with_rows = tuple(sorted(i for i, r in by_index.items() if (r.result or {}).get("unexpected_count")))
    if with_rows:
        by_index |= _run_suite(pdf, suite, with_rows, ROWS_RESULT_FORMAT)
    return by_index


def can_validate_in_slices(suite: Suite, judged_elsewhere: frozenset[int] = frozenset()) -> bool:
    """Whether `suite` on a frame gives, from its results on slices of the frame, the frame's
    own: every expectation is judged over the whole table by the caller (`judged_elsewhere`;
    Great Expectations' counts on the slices add up to the frame's), or is structural and
    row-local (a row passes or fails on its own values, and any failure fails the frame) or
    about the frame's columns. A `mostly` share or a key needs every row at once."""
    return all(
        i in judged_elsewhere or (spec.level == "structural" and spec.type in ROW_LOCAL_TYPES | SCHEMA_TYPES)
        for i, spec in enumerate(suite.expectations)
    )


def _validated_in_slices(
    df: pl.DataFrame, suite: Suite, slice_rows: int, docs_dir: Path | None, between_slices: Callable[[], None] | None
) -> tuple[ExpectationResult, ...]:
    """`_collect_results` of the whole frame, from Great Expectations run on `slice_rows` rows
    at a time (`validate_frame`). The last slice renders the Data Docs page of every slice's
    results merged (`_merged_gx_results`)."""
    offsets = list(range(0, df.height, slice_rows))
    earlier: list[dict[int, Any]] = []
    per_slice = []
    for k, offset in enumerate(offsets):
        last = k == len(offsets) - 1
        pdf = _gx_frame(df.slice(offset, slice_rows), suite).to_pandas()
        rendered = partial(_merged_gx_results, earlier) if last and docs_dir is not None else None
        by_index = _validated(pdf, suite, docs_dir if last else None, rendered)
        del pdf
        if docs_dir is not None and not last:
            # what the page needs of this slice (BASIC or COMPLETE, the counts are the same)
            earlier.append(_basic_copy(by_index))
        per_slice.append((offset, _collect_results(suite, by_index)))
        del by_index
        if between_slices is not None:
            between_slices()
    return _merged_results(per_slice)


def _basic_copy(by_index: dict) -> Any:
    """What a merged page reads of one slice's GX results, by index: success and the result as
    BASIC states it (the rows' values and indices a COMPLETE result adds are left out)."""
    return {
        i: (bool(r.success), {k: v for k, v in (r.result or {}).items() if k not in _ROWS_KEYS})
        for i, r in by_index.items()
    }


# what a COMPLETE result adds to a BASIC one: every failing row's value and index
_ROWS_KEYS = frozenset(
    {"unexpected_list", "unexpected_index_list", "partial_unexpected_index_list", "partial_unexpected_counts",
     "unexpected_index_column_names", "unexpected_index_query"}
)
# GX's sample of failing values in BASIC format
_PARTIAL_UNEXPECTED = 20
_COUNT_KEYS = ("element_count", "unexpected_count", "missing_count")


def _percent(part: int, whole: int) -> float | None:
    """A share in percent as Great Expectations states it (None of nothing)."""
    return part / whole * 100 if whole else None


def _merged_gx_results(earlier: list[dict[int, Any]], last: Any) -> Any:
    """The last slice's GX suite result (`last`, not changed), with each expectation's success,
    counts, shares and sample those of every slice together (the slices before it in
    `earlier`, each a `_basic_copy`): what Great Expectations reports on the whole frame, for
    its Data Docs."""
    shown = copy.deepcopy(last)
    for result in shown.results:
        i = result.expectation_config.meta["claimwire_index"]
        seen = [part[i] for part in earlier] + [(bool(result.success), result.result or {})]
        result.success = all(success for success, _ in seen)
        merged = dict(result.result or {})
        if "unexpected_count" in merged:
            counts = {key: sum(r[key] for _, r in seen) for key in _COUNT_KEYS if key in merged}
            n, unexpected, missing = counts["element_count"], counts["unexpected_count"], counts.get("missing_count", 0)
            shares = {
                "missing_percent": _percent(missing, n),
                "unexpected_percent": _percent(unexpected, n - missing),
                "unexpected_percent_total": _percent(unexpected, n),
                "unexpected_percent_nonmissing": _percent(unexpected, n - missing),
            }
            merged |= counts | {key: share for key, share in shares.items() if key in merged} | {
                "partial_unexpected_list": [v for _, r in seen for v in r["partial_unexpected_list"]][:_PARTIAL_UNEXPECTED],
            }
        elif not result.success and seen[-1][0]:
            # a frame-level result (the column set) is the last slice's, the first failing one's
            # when only earlier slices failed
            merged = next(r for success, r in seen if not success)
        result.result = merged
    evaluated = len(shown.results)
    successful = sum(1 for r in shown.results if r.success)
    shown.success = successful == evaluated
    shown.statistics |= {
        "successful_expectations": successful,
        "unsuccessful_expectations": evaluated - successful,
        "success_percent": successful / evaluated * 100 if evaluated else None,
    }
    return shown


def _merged_results(per_slice: list[tuple[int, tuple[ExpectationResult, ...]]]) -> tuple[ExpectationResult, ...]:
    """Each expectation's results on the slices (each with the row where its slice starts) as
    one result on the whole frame: it succeeds when it succeeded on every slice, its counts are
    the sums, its failing rows the slices' (at their rows in the frame), its sample of failing
    values the first ones; a frame-level result (no counts) keeps the first failing slice's."""
    merged = []
    for results in zip(*(results for _, results in per_slice)):
        counted = all(r.n_failed is not None for r in results)
        if counted:
            values = tuple(v for r in results for v in r.failing_values)[:N_SAMPLE_VALUES]
        else:
            values = next((r.failing_values for r in results if not r.success), ())
        merged.append(
            replace(
                results[0],
                success=all(r.success for r in results),
                n_checked=sum(r.n_checked for r in results) if all(r.n_checked is not None for r in results) else None,
                n_failed=sum(r.n_failed for r in results) if counted else None,
                failing_values=values,
                failing_row_indices=tuple(
                    offset + i for (offset, _), r in zip(per_slice, results) for i in r.failing_row_indices
                ),
            )
        )
    return tuple(merged)


def _run_suite(
    pdf, suite: Suite, indexes: tuple[int, ...], result_format: str, docs_dir: Path | None = None,
    rendered: Callable[[Any], Any] | None = None,
) -> dict:
    """GX's result of each expectation of `suite` at `indexes`, by index, on the pandas frame
    `pdf`, in `result_format` (`_run_suite_result`)."""
    result = _run_suite_result(pdf, suite, indexes, result_format, docs_dir, rendered)
    by_index = {gx_result.expectation_config.meta["claimwire_index"]: gx_result for gx_result in result.results}
    if sorted(by_index) != sorted(indexes):
        raise ValidationRunError(f"suite {suite.name!r}: GX returned {len(by_index)} results for {len(indexes)} expectations")
    return by_index


def _run_suite_result(
    pdf, suite: Suite, indexes: tuple[int, ...], result_format: str, docs_dir: Path | None = None,
    rendered: Callable[[Any], Any] | None = None,
) -> Any:
    """GX's suite result of the expectations of `suite` at `indexes` on the pandas frame `pdf`,
    in `result_format`; Data Docs of this run rendered into `docs_dir` when given, of
    `rendered(result)` instead of GX's result when that is given too (the result returned is
    GX's)."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    try:
        with _GX_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # A fresh ephemeral context costs milliseconds; the import is what is slow.
            context = _without_config_dumps(gx.get_context(mode="ephemeral"))
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            if docs_dir is not None:
                context.add_data_docs_site(_DATA_DOCS_SITE, _data_docs_site(docs_dir))
            batch_definition = (
                context.data_sources.add_pandas("claimwire")
                .add_dataframe_asset(suite.name)
                .add_batch_definition_whole_dataframe("whole_frame")
            )
            specs = tuple(suite.expectations[i] for i in indexes)
            gx_suite = context.suites.add(_build_gx_suite(suite.name, specs, suite.path, indexes))
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=gx_suite)
            )
            with _once_per_suite_run():
                result = definition.run(batch_parameters={"dataframe": pdf}, result_format={"result_format": result_format})
            if docs_dir is not None:
                if rendered is not None:
                    # the run's one stored result, replaced by what the page shows
                    store = context.validation_results_store
                    (key,) = store.list_keys()
                    store.set(key, rendered(result))
                context.build_data_docs(site_names=[_DATA_DOCS_SITE])
    except Exception as err:
        raise ValidationRunError(f"suite {suite.name!r} could not run: {type(err).__name__}: {err}") from err
    return result


def _collect_results(suite: Suite, by_index: dict) -> tuple[ExpectationResult, ...]:
    """Our results from GX's, one for each expectation of `suite` (`by_index`: GX's result by
    the expectation's index); an expectation that failed rows must come with their indices."""
    errors = {}
    for i, gx_result in by_index.items():
        error = _raised_exception(gx_result.exception_info)
        if error is not None:
            errors[i] = f"{suite.expectations[i].check_name}: {error}"
    if errors:
        listed = "; ".join(errors[i] for i in sorted(errors))
        raise ValidationRunError(f"suite {suite.name!r}: {len(errors)} expectation(s) could not be evaluated: {listed}")
    if sorted(by_index) != list(range(len(suite.expectations))):
        raise ValidationRunError(
            f"suite {suite.name!r}: GX returned {len(by_index)} results for {len(suite.expectations)} expectations"
        )
    out = []
    for i, spec in enumerate(suite.expectations):
        res = by_index[i].result or {}
        if "unexpected_count" in res:
            n_failed = int(res["unexpected_count"])
            values = res.get("unexpected_list") or res.get("partial_unexpected_list") or []
            indices = tuple(int(ix) for ix in res.get("unexpected_index_list") or [])
            if len(indices) != n_failed and n_failed:
                raise ValidationRunError(
                    f"suite {suite.name!r}: {spec.check_name} reported {n_failed} failures "
                    f"but {len(indices)} row indices"
                )
        else:
            n_failed, indices = None, ()
            values = [res["observed_value"]] if "observed_value" in res and not by_index[i].success else []
        out.append(
            ExpectationResult(
                expectation_type=spec.type,
                columns=spec.columns,
                level=spec.level,
                rule=spec.rule,
                success=bool(by_index[i].success),
                n_checked=res.get("element_count"),
                n_failed=n_failed,
                failing_values=tuple(_json_safe(v) for v in values[:N_SAMPLE_VALUES]),
                failing_row_indices=indices,
            )
        )
    return tuple(out)


def _raised_exception(info: Any) -> str | None:
    """GX nests exception info either flat or keyed by metric; find any exception it raised."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error")
    for value in info.values():
        found = _raised_exception(value)
        if found:
            return found
    return None


def _failing_rows(results: tuple[ExpectationResult, ...]) -> pl.DataFrame:
    rows = [
        (ix, r.check_name, r.rule)
        for r in results
        if r.level == "row"
        for ix in r.failing_row_indices
    ]
    frame = pl.DataFrame(rows, schema=FAILING_ROWS_SCHEMA, orient="row")
    # stable sort keeps suite order among one row's failed checks
    return frame.sort("row_index", maintain_order=True)


def _json_safe(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _condition_columns(spec: ExpectationSpec) -> set[str]:
    """The columns an expectation's row condition reads (none without one)."""
    if not spec.kwargs.get("row_condition"):
        return set()
    tree = ast.parse(spec.kwargs["row_condition"], mode="eval")
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def row_level_suite(suite: Suite) -> tuple[Suite, tuple[str, ...]]:
    """The suite's row-level expectations alone, and the columns they read (their own and their
    row conditions'): what screening rows into kept and quarantined needs. Structural rules are
    the blocking check's; screening them too would only repeat its work."""
    specs = tuple(spec for spec in suite.expectations if spec.level == "row")
    columns: list[str] = []
    for spec in specs:
        names = [*spec.columns, *sorted(_condition_columns(spec))]
        columns += [n for n in names if n not in columns]
    return Suite(name=suite.name, path=suite.path, expectations=specs, gx_suite=None), tuple(columns)


def split_rows(df: pl.DataFrame, report: ValidationReport) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows that passed every row-level check, failed rows + failed_check + reason).

    One failed row per original row; several failed checks are joined with "; " in suite order,
    and `reason` lists the matching rule texts in the same order.
    """
    if df.height != report.n_rows:
        raise ValueError(
            f"split_rows: the frame has {df.height} rows but the {report.suite_name!r} report is for {report.n_rows}"
        )
    per_row = report.failing_rows.group_by("row_index", maintain_order=True).agg(
        failed_check=pl.col("failed_check").str.join("; "),
        reason=pl.col("reason").str.join("; "),
    )
    indexed = df.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_row_index"))
    passed = indexed.join(per_row, left_on="_row_index", right_on="row_index", how="anti").drop("_row_index")
    failed = (
        indexed.join(per_row, left_on="_row_index", right_on="row_index", how="inner")
        .sort("_row_index")
        .drop("_row_index")
    )
    return passed, failed


@dataclass(frozen=True)
class ScreeningVerdicts:
    """Row-level verdicts on distinct combinations of a screening's columns: every combination
    screened (`screened`), and the failing ones with `failed_check` and `reason` (`failing`)."""

    screened: pl.DataFrame
    failing: pl.DataFrame


def screen_values(
    values: pl.DataFrame, suite: Suite, columns: tuple[str, ...], slice_rows: int, known: ScreeningVerdicts | None = None
) -> ScreeningVerdicts:
    """The verdicts of a row-level suite that reads only `columns` (`row_level_suite`) on the
    distinct combinations of those columns in `values`, Great Expectations run on `slice_rows`
    combinations at a time; those `known` holds are not validated again.

    A row-level rule reads a row's own values of `columns` (its column and its row condition's),
    so rows with equal values pass or fail alike: each combination is validated once and its
    verdict is joined back to every row that holds it (nulls equal, as Polars groups them). At
    100,000 generated articles 1.28 million claims hold 2,249 combinations. `slice_rows` also
    bounds the distinct rows of one validation (its pandas copy).
    """
    keys = list(columns)
    distinct = values.select(keys).unique(maintain_order=True)
    screened, failing = [], []
    if known is not None:
        screened, failing = [known.screened.cast(distinct.schema)], [known.failing.cast(distinct.schema)]
        distinct = distinct.join(screened[0], on=keys, how="anti", nulls_equal=True, maintain_order="left")
    failing += [split_rows(part, validate_frame(part, suite))[1] for part in distinct.iter_slices(slice_rows)]
    if not failing:  # nothing was screened: no failures, in the failing rows' columns
        failing = [distinct.with_columns(failed_check=pl.lit(None, pl.String), reason=pl.lit(None, pl.String))]
    return ScreeningVerdicts(pl.concat([*screened, distinct]), pl.concat(failing))


def screen_marks(
    df: pl.DataFrame, suite: Suite, columns: tuple[str, ...], slice_rows: int, known: ScreeningVerdicts | None = None
) -> pl.DataFrame:
    """`failed_check` and `reason` of each row of `df` (both null where the row passed), in
    `df`'s order, by a row-level suite that reads only `columns` (`row_level_suite`), with Great
    Expectations run on the distinct rows of those columns (`screen_values`) that `known` has no
    verdict on. The rows are what `split_rows` makes of them: `df.with_columns(marks)` keeps
    the passed rows where `failed_check` is null and the failed ones, with their checks, where
    it is not; the caller splits them where it writes them (DuckDB, in one statement a table:
    at 100,000 articles 1.28 million claims in 1.7-1.9 s, against 3.0-3.1 s in slices of 200,000).
    """
    marks = {"failed_check": pl.String, "reason": pl.String}
    if df.is_empty():
        return pl.DataFrame(schema=marks)
    keys = list(columns)
    failing = screen_values(df, suite, columns, slice_rows, known).failing
    return (
        df.select(keys)
        .join(failing, on=keys, how="left", nulls_equal=True, maintain_order="left")
        .select(list(marks))
        .cast(marks)
    )


# --- cross-table rules ---------------------------------------------------------------------

def check_claim_references(claims: pl.DataFrame, passages: pl.DataFrame, documents: pl.DataFrame) -> pl.DataFrame:
    """Claims whose references do not hold, one row per (claim, broken rule).

    Rules: the document exists; the passage exists; the passage belongs to the claim's document;
    the claim's span lies inside the passage's span; and, when both frames carry it, the claim's
    cluster_id is its passage's.
    """
    doc_ids = documents.select("doc_id").unique()
    passage_cols = ["passage_id", "doc_id", "char_start", "char_end"]
    has_cluster = "cluster_id" in claims.columns and "cluster_id" in passages.columns
    if has_cluster:
        passage_cols.append("cluster_id")
    joined = (
        claims.select([c for c in ["claim_id", "doc_id", "passage_id", "char_start", "char_end", "cluster_id"] if c in claims.columns])
        .join(doc_ids.with_columns(_doc_found=pl.lit(True)), on="doc_id", how="left")
        .join(
            passages.select(passage_cols)
            .rename({c: f"p_{c}" for c in passage_cols if c != "passage_id"})
            .with_columns(_passage_found=pl.lit(True)),
            on="passage_id",
            how="left",
        )
    )
    doc_found = pl.col("_doc_found").fill_null(False)
    passage_found = pl.col("_passage_found").fill_null(False)
    rules = [
        (
            ~doc_found,
            "claim_references:doc_id",
            pl.format("document {} does not exist", pl.col("doc_id")),
        ),
        (
            ~passage_found,
            "claim_references:passage_id",
            pl.format("passage {} does not exist", pl.col("passage_id")),
        ),
        (
            passage_found & (pl.col("p_doc_id") != pl.col("doc_id")),
            "claim_references:passage_doc",
            pl.format("passage {} belongs to document {}, not {}", pl.col("passage_id"), pl.col("p_doc_id"), pl.col("doc_id")),
        ),
        (
            passage_found & ((pl.col("char_start") < pl.col("p_char_start")) | (pl.col("char_end") > pl.col("p_char_end"))),
            "claim_references:passage_span",
            pl.format(
                "claim span [{}, {}) lies outside passage span [{}, {})",
                pl.col("char_start"), pl.col("char_end"), pl.col("p_char_start"), pl.col("p_char_end"),
            ),
        ),
    ]
    if has_cluster:
        rules.append(
            (
                passage_found & (pl.col("p_cluster_id") != pl.col("cluster_id")),
                "claim_references:cluster_id",
                pl.format("cluster {} is not passage {}'s cluster {}", pl.col("cluster_id"), pl.col("passage_id"), pl.col("p_cluster_id")),
            )
        )
    return _stack_failures(joined, rules)


def check_quote_offsets(claims: pl.DataFrame, documents: pl.DataFrame) -> pl.DataFrame:
    """Claims whose `quote` is not `text[char_start:char_end]` of their document.

    Offsets are character (not byte) indices; Polars `str.slice` counts characters too.
    Adds `found` (the text at the offsets) to the failing rows.
    """
    return _check_spans(claims, documents, id_col="claim_id", span_col="quote", check="quote_offsets")


def check_passage_offsets(passages: pl.DataFrame, documents: pl.DataFrame) -> pl.DataFrame:
    """Passages whose `text` is not `document.text[char_start:char_end]` (same shape as quotes)."""
    return _check_spans(passages, documents, id_col="passage_id", span_col="text", check="passage_offsets")


def _check_spans(frame: pl.DataFrame, documents: pl.DataFrame, *, id_col: str, span_col: str, check: str) -> pl.DataFrame:
    joined = frame.select(id_col, "doc_id", "char_start", "char_end", pl.col(span_col).alias("_span")).join(
        documents.select("doc_id", pl.col("text").alias("_doc_text")), on="doc_id", how="left"
    )
    n_chars = pl.col("_doc_text").str.len_chars()
    in_bounds = (pl.col("char_start") >= 0) & (pl.col("char_end") >= pl.col("char_start")) & (pl.col("char_end") <= n_chars)
    found = pl.when(in_bounds).then(
        pl.col("_doc_text").str.slice(pl.col("char_start"), pl.col("char_end") - pl.col("char_start"))
    )
    joined = joined.with_columns(found=found)
    rules = [
        (
            pl.col("_doc_text").is_null(),
            f"{check}:doc_id",
            pl.format("document {} does not exist, so the offsets cannot be checked", pl.col("doc_id")),
        ),
        (
            pl.col("_doc_text").is_not_null() & ~in_bounds,
            f"{check}:bounds",
            pl.format(
                "offsets [{}, {}) are outside the document's {} characters",
                pl.col("char_start"), pl.col("char_end"), n_chars,
            ),
        ),
        (
            pl.col("_doc_text").is_not_null() & in_bounds & (pl.col("found") != pl.col("_span")),
            f"{check}:{span_col}",
            pl.format("{} does not equal the document text at [{}, {})", pl.lit(span_col), pl.col("char_start"), pl.col("char_end")),
        ),
    ]
    failures = _stack_failures(joined, rules, keep=[id_col, "doc_id", "char_start", "char_end", "_span", "found"])
    return failures.rename({"_span": span_col})


def _stack_failures(joined: pl.DataFrame, rules, keep: list[str] | None = None) -> pl.DataFrame:
    """One row per (row, rule that it breaks), rows in input order, rules in the order given."""
    keep = keep or ["claim_id", "doc_id", "passage_id"]
    joined = joined.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_order"))
    parts = [
        joined.filter(condition.fill_null(False)).select(
            "_order", *keep, pl.lit(name).alias("failed_check"), reason.alias("reason"), pl.lit(k).alias("_rule")
        )
        for k, (condition, name, reason) in enumerate(rules)
    ]
    return pl.concat(parts).sort("_order", "_rule").drop("_order", "_rule")


# --- validating the rows a run wrote ----------------------------------------------------------
#
# A check on a large table validates the rows its writer added or rewrote since the table last
# passed (its scope) with Great Expectations, and states in DuckDB SQL, over the whole table, the
# rules whose outcome depends on other rows (key uniqueness, the `mostly` share of row-level
# rules) or on columns a later stage rewrites. Every other expectation is row-local (a row passes
# or fails on its own values), so rows that passed before and were not rewritten still pass.

# expectation types whose outcome for a row depends on that row alone (row_condition included)
ROW_LOCAL_TYPES = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_match_regex",
        "expect_column_value_lengths_to_be_between",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_column_pair_values_to_be_equal",
    }
)
# about the frame's columns, which a scope frame has like the table
SCHEMA_TYPES = frozenset({"expect_table_columns_to_match_set"})
# keys: their uniqueness is counted over the whole table in SQL
UNIQUENESS_TYPES = frozenset({"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"})
# row-level types whose share of failures is counted over the whole table in SQL
SHARE_TYPES = frozenset({"expect_column_values_to_be_between", "expect_column_pair_values_a_to_be_greater_than_b"})


@dataclass(frozen=True)
class TableWideRule:
    """A rule counted over the whole table in SQL: `checked` and `failed` are boolean SQL
    expressions on one row (uniqueness rules leave them empty and are counted by their key).
    `values` are the columns whose values they compare, `nulls` those they only test for null."""

    index: int
    spec: ExpectationSpec
    checked: str = ""
    failed: str = ""
    values: tuple[str, ...] = ()
    nulls: tuple[str, ...] = ()
    # a null rule on a column later stages rewrite (`mutable_columns`)
    mutable: bool = False

    @property
    def counted_where_changed(self) -> bool:
        """A rule `table_wide_counts` may count over the rows whose rewritten columns changed
        (`changed_relation`): a null rule on such a column, without a row condition, whose rows
        considered are every row of the table."""
        return self.mutable and not self.spec.kwargs.get("row_condition")


def table_wide_rules(
    suite: Suite,
    mutable_columns: frozenset[str] = frozenset(),
    never_null: frozenset[str] = frozenset(),
    enforced_keys: frozenset[frozenset[str]] = frozenset(),
) -> tuple[TableWideRule, ...] | None:
    """The rules a scoped validation of `suite` must count over the whole table, or None when
    some expectation needs the whole table in Great Expectations (then validate every row).

    `mutable_columns` are columns a later stage may rewrite on rows outside the scope (a claim's
    cluster when new copies of its passage arrive): rules on them are counted over the table too.
    `never_null` are columns of those the database keeps from being null on every row, whatever
    the later stage writes: a not-null rule on them cannot fail outside the scope, and is
    checked on the scope's rows like any row-local rule. `enforced_keys` are the column sets the
    database keeps unique and not null over the table (primary keys): a uniqueness rule on one
    cannot fail outside the scope either, and is checked on the scope's rows.
    """
    rules = []
    for i, spec in enumerate(suite.expectations):
        try:
            if spec.type in UNIQUENESS_TYPES:
                if frozenset(spec.columns) not in enforced_keys:
                    rules.append(TableWideRule(i, spec))
            elif spec.level == "row":
                if spec.type not in SHARE_TYPES:
                    return None
                rules.append(TableWideRule(i, spec, *_share_sql(spec)))
            elif spec.type not in ROW_LOCAL_TYPES | SCHEMA_TYPES:
                return None
            elif set(spec.columns) & mutable_columns and not (
                spec.type == "expect_column_values_to_not_be_null" and set(spec.columns) <= never_null
            ):
                rules.append(TableWideRule(i, spec, *_null_sql(spec), mutable=True))
        except ValueError:
            return None
    return tuple(rules)


def _null_sql(spec: ExpectationSpec) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    """(rows considered, rows failing, columns compared, columns tested for null) of a
    structural null rule, as SQL."""
    kw = spec.kwargs
    if set(kw) - {"column", "row_condition", "condition_parser"}:
        raise ValueError(f"{spec.check_name}: kwargs have no SQL form")
    condition = row_condition_sql(kw["row_condition"]) if kw.get("row_condition") else "true"
    compared = row_condition_columns(kw["row_condition"]) if kw.get("row_condition") else ()
    col = _quoted(kw["column"])
    if spec.type == "expect_column_values_to_not_be_null":
        return f"({condition})", f"({condition}) and {col} is null", compared, (kw["column"],)
    if spec.type == "expect_column_values_to_be_null":
        return f"({condition})", f"({condition}) and {col} is not null", compared, (kw["column"],)
    raise ValueError(f"{spec.check_name} has no SQL form")


def _share_sql(spec: ExpectationSpec) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    """(rows the rule considers, rows that fail it, columns compared, no columns tested for
    null only) as SQL, as GX counts them for `mostly`: a
    column rule considers the non-null values where the row condition holds; a pair rule every
    row where the condition holds and not both values are null (GX's default `ignore_row_if`)."""
    kw = spec.kwargs
    known = {"column", "column_A", "column_B", "min_value", "max_value", "or_equal", "mostly", "row_condition", "condition_parser"}
    if set(kw) - known:
        raise ValueError(f"{spec.check_name}: kwargs {sorted(set(kw) - known)} have no SQL form")
    condition = row_condition_sql(kw["row_condition"]) if kw.get("row_condition") else "true"
    compared = (*spec.columns, *(row_condition_columns(kw["row_condition"]) if kw.get("row_condition") else ()))
    if spec.type == "expect_column_values_to_be_between":
        col = _quoted(kw["column"])
        bounds = [f"{col} >= {_literal(kw['min_value'])}"] if kw.get("min_value") is not None else []
        bounds += [f"{col} <= {_literal(kw['max_value'])}"] if kw.get("max_value") is not None else []
        checked = f"({condition}) and {col} is not null"
        return checked, f"{checked} and not ({' and '.join(bounds) or 'true'})", compared, ()
    a, b = _quoted(kw["column_A"]), _quoted(kw["column_B"])
    op = ">=" if kw.get("or_equal") else ">"
    checked = f"({condition}) and not ({a} is null and {b} is null)"
    return checked, f"{checked} and not coalesce({a} {op} {b}, false)", compared, ()


_SQL_COMPARISONS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}


def row_condition_sql(condition: str) -> str:
    """A pandas `row_condition` as a DuckDB SQL predicate that is never null, like pandas'
    (`==`, `!=`, `<`…, `in [...]`, `not in [...]`, joined by `and` / `or`; a null value matches
    only `!=` and `not in`). Raises ValueError for anything else."""

    def node(n: ast.AST) -> str:
        if isinstance(n, ast.BoolOp):
            joiner = " and " if isinstance(n.op, ast.And) else " or "
            return "(" + joiner.join(node(v) for v in n.values) + ")"
        if isinstance(n, ast.Compare) and len(n.ops) == 1 and isinstance(n.left, ast.Name):
            col, op, right = _quoted(n.left.id), n.ops[0], n.comparators[0]
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(right, (ast.List, ast.Tuple)) or not right.elts:
                    raise ValueError(f"row_condition {condition!r}: `in` needs a non-empty list")
                values = ", ".join(_literal(_constant(e)) for e in right.elts)
                inside = f"coalesce({col} in ({values}), false)"
                return inside if isinstance(op, ast.In) else f"not {inside}"
            value = _literal(_constant(right))
            if isinstance(op, ast.Eq):
                return f"({col} is not distinct from {value})"
            if isinstance(op, ast.NotEq):
                return f"({col} is distinct from {value})"
            if type(op) in _SQL_COMPARISONS:
                return f"coalesce({col} {_SQL_COMPARISONS[type(op)]} {value}, false)"
        raise ValueError(f"row_condition {condition!r}: {ast.dump(n)[:60]} has no SQL form here")

    return node(ast.parse(condition, mode="eval").body)


def row_condition_columns(condition: str) -> tuple[str, ...]:
    """The columns a `row_condition` reads, in order of first use."""
    names = (n.id for n in ast.walk(ast.parse(condition, mode="eval")) if isinstance(n, ast.Name))
    return tuple(dict.fromkeys(names))


def _constant(n: ast.AST) -> Any:
    if isinstance(n, ast.Constant) and isinstance(n.value, (str, int, float, bool)):
        return n.value
    raise ValueError(f"{ast.dump(n)[:60]} is not a literal")


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise ValueError(f"{value!r} has no SQL literal here")


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def table_wide_counts(
    conn,
    relation: str,
    rules: tuple[TableWideRule, ...],
    in_scope: str,
    *,
    keys_near_scope: bool = False,
    key_relation: str | None = None,
    changed_relation: str | None = None,
) -> tuple[int, dict[int, dict[str, int]]]:
    """(rows in `relation`, each rule counted over it) in DuckDB: for a uniqueness rule the rows
    whose key another row shares (`failed`, GX's count), for a share or null rule the rows it
    considers and fails, over the table and within the scope (`in_scope`, a SQL predicate).
    The table's rows and every share are counted in one pass, over the rows grouped by what
    the rules read (the columns they compare, whether the columns they test for null are, and
    whether the row is in the scope): the claims' sixteen rules read a few thousand distinct
    (measure, unit, period, value) rows out of 1.3 million at 100,000 articles, and each
    filter is then evaluated per group (0.21-0.28 against 0.89-0.98 s evaluated per row, with a
    benchmark running beside; docs/benchmarks.md, sixteenth session).

    With `keys_near_scope`, a uniqueness rule counts the rows of the key groups that hold a row
    of the scope only: the whole table's count when every other group passed before and no
    row's key changed since (a check that passes records its scope; keys are written once).
    Then the table's keys are looked up, not grouped: in proportion to the scope. Keys are read
    from `key_relation` when given: a relation with the same rows and key columns as
    `relation` that is cheaper to read (the base table of a view that adds columns by a join
    on a primary key).

    With `changed_relation` (the rows of `relation` whose rewritten columns may have changed
    since the table last passed, the scope's among them), the null rules on those columns
    without a row condition (`counted_where_changed`) are counted over those rows only: every
    other row passed them before and was not rewritten since. They consider every row of the
    table, as GX counts a null rule."""
    counts: dict[int, dict[str, int]] = {}
    where_changed = [r for r in rules if r.checked and r.counted_where_changed] if changed_relation is not None else []
    shares = [r for r in rules if r.checked and r not in where_changed]
    if shares:
        compared = dict.fromkeys(c for r in shares for c in r.values)
        tested = [c for c in dict.fromkeys(c for r in shares for c in r.nulls) if c not in compared]
        # a column tested for null only is grouped as true or null: the same tests, far fewer groups
        read = [_quoted(c) for c in compared] + [f"case when {_quoted(c)} is null then null else true end as {_quoted(c)}" for c in tested]
        # the scope is decided on the rows as they are, before a tested column is regrouped
        scoped = f"select *, ({in_scope}) as __in_scope from ({relation})"
        grouped = f"select {', '.join([*read, '__in_scope'])}, count(*) as __n from ({scoped}) group by all"
        parts = ["sum(__n)"]
        for r in shares:
            parts += [
                f"sum(__n) filter (where {r.checked})",
                f"sum(__n) filter (where {r.failed})",
                f"sum(__n) filter (where __in_scope and {r.failed})",
            ]
        summed = ", ".join(f"coalesce({part}, 0)::bigint" for part in parts)
        n_rows, *row = conn.sql(f"select {summed} from ({grouped})").fetchall()[0]
    else:
        n_rows, row = conn.sql(f"select count(*) from ({key_relation or relation})").fetchall()[0][0], []
    for k, r in enumerate(shares):
        counts[r.index] = {"checked": row[3 * k], "failed": row[3 * k + 1], "failed_in_scope": row[3 * k + 2]}
    if where_changed:
        parts = []
        for r in where_changed:
            parts += [f"count(*) filter (where {r.failed})", f"count(*) filter (where ({in_scope}) and {r.failed})"]
        changed = conn.sql(f"select {', '.join(parts)} from ({changed_relation})").fetchall()[0]
        for k, r in enumerate(where_changed):
            counts[r.index] = {"checked": n_rows, "failed": changed[2 * k], "failed_in_scope": changed[2 * k + 1]}
    keys = [r for r in rules if not r.checked]
    if keys:
        source = key_relation or relation
        # the key columns are read once (the relation may be a join), then grouped per rule;
        # near the scope, only the scope's keys are copied and looked up in the table
        columns = ", ".join(dict.fromkeys(_quoted(c) for r in keys for c in r.spec.columns))
        if keys_near_scope:
            ctes = [
                f"key_columns as (select {columns} from ({source}))",
                f"scope_keys as materialized (select {columns} from ({source}) where {in_scope})",
            ]
        else:
            ctes = [f"key_columns as materialized (select {columns} from ({source}))"]
        groups = []
        for r in keys:
            present = " and ".join(f"k.{_quoted(c)} is not null" for c in r.spec.columns)
            if r.spec.type == "expect_compound_columns_to_be_unique":
                # GX skips a row only when every key column is null
                present = " or ".join(f"k.{_quoted(c)} is not null" for c in r.spec.columns)
            near = ""
            if keys_near_scope:
                same = " and ".join(f"k.{_quoted(c)} is not distinct from s.{_quoted(c)}" for c in r.spec.columns)
                near = f" semi join scope_keys as s on {same}"
            groups.append(
                f"(select coalesce(sum(n), 0) from (select count(*) as n from key_columns as k{near} "
                f"where ({present}) group by {', '.join('k.' + _quoted(c) for c in r.spec.columns)} having count(*) > 1))"
            )
        failed = conn.sql(f"with {', '.join(ctes)} select {', '.join(groups)}").fetchall()[0]
        for r, n_failed in zip(keys, failed):
            counts[r.index] = {"failed": int(n_failed), "checked": n_rows}
    return n_rows, counts


def merge_table_wide(
    report: ValidationReport, suite: Suite, rules: tuple[TableWideRule, ...], counts: dict[int, dict[str, int]]
) -> ValidationReport:
    """The report of a scoped validation, with each table-wide rule judged on its whole-table
    counts. A share rule's failures within the scope must be the ones GX found there: if SQL and
    GX disagree, the SQL form is wrong and the validation raises instead of guessing."""
    by_index = {r.index: r for r in rules}
    results = list(report.results)
    for i, result in enumerate(results):
        rule = by_index.get(i)
        if rule is None:
            continue
        c = counts[i]
        if rule.checked:
            if result.n_failed is not None and c["failed_in_scope"] != result.n_failed:
                raise ValidationRunError(
                    f"suite {suite.name!r}: {result.check_name} fails {result.n_failed} rows of the scope in Great "
                    f"Expectations but {c['failed_in_scope']} in its SQL form; cannot judge it over the table"
                )
        if rule.spec.level == "row":
            mostly = float(rule.spec.kwargs["mostly"])
            success = c["checked"] == 0 or (c["checked"] - c["failed"]) / c["checked"] >= mostly
        else:
            success = result.success and c["failed"] == 0
        results[i] = ExpectationResult(
            expectation_type=result.expectation_type,
            columns=result.columns,
            level=result.level,
            rule=result.rule,
            success=success,
            n_checked=c["checked"],
            n_failed=c["failed"],
            failing_values=result.failing_values,
            failing_row_indices=result.failing_row_indices,
        )
    return ValidationReport(
        suite_name=report.suite_name,
        success=all(r.success for r in results),
        n_rows=report.n_rows,
        results=tuple(results),
        failing_rows=report.failing_rows,
        data_docs_index=report.data_docs_index,
    )
