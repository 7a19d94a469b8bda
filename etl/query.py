"""`papers-etl query`: SQL over the tables through the views of sql/views.sql (DuckDB).

The views live in one plain SQL file so that the DuckDB CLI (run from the repository root)
and this module see exactly the same schema; here the file's relative table paths are
pointed at whichever data folder was asked for.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
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
VIEW_NAMES: tuple[str, ...] = (*(t.name for t in schemas.TABLES), "papers_full")
OUTPUT_FORMATS = ("table", "csv", "json")


class QueryError(Exception):
    """A user-facing, one-line error (bad SQL, missing tables)."""


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
    """An in-memory DuckDB connection with the views over the tables in `data_dir`."""
    missing = [t.file_name for t in schemas.TABLES if not (data_dir / t.file_name).is_file()]
    if missing:
        raise QueryError(
            f"{data_dir} lacks {', '.join(missing)}; build the tables first (make data)"
        )
    con = duckdb.connect(":memory:")
    try:
        con.execute(local_views_sql(data_dir))
    except duckdb.Error as error:
        raise QueryError(f"cannot read the tables in {data_dir}: {_one_line(error)}") from error
    return con


def _one_line(error: Exception) -> str:
    """DuckDB messages carry a caret diagram on later lines; the first line says what is wrong."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table | None:
    """Run `sql` (one or more statements); the last statement's rows, None if it has none."""
    if not sql.strip():
        raise QueryError("empty SQL")
    try:
        relation = con.sql(sql)
        return None if relation is None else relation.to_arrow_table()
    except duckdb.Error as error:
        raise QueryError(_one_line(error)) from error


def _jsonable(value: Any) -> Any:
    """Dates as ISO strings, decimals as numbers, nested values recursively: plain JSON."""
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _cell(value: Any) -> str:
    """A scalar as text, a nested value as JSON, null as empty: one CSV/table cell."""
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        return json.dumps(_jsonable(value), ensure_ascii=False)
    return str(_jsonable(value))


def write_result(table: pa.Table, output_format: str, out: TextIO) -> None:
    """Print rows as a terminal table, CSV (with header) or a JSON array of objects."""
    # Rows as tuples, not dicts: a query may repeat a column name.
    rows: list[tuple[Any, ...]] = list(zip(*(c.to_pylist() for c in table.columns), strict=True))
    names = table.column_names
    if output_format == "json":
        objects = [dict(zip(names, _jsonable(r), strict=True)) for r in rows]
        out.write(json.dumps(objects, ensure_ascii=False, indent=2) + "\n")
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
    """CLI entry: 0 on success, 2 on bad SQL or missing tables, with a one-line message."""
    try:
        result = run_query(connect(data), sql)
    except QueryError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if result is not None:
        write_result(result, output_format, sys.stdout)
    return 0
