"""The data-quality gate: run the Great Expectations suites in expectations/ on the tables.

The JSON suites are the only place data rules live. This module only does the plumbing:

* it checks each Parquet file against the contract in etl/schemas.py (present, readable,
  same columns and types), because a missing or drifted table must fail clearly rather
  than as a traceback inside an expectation;
* it computes each suite's batch with DuckDB from the SQL in the suite's `meta.batch.sql`
  (cross-table facts such as `orphan_paper_id` or `latest_captured_on` are columns of
  that batch, so every rule, cross-table ones included, is an ordinary expectation); the
  SQL may read `getvariable('today')`, the day validation runs (no date in the tables may
  be later), and call `url_host(url)`, urllib.parse's reading of a URL's host;
* it validates the batches as pandas dataframes in an ephemeral GX context and reports,
  naming the first failing rows of a failed rule by their table's primary key.

Great Expectations is imported inside functions only: it takes seconds to import and most
commands never need it.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyarrow as pa

from etl import config, schemas
from etl.dates import latest_today
from etl.messages import labelled

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from great_expectations.data_context import AbstractDataContext

# Offline and quiet: no usage statistics, whoever imports great_expectations first.
os.environ["GX_ANALYTICS_ENABLED"] = "false"

REPORT_DIR_ENV = "PAPERS_ETL_VALIDATION_DIR"
"""Overrides config.VALIDATION_DIR for `papers-etl validate` (tests write to a tmp dir)."""

SCHEMA_RULE = "table_schema"
"""Pseudo-rule failed when a suite's own table is missing, unreadable or off-contract."""
INPUTS_RULE = "inputs_available"
"""Pseudo-rule failed when another table the suite's batch joins is unusable."""

SAMPLE_SIZE = 3
ROW_KEY_LIMIT = 5
"""How many failing rows of a rule the report names, by their table's primary key."""
_PARTIAL_COUNT = 20
"""GX's `partial_unexpected_count`: the failing values, and rows, that a result keeps."""
_DOCS_SITE = "validation"
_STRING_TYPES = {"large_string": "string", "string_view": "string"}


class SuiteDefinitionError(Exception):
    """A suite file is not a valid GX 1.x suite for this project (a code bug, not bad data)."""


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict, reduced to what a person needs to act on it."""

    rule: str
    expectation: str
    column: str
    success: bool
    unexpected_count: int | None = None
    element_count: int | None = None
    observed: str | None = None
    samples: tuple[str, ...] = ()
    error: str | None = None
    failing_keys: tuple[tuple[Any, ...], ...] = ()
    """The primary key of each of the first ROW_KEY_LIMIT failing rows, smallest first (every
    suite's batch is in its table's key order; a key twice when two rows share it). Empty
    when the rule passed, or is not about rows (a table's row count, a suite's table_schema).
    """


@dataclass(frozen=True)
class SuiteReport:
    """The verdict of one suite (one table)."""

    suite: str
    success: bool
    row_count: int | None
    outcomes: tuple[ExpectationOutcome, ...]
    primary_key: tuple[str, ...] = ()
    """The table's key (etl/schemas.py): the columns of each outcome's failing_keys."""

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success)


@dataclass(frozen=True)
class ValidationReport:
    """The verdict over every table; `success` is what gates a build."""

    success: bool
    suites: tuple[SuiteReport, ...]
    seconds: float
    data_dir: Path | None = None
    report_dir: Path | None = None
    result_files: tuple[Path, ...] = field(default=())
    data_docs_index: Path | None = None

    @property
    def failures(self) -> dict[str, dict[str, int | None]]:
        """{suite: {rule: failing row count (None for table-level rules)}} of failed rules."""
        return {
            s.suite: {o.rule: o.unexpected_count for o in s.failed}
            for s in self.suites
            if not s.success
        }

    @property
    def failed_rules(self) -> set[str]:
        """Failed rules as `suite.rule` names, e.g. `papers.title_not_boilerplate`."""
        return {f"{s.suite}.{o.rule}" for s in self.suites for o in s.failed}

    def failure_lines(self) -> list[str]:
        """One line per failed rule, in suite order: `suite.rule: N failing rows; rows
        paper_id: 'a', …` (the error, or nothing more, for a rule not about rows)."""
        lines = []
        for suite in self.suites:
            for o in suite.failed:
                counted = "" if o.unexpected_count is None else f": {o.unexpected_count:,} failing"
                detail = _rows_line(o, suite.primary_key) or o.error or ""
                lines.append(f"{suite.suite}.{o.rule}{counted}" + (f"; {detail}" if detail else ""))
        return lines

    @property
    def not_in_data_docs(self) -> list[str]:
        """Failed rules found before GX ran (table_schema, inputs_available): the Data Docs,
        which GX renders from its own results, do not show them."""
        return sorted(
            f"{s.suite}.{o.rule}"
            for s in self.suites
            for o in s.failed
            if o.rule in (SCHEMA_RULE, INPUTS_RULE)
        )

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "seconds": round(self.seconds, 3),
            "data_dir": str(self.data_dir),
            "failed_rules": sorted(self.failed_rules),
            "not_in_data_docs": self.not_in_data_docs,
            "suites": [asdict(s) for s in self.suites],
        }


# --- suites ------------------------------------------------------------------------------


def suite_parameters() -> dict[str, list[str]]:
    """The contract's vocabularies, which suites use as `{"$PARAMETER": NAME}` value sets.

    They live in etl/schemas.py (the parser, the writer and the card use them too); the
    rules that values must belong to them live in the suites.
    """
    return {
        "YEAR_SOURCES": list(schemas.YEAR_SOURCES),
        "LINK_KINDS": list(schemas.LINK_KINDS),
        "DUMP_FORMATS": list(schemas.DUMP_FORMATS),
        "REJECT_REASONS": sorted(schemas.REJECT_REASONS),
    }


@dataclass(frozen=True)
class _Suite:
    name: str
    tables: tuple[str, ...]
    sql: str
    document: dict[str, Any]


def load_suite_documents(expectations_dir: Path = config.EXPECTATIONS_DIR) -> list[_Suite]:
    """Read expectations/<table>.json for every table of the contract, in contract order."""
    suites: list[_Suite] = []
    for spec in schemas.TABLES:
        path = expectations_dir / f"{spec.name}.json"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SuiteDefinitionError(f"cannot read suite {path}: {exc}") from exc
        batch = document.get("meta", {}).get("batch", {})
        tables = tuple(batch.get("tables", ()))
        sql = batch.get("sql")
        if isinstance(sql, list):  # one string per line, for readable diffs
            sql = "\n".join(sql)
        if document.get("name") != spec.name or not sql or spec.name not in tables:
            raise SuiteDefinitionError(
                f"{path}: needs name {spec.name!r} and meta.batch.sql / meta.batch.tables "
                f"(listing {spec.name!r} and every table the SQL reads)"
            )
        unknown = set(tables) - set(schemas.TABLES_BY_NAME)
        if unknown:
            raise SuiteDefinitionError(f"{path}: meta.batch.tables names unknown {sorted(unknown)}")
        rules = [e.get("meta", {}).get("rule") for e in document.get("expectations", [])]
        if not all(rules) or len(set(rules)) != len(rules):
            raise SuiteDefinitionError(f"{path}: every expectation needs a unique meta.rule")
        if {SCHEMA_RULE, INPUTS_RULE} & set(rules):
            raise SuiteDefinitionError(
                f"{path}: rule names {SCHEMA_RULE}/{INPUTS_RULE} are reserved"
            )
        suites.append(_Suite(spec.name, tables, sql, document))
    return suites


PYTHON_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Every character Python's `\\s` matches in a str pattern (str.isspace()), as class contents."""


def spell_out_whitespace(regex: str) -> str:
    """regex with `\\s` and `\\S` replaced by the characters Python's `\\s` matches.

    Same matches, faster: pandas runs a regex over Arrow strings in Arrow's RE2, except one
    with `\\s` (RE2's misses Unicode spaces and `\\v`), which it runs row by row in Python's
    re: 1.8 s of validating 1 GB of dumps. The suites keep the readable `\\s`. A regex this
    cannot rewrite faithfully (`\\S` inside a class, ASCII mode) is returned as it was.
    """
    if re.compile(regex).flags & re.ASCII:
        return regex
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(regex):
        char = regex[i]
        if char == "\\" and i + 1 < len(regex):
            escaped = regex[i + 1]
            if escaped == "s":
                out.append(PYTHON_WHITESPACE if in_class else f"[{PYTHON_WHITESPACE}]")
            elif escaped == "S" and in_class:
                return regex
            elif escaped == "S":
                out.append(f"[^{PYTHON_WHITESPACE}]")
            else:
                out.append(regex[i : i + 2])
            i += 2
            continue
        out.append(char)
        if in_class and char == "]":
            in_class = False
        elif not in_class and char == "[":
            in_class = True
            # `]` first in a class (after an optional `^`) is a literal, not its end.
            for literal in ("^", "]"):
                if regex.startswith(literal, i + 1):
                    out.append(literal)
                    i += 1
        i += 1
    return "".join(out)


def _in_re2(expectation: dict[str, Any]) -> dict[str, Any]:
    """An expectation document with its regexes passed through spell_out_whitespace."""
    kwargs = dict(expectation.get("kwargs", {}))
    if isinstance(kwargs.get("regex"), str):
        kwargs["regex"] = spell_out_whitespace(kwargs["regex"])
    if isinstance(kwargs.get("regex_list"), list):
        kwargs["regex_list"] = [
            spell_out_whitespace(r) if isinstance(r, str) else r for r in kwargs["regex_list"]
        ]
    return {**expectation, "kwargs": kwargs}


def _build_gx_suite(suite: _Suite, rules: Collection[str] | None = None) -> Any:
    """The GX ExpectationSuite of a document (of its `rules` only, when given); raises
    instead of GX's silent drop of bad expectations."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    expectations = []
    for raw in suite.document.get("expectations", []):
        if rules is not None and raw.get("meta", {}).get("rule") not in rules:
            continue
        try:
            expectations.append(ExpectationConfiguration(**_in_re2(raw)).to_domain_obj())
        except Exception as exc:
            rule = raw.get("meta", {}).get("rule")
            raise SuiteDefinitionError(f"suite {suite.name}, rule {rule}: {exc}") from exc
    meta = dict(suite.document.get("meta", {}))
    gx_suite = gx.ExpectationSuite(
        name=suite.name, expectations=expectations, meta=meta, notes=meta.get("notes")
    )
    unknown = set(gx_suite.suite_parameter_options) - set(suite_parameters())
    if unknown:
        raise SuiteDefinitionError(f"suite {suite.name}: unknown $PARAMETER {sorted(unknown)}")
    return gx_suite


# --- tables ------------------------------------------------------------------------------


def _type_name(data_type: pa.DataType) -> str:
    name = str(data_type)
    return _STRING_TYPES.get(name, name)


def check_table_file(path: Path, spec: schemas.TableSpec) -> str | None:
    """Why the Parquet file breaks the contract of etl/schemas.py, or None if it keeps it.

    Nullability is left to the suites' not-null rules (so a null shows up as a failing rule
    with examples); names, order and logical types must match.
    """
    import pyarrow.parquet as pq

    if not path.is_file():
        return f"missing file {path.name}"
    try:
        schema = pq.read_schema(path)
    except Exception as exc:
        return f"unreadable Parquet file {path.name}: {exc}"
    actual = [(f.name, _type_name(f.type)) for f in schema]
    expected = [(c.name, _type_name(c.type)) for c in spec.columns]
    if actual == expected:
        return None
    problems = []
    got = dict(actual)
    missing = [name for name, _ in expected if name not in got]
    extra = [name for name, _ in actual if name not in dict(expected)]
    wrong = [
        f"{name} is {got[name]}, expected {kind}"
        for name, kind in expected
        if name in got and got[name] != kind
    ]
    if missing:
        problems.append(f"missing columns {missing}")
    if extra:
        problems.append(f"unexpected columns {extra}")
    problems.extend(wrong)
    if not problems:
        problems.append(f"columns out of order: {[n for n, _ in actual]}")
    return f"{path.name} does not match etl/schemas.py: " + "; ".join(problems)


_URL_ORIGIN = r"^(?P<origin>[^/?#]*(?://[^/?#]*)?)"
"""A URL's scheme and netloc: where urlsplit stops looking for the host (at `/`, `?`, `#`)."""


def url_hosts(urls: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The SQL function `url_host(url)`: each URL's host as `urllib.parse.urlsplit` reads it.

    Lower-cased, without user info or port; `''` for a URL with no host or one urlsplit
    refuses (so a link whose host came from nowhere fails the rule comparing them). It
    reads the URL itself, not etl/links.py, so the suites check the links stage rather
    than repeat it. urlsplit decides the host from the URL's start (scheme and netloc)
    alone, so each distinct start is parsed once: DuckDB calls this a vector of 2,048 URLs
    at a time, hence the cache across calls.
    """
    import pyarrow.compute as pc

    origins = pc.struct_field(pc.extract_regex(urls, _URL_ORIGIN), [0])
    distinct = pc.unique(origins)
    hosts = pa.array([_hostname(origin) for origin in distinct.to_pylist()], pa.string())
    return hosts.take(pc.index_in(origins, value_set=distinct))


@functools.lru_cache(maxsize=65_536)
def _hostname(url: str | None) -> str | None:
    if url is None:
        return None
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _open_tables(
    data_dir: Path, usable: Iterable[str], today: dt.date
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for the suites' batch queries: one view per usable table, the
    variable `today` and the function `url_host`."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # no bar on long batch queries
    con.execute(f"SET VARIABLE today = DATE '{today.isoformat()}'")
    con.create_function("url_host", url_hosts, ["VARCHAR"], "VARCHAR", type="arrow")
    for name in sorted(usable):
        path = str(data_dir / schemas.TABLES_BY_NAME[name].file_name).replace("'", "''")
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con


def _batch_frame(con: duckdb.DuckDBPyConnection, suite: _Suite) -> pd.DataFrame | str:
    """The suite's batch (its `meta.batch.sql`) as a dataframe, or why the query failed.

    In its table's key order (`etl/schemas.py`), so that a rule's first failing rows are its
    smallest keys, whatever order the files or DuckDB's threads give (nulls last). A batch
    without the key columns is left in its own order (its failures name no rows).
    """
    import duckdb

    key = schemas.TABLES_BY_NAME[suite.name].primary_key
    try:
        batch = con.sql(suite.sql)
        if set(key) <= set(batch.columns):
            batch = batch.order(", ".join(key))
        table = batch.to_arrow_table()
    except duckdb.Error as exc:
        return f"batch query failed: {exc}"
    return _to_pandas(table)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas: strings stay Arrow-backed (pandas 3's `str`), dates `datetime.date`.

    GX filters the whole frame for every column it checks. Arrow strings are the faster
    kind here: object columns took 11.4 s to validate 1 GB of dumps, against 8.8 s, mostly
    in making and hashing Python strings. Dates stay `datetime.date`, which GX compares with
    the ISO bounds in the suites.
    """
    return table.to_pandas(split_blocks=True, self_destruct=True)


def _without_batch_fingerprints() -> None:
    """Stop GX hashing every batch for a fingerprint that nothing here reads.

    GX's pandas engine hashes each whole batch below `HASH_THRESHOLD` bytes into a batch
    marker: 1.5-2 s of validating 1 GB of dumps. Raising no error if GX drops the constant
    is deliberate: the validation is the same either way, only slower.
    """
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0


# --- running -----------------------------------------------------------------------------


def _gx_context(docs_dir: Path | None) -> AbstractDataContext:
    """An in-memory GX context, with one local Data Docs site when docs are wanted."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites: dict[str, Any] = {}
    if docs_dir is not None:
        sites[_DOCS_SITE] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    project_config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=project_config)


def _short(value: Any, limit: int = 60) -> str:
    """repr() for values (shows stray whitespace), cut to a readable length."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _column_label(kwargs: Mapping[str, Any]) -> str:
    if "column" in kwargs:
        return str(kwargs["column"])
    if "column_list" in kwargs:
        return ", ".join(kwargs["column_list"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']} vs {kwargs['column_B']}"
    return "(table)"


def _exception_message(info: Mapping[str, Any] | None) -> str | None:
    """The first raised exception in GX's exception_info (flat or keyed by metric)."""
    if not info:
        return None
    candidates = [info] + [v for v in info.values() if isinstance(v, Mapping)]
    for item in candidates:
        if item.get("raised_exception"):
            return str(item.get("exception_message") or "exception while computing the rule")
    return None


def _samples(result: Mapping[str, Any]) -> tuple[str, ...]:
    """A few distinct failing values (from GX's partial list), as the table holds them."""
    distinct: list[str] = []
    for value in result.get("partial_unexpected_list") or []:
        text = _short(_as_stored(value))
        if text not in distinct:
            distinct.append(text)
    return tuple(distinct[:SAMPLE_SIZE])


def _as_stored(value: Any) -> Any:
    """A value as the table holds it: pandas makes the integers of a column with a null
    floats (12.0, shown as `-1.0` for a -1), and gives numpy scalars. No table has a float
    column, so a whole float is one of those integers."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, tuple | list):  # a row's values, from a rule over several columns
        return type(value)(_as_stored(v) for v in value)
    return value


def _key_value(value: Any) -> Any:
    """A key value as JSON holds it (a null NaN in pandas: None)."""
    import pandas as pd

    return None if pd.isna(value) else _as_stored(value)


def _failing_keys(result: Mapping[str, Any], key: tuple[str, ...]) -> tuple[tuple[Any, ...], ...]:
    """The keys of the first failing rows, from GX's `unexpected_rows` (whole rows).

    None there (a table-level rule, a passing one) or a batch without the key columns (a
    suite whose SQL drops them) names no rows.
    """
    rows = result.get("unexpected_rows")
    if rows is None or not key or not set(key) <= set(rows.columns):
        return ()
    first = rows[list(key)].head(ROW_KEY_LIMIT).itertuples(index=False, name=None)
    return tuple(tuple(_key_value(v) for v in row) for row in first)


def _outcome(evr: Any, key: tuple[str, ...]) -> ExpectationOutcome:
    config_ = evr.expectation_config
    result = evr.result or {}
    error = _exception_message(evr.exception_info)
    observed = result.get("observed_value")
    return ExpectationOutcome(
        rule=str(config_.meta.get("rule")),
        expectation=config_.type,
        column=_column_label(config_.kwargs),
        success=bool(evr.success) and error is None,
        unexpected_count=result.get("unexpected_count"),
        element_count=result.get("element_count"),
        observed=None if observed is None else _short(observed),
        samples=_samples(result),
        error=error,
        failing_keys=_failing_keys(result, key),
    )


def _failed_suite(name: str, rule: str, what: str, message: str) -> SuiteReport:
    outcome = ExpectationOutcome(
        rule=rule, expectation=what, column="(table)", success=False, error=message
    )
    return SuiteReport(
        suite=name,
        success=False,
        row_count=None,
        outcomes=(outcome,),
        primary_key=schemas.TABLES_BY_NAME[name].primary_key,
    )


def validate_tables(
    data_dir: Path,
    report_dir: Path | None = None,
    *,
    suites: Collection[str] | None = None,
    expectations_dir: Path = config.EXPECTATIONS_DIR,
    today: dt.date | None = None,
) -> ValidationReport:
    """Validate the six Parquet tables in data_dir against expectations/; never raises on bad data.

    A missing, unreadable or off-contract table fails its suite (rule `table_schema`) and
    the suites whose batch joins it (rule `inputs_available`). With report_dir, writes
    `results/<suite>.json` (GX validation results), `summary.json` and GX Data Docs
    (`data_docs/index.html`) there, replacing those of an earlier run. Raises
    SuiteDefinitionError only when a suite file itself is broken. `suites` restricts the
    run to some suites (tests use it to re-check only what a change can affect). `today`,
    the latest date the tables may hold (the batches' `getvariable('today')`), is by default
    the date it is now where it is latest on Earth (UTC+14): a page captured "today" far east
    is not in the future for a machine further west. Tests fix it, so that they do not depend
    on the calendar.
    """
    started = time.perf_counter()
    today = today or latest_today()
    documents = load_suite_documents(expectations_dir)
    unknown = set(suites or ()) - {s.name for s in documents}
    if unknown:
        raise ValueError(f"no such suite(s): {sorted(unknown)}")
    selected = [s for s in documents if not suites or s.name in suites]
    gx_suites = {suite.name: _build_gx_suite(suite) for suite in selected}
    problems = {
        spec.name: check_table_file(data_dir / spec.file_name, spec) for spec in schemas.TABLES
    }

    docs_dir, results_dir = _fresh_report_dirs(report_dir)
    _without_batch_fingerprints()
    context = _gx_context(docs_dir)
    datasource = context.data_sources.add_pandas("tables")
    reports: list[SuiteReport] = []
    result_files: list[Path] = []
    usable = [name for name, problem in problems.items() if problem is None]
    for suite in selected:
        unusable = _unusable_inputs(suite, problems)
        if unusable is not None:
            reports.append(unusable)
            continue
        # A connection per batch: DuckDB keeps the memory of a query until its connection
        # closes (the papers batch, which reads every abstract: 240 MiB at 1 GB of dumps).
        with _open_tables(data_dir, usable, today) as con:
            frame = _batch_frame(con, suite)
        if isinstance(frame, str):
            reports.append(_failed_suite(suite.name, INPUTS_RULE, "batch query", frame))
            continue
        report = _run_suite(context, datasource, gx_suites[suite.name], suite, frame)
        del frame
        _forget_batches(datasource)  # one batch in memory at a time
        reports.append(report.suite_report)
        if results_dir is not None:
            path = results_dir / f"{suite.name}.json"
            path.write_text(json.dumps(report.gx_result, indent=2, default=str) + "\n")
            result_files.append(path)

    index = None
    if docs_dir is not None and result_files:
        context.build_data_docs(site_names=[_DOCS_SITE])
        index = docs_dir / "index.html"
    validation = ValidationReport(
        success=all(r.success for r in reports),
        suites=tuple(reports),
        seconds=time.perf_counter() - started,
        data_dir=data_dir,
        report_dir=report_dir,
        result_files=tuple(result_files),
        data_docs_index=index,
    )
    if report_dir is not None:
        summary = report_dir / "summary.json"
        summary.write_text(json.dumps(validation.to_json_dict(), indent=2) + "\n", encoding="utf-8")
    return validation


def _fresh_report_dirs(report_dir: Path | None) -> tuple[Path | None, Path | None]:
    """The Data Docs and results folders of `report_dir`, emptied of an earlier run's."""
    if report_dir is None:
        return None, None
    docs_dir, results_dir = report_dir / "data_docs", report_dir / "results"
    for stale in (docs_dir, results_dir):
        shutil.rmtree(stale, ignore_errors=True)
    results_dir.mkdir(parents=True)
    return docs_dir, results_dir


def _unusable_inputs(suite: _Suite, problems: Mapping[str, str | None]) -> SuiteReport | None:
    """The suite's failure when its own table, or one its batch joins, cannot be read as
    the contract says (`check_table_file`); None when all of them can."""
    own_problem = problems[suite.name]
    if own_problem is not None:
        return _failed_suite(suite.name, SCHEMA_RULE, "matches etl/schemas.py", own_problem)
    broken = [f"{t}: {problems[t]}" for t in suite.tables if problems[t] is not None]
    if broken:
        message = "batch not computed, an input table is unusable: " + "; ".join(broken)
        return _failed_suite(suite.name, INPUTS_RULE, "batch query", message)
    return None


def _forget_batches(datasource: Any) -> None:
    """Drop the batches GX's execution engine keeps after a run.

    The engine caches every batch it loaded, dataframe included, for the datasource's life:
    at 1 GB of dumps the six batches piled up to a 1,099 MiB peak.
    """
    batch_manager = datasource.get_execution_engine().batch_manager
    batch_manager.batch_data_cache.clear()
    batch_manager.reset_batch_cache()


@dataclass(frozen=True)
class _SuiteRun:
    suite_report: SuiteReport
    gx_result: dict[str, Any]


def _run_suite(
    context: AbstractDataContext, datasource: Any, gx_suite: Any, suite: _Suite, frame: pd.DataFrame
) -> _SuiteRun:
    """Validate one batch with GX (BASIC results: counts and a partial list of values), then
    the rules that failed row by row again, for their failing rows (_add_failing_rows).

    Not SUMMARY: for every column rule it also lists the failing rows' index and an index
    query, each by filtering the whole batch, every column of it, even when nothing fails.
    That was 1.6-1.7 s of validating 1 GB of dumps (9.7 s against 8.1 s), for two fields
    that nothing here reads; the report's samples come from the partial list.
    """
    import great_expectations as gx

    asset = datasource.add_dataframe_asset(suite.name)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(
            name=suite.name,
            data=asset.add_batch_definition_whole_dataframe(suite.name),
            suite=context.suites.add(gx_suite),
        )
    )
    result = definition.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=suite_parameters(),
        result_format={"result_format": "BASIC", "partial_unexpected_count": _PARTIAL_COUNT},
    )
    _add_failing_rows(definition.batch_definition, suite, result.results, frame)
    key = schemas.TABLES_BY_NAME[suite.name].primary_key
    order = {e["meta"]["rule"]: i for i, e in enumerate(suite.document["expectations"])}
    outcomes = sorted((_outcome(r, key) for r in result.results), key=lambda o: order[o.rule])
    suite_report = SuiteReport(
        suite=suite.name,
        success=all(o.success for o in outcomes),
        row_count=len(frame),
        outcomes=tuple(outcomes),
        primary_key=key,
    )
    return _SuiteRun(suite_report, result.to_json_dict())


def _add_failing_rows(
    batch_definition: Any, suite: _Suite, results: Iterable[Any], frame: pd.DataFrame
) -> None:
    """Add GX's `unexpected_rows` (the first _PARTIAL_COUNT failing rows, every column of the
    batch) to the results of the rules that failed on some rows, by validating those rules
    again with `include_unexpected_rows`.

    Only a failure pays for it. Asked for in the first run, the rows cost a filter of the
    whole batch for every rule, failing or not: 3.8 s more of validating the 1 million
    papers of bench/validate_1m.py (15.6 s against 11.7 s). Not GX's own key listing
    (SUMMARY with `unexpected_index_column_names`): on pandas it builds one dict per failing
    row before it keeps 20, 26 s for a rule failing on 1 million rows, where these rows take
    0.25 s. Rules about the whole table (row counts) have no failing rows: not run again.
    """
    failed = {
        r.expectation_config.meta["rule"]: r
        for r in results
        if not r.success and (r.result or {}).get("unexpected_count")
    }
    if not failed:
        return
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    again = batch.validate(
        _build_gx_suite(suite, rules=failed),
        result_format={
            "result_format": "BASIC",
            "partial_unexpected_count": _PARTIAL_COUNT,
            "include_unexpected_rows": True,
        },
        expectation_parameters=suite_parameters(),
    )
    for evr in again.results:
        rows = (evr.result or {}).get("unexpected_rows")
        if rows is not None:
            failed[evr.expectation_config.meta["rule"]].result["unexpected_rows"] = rows


# --- command -----------------------------------------------------------------------------


def _rows_line(outcome: ExpectationOutcome, key: tuple[str, ...]) -> str:
    """`rows paper_id: 'a', 'b', …` (`rows (source_file, line_start): ('x', 1)` for a key of
    several columns): the keys of the first failing rows, `…` if more rows fail."""
    if not outcome.failing_keys:
        return ""
    if len(key) == 1:
        label, keys = key[0], [_short(k[0]) for k in outcome.failing_keys]
    else:
        label = f"({', '.join(key)})"
        keys = [f"({', '.join(_short(v) for v in k)})" for k in outcome.failing_keys]
    more = (outcome.unexpected_count or 0) > len(outcome.failing_keys)
    return f"rows {label}: " + ", ".join(keys) + (", …" if more else "")


def print_report(report: ValidationReport) -> None:
    """One rich table per suite: expectation, verdict, failing rows, a few failing values and
    the keys of the first failing rows."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Paths, names and failing values are shown as they are (etl/messages.py).
    console = Console(emoji=False)
    console.print(f"Validating the tables in {report.data_dir}", markup=False)
    for suite in report.suites:
        verdict = "[green]passed[/]" if suite.success else "[bold red]FAILED[/]"
        rows = "" if suite.row_count is None else f", {suite.row_count:,} rows"
        table = Table(title=f"{suite.suite}{rows}: {verdict}", title_justify="left", expand=True)
        table.add_column("expectation", overflow="fold", ratio=3)
        table.add_column("column", overflow="fold", ratio=2)
        table.add_column("result", no_wrap=True)
        table.add_column("failing", justify="right", no_wrap=True)
        table.add_column("examples", overflow="fold", ratio=4)
        for o in suite.outcomes:
            name = Text(o.rule)
            if not o.success:
                name.append("\n").append(o.expectation, "dim")
            status = "[green]ok[/]" if o.success else "[bold red]FAIL[/]"
            failing = "" if o.unexpected_count is None else f"{o.unexpected_count:,}"
            details = o.error or ("; ".join(o.samples) or (o.observed or ""))
            rows_line = _rows_line(o, suite.primary_key)
            details += f"\n{rows_line}" if details and rows_line else rows_line
            table.add_row(name, Text(o.column), status, failing, Text(details))
        console.print(table)
    if report.report_dir is not None:
        console.print(f"Validation results: {report.report_dir / 'results'}", markup=False)
        if report.data_docs_index is not None:
            console.print(f"Data Docs: {report.data_docs_index}", markup=False)
        if report.not_in_data_docs:
            console.print(
                "Not in the Data Docs (found before Great Expectations ran; in summary.json): "
                + ", ".join(report.not_in_data_docs),
                markup=False,
            )
    if report.success:
        console.print(f"[green]All suites passed[/] in {report.seconds:.1f} s.")
    else:
        failed = ", ".join(sorted(report.failed_rules))
        console.print(
            labelled(
                console,
                "Validation failed",
                "bold red",
                f"({len(report.failed_rules)} rule(s)): {failed}",
            )
        )


def run_validate_command(data: Path, report_dir: Path | None = None) -> int:
    """`papers-etl validate`: 0 when every suite passes, 1 when any fails, 2 on a broken suite
    or no tables folder at all (a folder lacking some tables fails their schema rules).

    The report goes to report_dir, else $PAPERS_ETL_VALIDATION_DIR, else build/validation/.
    """
    if not data.is_dir():
        print(
            f"error: {data} is not a folder of tables; build them first (make data)",
            file=sys.stderr,
        )
        return 2
    if report_dir is None:
        report_dir = Path(os.environ.get(REPORT_DIR_ENV) or config.VALIDATION_DIR)
    try:
        report = validate_tables(data, report_dir)
    except SuiteDefinitionError as exc:
        from rich.console import Console

        console = Console(stderr=True, emoji=False)
        console.print(labelled(console, "Broken expectation suite:", "bold red", str(exc)))
        return 2
    print_report(report)
    return 0 if report.success else 1
