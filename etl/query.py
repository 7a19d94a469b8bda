"""`papers-etl query`: SQL over the tables through the views of sql/views.sql (DuckDB).

The views live in one plain SQL file so that the DuckDB CLI (run from the repository root)
and this module see exactly the same schema; here the file's relative table paths are
pointed at whichever data folder was asked for.

Queries are read-only, in two layers, because DuckDB has no read-only file access: its
`enable_external_access` and `allowed_directories` grant reading and writing alike, and
reading any file (`read_parquet('elsewhere.parquet')`) is meant to work. So:
- `run_query` runs only statements that DuckDB's own parser types as reads, and refuses the
  rest (COPY ... TO, EXPORT DATABASE, ATTACH, INSTALL, SET, CALL, CREATE, ...) before any runs;
- `connect` locks the connection's configuration, which no statement can undo, so that the
  table functions that change settings from inside a SELECT cannot (`FROM enable_logging(
  storage = 'file', ...)` would write log files), and it never installs an extension on demand.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import duckdb
import pyarrow as pa

from etl import config, schemas

VIEWS_SQL_PATH = config.PROJECT_ROOT / "sql" / "views.sql"
# How views.sql writes every table path (see the comment at its top).
_TABLE_PATH = re.compile(r"'data/processed/(?P<table>\w+)\.parquet'")
OUTPUT_FORMATS = ("table", "csv", "json")


class QueryError(Exception):
    """A user-facing, one-line error (bad SQL, missing tables)."""


class ReadOnlyError(QueryError):
    """A statement refused because it could write files or change the connection's state."""


def views_sql(table_path: Callable[[str], str]) -> str:
    """sql/views.sql with each `'data/processed/<table>.parquet'` replaced by `table_path(table)`.

    One file serves the DuckDB CLI (relative paths, run from the repository root), local
    folders (`local_views_sql`) and the Hub layout (the dataset card's `hf://` views).
    """
    text = VIEWS_SQL_PATH.read_text(encoding="utf-8")
    found = {m["table"] for m in _TABLE_PATH.finditer(text)}
    if found != {t.name for t in schemas.TABLES}:
        raise ValueError(f"{VIEWS_SQL_PATH} must read every table once as 'data/processed/<t>'")
    return _TABLE_PATH.sub(lambda m: "'" + table_path(m["table"]).replace("'", "''") + "'", text)


def local_views_sql(data_dir: Path) -> str:
    """The views over the tables of a local folder (absolute paths: any working directory)."""
    folder = data_dir.resolve()
    return views_sql(lambda table: (folder / f"{table}.parquet").as_posix())


def connect(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the views over the tables in `data_dir`.

    Its configuration is locked: no SET, RESET or setting-changing function can alter it.
    """
    missing = schemas.missing_table_files(data_dir)
    if missing:
        raise QueryError(
            f"{data_dir} lacks {', '.join(missing)}; build the tables first (make data)"
        )
    # Settings are fixed for the connection's life (see the module docstring); installing an
    # extension writes to ~/.duckdb, so a query needing one not yet installed fails instead.
    con = duckdb.connect(
        ":memory:", config={"autoinstall_known_extensions": False, "lock_configuration": True}
    )
    try:
        con.execute(local_views_sql(data_dir))
    except duckdb.Error as error:
        raise QueryError(f"cannot read the tables in {data_dir}: {_one_line(error)}") from error
    return con


def _one_line(error: Exception) -> str:
    """DuckDB messages carry a caret diagram on later lines; the first line says what is wrong."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def _words(text: str) -> list[tuple[int, str]]:
    """The tokens of `text` as DuckDB reads them, comments left out: (byte offset, upper text)."""
    raw = text.encode()
    tokens = duckdb.tokenize(text)
    ends = [start for start, _ in tokens[1:]] + [len(raw)]
    return [
        (start, raw[start:end].decode().strip().upper())
        for (start, kind), end in zip(tokens, ends, strict=True)
        if kind != duckdb.token_type.comment
    ]


# Where a refused statement starts like a read (WITH ... INSERT), its type names it instead.
_READ_OPENINGS = frozenset({"SELECT", "WITH", "FROM", "VALUES", "TABLE", "("})


def refusal(statement: duckdb.Statement) -> str | None:
    """Why `statement` may not run ("COPY statements are refused"); None when it only reads.

    DuckDB's parser gives DESCRIBE, SUMMARIZE, SHOW, VALUES, WITH and FROM-first queries the
    SELECT type. Every other type can write a file or change the connection's state, except
    EXPLAIN, which is judged by the statement it explains (EXPLAIN ANALYZE runs it).
    """
    words = _words(statement.query)
    opening = words[0][1] if words else ""
    try:
        kind = statement.type
    except ValueError:  # a type the Python enum lacks (UPDATE EXTENSIONS in duckdb 2.0)
        return f"{opening} statements are refused"
    if kind == duckdb.StatementType.SELECT:
        return None
    if kind == duckdb.StatementType.EXPLAIN:
        return _explain_refusal(statement.query, words)
    if kind == duckdb.StatementType.MULTI:
        # DuckDB splits a statement holding a PIVOT with no IN list into several (the first
        # creates an enum type) whose types are hidden; one that is a PIVOT itself only reads.
        if opening in ("PIVOT", "UNPIVOT"):
            return None
        if opening in _READ_OPENINGS:
            return "a PIVOT without an IN list is refused inside another statement"
    name = kind.name.replace("_", " ") if opening in _READ_OPENINGS else opening
    return f"{name} statements are refused"


def _explain_refusal(text: str, words: list[tuple[int, str]]) -> str | None:
    """The refusal of the statement an EXPLAIN explains, None if that statement only reads.

    `EXPLAIN stmt`, `EXPLAIN ANALYZE stmt`, `EXPLAIN (options) stmt` and `EXPLAIN (stmt)` are
    all DuckDB syntax; every reading of the text after EXPLAIN that parses as one statement
    must be allowed, so that a misreading can only refuse a read, never let a write through.
    """
    raw = text.encode()
    rest = words[1:]
    starts = [start for start, _ in rest[:1]]
    if len(rest) > 1 and rest[0][1] in ("ANALYZE", "ANALYSE"):
        starts.append(rest[1][0])
    if rest and rest[0][1] == "(":
        depth = 0
        for i, (_, word) in enumerate(rest):
            depth += (word == "(") - (word == ")")
            if depth == 0:
                starts += [start for start, _ in rest[i + 1 : i + 2]]
                break
    explained: list[duckdb.Statement] = []
    for start in starts:
        try:
            statements = duckdb.extract_statements(raw[start:].decode())
        except duckdb.Error:
            continue
        if len(statements) == 1:
            explained.append(statements[0])
    if not explained:
        return "EXPLAIN statements are refused when what they explain is unclear"
    return next((r for r in map(refusal, explained) if r is not None), None)


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table | None:
    """Run `sql` (one or more statements); the last statement's rows, None if it has none.

    Raises ReadOnlyError, before any statement runs, if one of them is refused (`refusal`).
    """
    try:
        statements = duckdb.extract_statements(sql)
        if not statements:
            raise QueryError("empty SQL")
        for statement in statements:
            reason = refusal(statement)
            if reason is not None:
                raise ReadOnlyError(f"query is read-only: {reason}")
        # The very statements checked above are the ones that run.
        *before, last = statements
        for statement in before:
            con.execute(statement).complete()
        relation = con.sql(last)
        return None if relation is None else relation.to_arrow_table()
    except duckdb.Error as error:
        raise QueryError(_one_line(error)) from error


def _column_values(column: pa.ChunkedArray) -> list[Any]:
    """A result column as Python values, what every output format prints.

    A column holding a value Python's date and datetime cannot (past year 9999, before year
    1, `infinity`) is printed, whole, as DuckDB's CLI prints it (`infinity`, `5000000-01-01`,
    nested values in DuckDB's notation) instead of failing: DuckDB reads back the Arrow data
    it wrote, and a fresh connection has the query's defaults (time zone included).
    """
    try:
        return column.to_pylist()
    except (OverflowError, ValueError):
        with duckdb.connect(":memory:") as con:
            texts = con.from_arrow(pa.table({"v": column})).project("CAST(v AS VARCHAR)")
            return [text for (text,) in texts.fetchall()]


def _scalar(value: Any) -> Any:
    """Dates as ISO strings, decimals as numbers, bytes as hex: what a scalar prints as."""
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _jsonable(value: Any) -> Any:
    """Scalars as `_scalar`, nested values recursively, NaN and ±Infinity as null: plain JSON.

    JSON has no NaN or Infinity (json.dumps would write them bare, which JSON parsers
    refuse); null, as pandas' and polars' JSON writers do, keeps a float column numbers.
    """
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    value = _scalar(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cell(value: Any) -> str:
    """A scalar as text (NaN as `nan`), a nested value as JSON, null as empty: one cell."""
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        return json.dumps(_jsonable(value), ensure_ascii=False, allow_nan=False)
    return str(_scalar(value))


def _json_keys(names: list[str]) -> list[str]:
    """The column names made distinct, as keys of JSON objects, which cannot repeat one.

    A name's first column keeps it; each repeat takes `name_1`, `name_2`, ... (DuckDB's
    convention when it materializes a result), skipping suffixes any column already has:
    `a, a, a_1` gives `a, a_2, a_1`. Names differing only in case are already distinct keys.
    """
    taken = set(names)
    seen: set[str] = set()
    keys: list[str] = []
    for name in names:
        key = name
        if name in seen:
            n = 1
            while f"{name}_{n}" in taken:
                n += 1
            key = f"{name}_{n}"
            taken.add(key)
        seen.add(name)
        keys.append(key)
    return keys


def write_result(table: pa.Table, output_format: str, out: TextIO) -> None:
    """Print rows as a terminal table, CSV (with header) or a JSON array of objects."""
    # Rows as tuples, not dicts: a query may repeat a column name.
    rows: list[tuple[Any, ...]] = list(zip(*map(_column_values, table.columns), strict=True))
    names = table.column_names
    if output_format == "json":
        keys = _json_keys(names)
        objects = [dict(zip(keys, _jsonable(r), strict=True)) for r in rows]
        out.write(json.dumps(objects, ensure_ascii=False, indent=2, allow_nan=False) + "\n")
    elif output_format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([_cell(v) for v in r] for r in rows)
    elif output_format == "table":
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        # Text, not str: data like "[1]" must not be read as rich markup.
        grid = Table(caption=f"{table.num_rows} rows")
        for name in names:
            grid.add_column(Text(name))
        for r in rows:
            grid.add_row(*(Text(_cell(v)) if v is not None else Text("NULL", "dim") for v in r))
        Console(file=out).print(grid)
    else:
        raise ValueError(f"unknown output format {output_format!r}; use one of {OUTPUT_FORMATS}")


def run_query_command(sql: str, *, data: Path, output_format: str) -> int:
    """CLI entry: 0 on success; 2, with a one-line message, on bad SQL, missing tables or a
    refused statement (queries are read-only)."""
    try:
        result = run_query(connect(data), sql)
    except QueryError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result is not None:
        write_result(result, output_format, sys.stdout)
    return 0
