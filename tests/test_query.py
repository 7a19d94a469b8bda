"""sql/views.sql and `papers-etl query`, on the committed tables in data/processed."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from etl import config, query, schemas
from etl.cli import app
from tests.conftest import copy_of_the_tables

DATA = config.PROCESSED_DIR


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return query.connect(DATA)


def test_every_view_reads_its_whole_table(con: duckdb.DuckDBPyConnection) -> None:
    for spec in schemas.TABLES:
        expected = pq.read_table(DATA / spec.file_name)
        got = con.sql(f"SELECT * FROM {spec.name}").to_arrow_table()
        assert got.column_names == spec.schema.names
        assert got.schema.types == spec.schema.types
        assert got.to_pylist() == expected.to_pylist()


def test_papers_full_is_one_row_per_paper_with_its_facts(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.sql("SELECT * FROM papers_full").to_arrow_table().to_pylist()
    full = {r["paper_id"]: r for r in rows}
    assert len(full) == len(rows)
    papers = pq.read_table(DATA / "papers.parquet").to_pylist()
    assert sorted(full) == sorted(p["paper_id"] for p in papers)
    for paper in papers:
        assert {k: full[paper["paper_id"]][k] for k in paper} == paper
    links: dict[str, list[str]] = {}
    for link in pq.read_table(DATA / "links.parquet").to_pylist():
        links.setdefault(link["paper_id"], []).append(link["url"])
    assert {k: r["links"] for k, r in full.items() if r["links"]} == {
        k: sorted(v) for k, v in links.items()
    }
    assert all(r["links"] == [] for k, r in full.items() if k not in links)
    for row in pq.read_table(DATA / "authors.parquet").to_pylist():
        assert full[row["paper_id"]]["author_count"] == row["author_count"]
    for row in pq.read_table(DATA / "dates.parquet").to_pylist():
        assert full[row["paper_id"]]["published_date"] == row["published_date"]


def test_views_sql_runs_unchanged_from_the_repository_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `duckdb -init sql/views.sql` does from the root: relative paths must resolve."""
    monkeypatch.chdir(config.PROJECT_ROOT)
    cli_like = duckdb.connect()
    cli_like.execute(query.VIEWS_SQL_PATH.read_text(encoding="utf-8"))
    assert cli_like.sql("SELECT count(*) FROM papers_full").fetchall() == [
        (pq.read_metadata(DATA / "papers.parquet").num_rows,)
    ]


def every_file(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_views_point_at_any_folder_even_with_a_quote_in_its_name(tmp_path: Path) -> None:
    odd = copy_of_the_tables(tmp_path / "it's data")
    assert query.run_query(query.connect(odd), "SELECT count(*) AS n FROM sources").to_pylist() == [
        {"n": pq.read_metadata(DATA / "sources.parquet").num_rows}
    ]


def test_csv_output_has_a_header_and_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT paper_id, title, links FROM papers_full ORDER BY paper_id"
    assert query.run_query_command(sql, data=DATA, output_format="csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["paper_id", "title", "links"]
    assert len(rows) - 1 == pq.read_metadata(DATA / "papers.parquet").num_rows
    assert all(isinstance(json.loads(r[2]), list) for r in rows[1:])  # nested values as JSON


def test_json_output_is_an_array_of_objects_with_iso_dates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sql = "SELECT paper_id, published_date FROM dates ORDER BY paper_id LIMIT 3"
    assert query.run_query_command(sql, data=DATA, output_format="json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert [sorted(r) for r in rows] == [["paper_id", "published_date"]] * 3
    assert all(len(r["published_date"]) == 10 for r in rows)


def test_table_output_shows_data_verbatim_not_as_markup(capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT '[bold]x[/bold]' AS \"[red]v\", NULL AS n"
    assert query.run_query_command(sql, data=DATA, output_format="table") == 0
    out = capsys.readouterr().out
    assert "[bold]x[/bold]" in out and "[red]v" in out and "NULL" in out and "1 rows" in out


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC 1", "Parser Error"),
        ("SELECT no_such_column FROM papers", "Binder Error"),
        ("SELECT * FROM no_such_table", "Catalog Error"),
        ("   ", "empty SQL"),
        ("/* only a comment */ ;", "empty SQL"),
    ],
)
def test_bad_sql_is_one_clear_line_and_exit_code_2(
    sql: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert query.run_query_command(sql, data=DATA, output_format="table") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {message}")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_missing_tables_are_reported_not_raised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert query.run_query_command("SELECT 1", data=tmp_path, output_format="csv") == 2
    assert "make data" in capsys.readouterr().err


def test_cli_query_exit_codes() -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["query", "SELECT count(*) AS n FROM papers", "--format", "json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) == [{"n": pq.read_metadata(DATA / "papers.parquet").num_rows}]
    bad = runner.invoke(app, ["query", "SELECT FROM WHERE"])
    assert bad.exit_code == 2
    assert bad.exception is None or isinstance(bad.exception, SystemExit)


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("COPY (SELECT 1 AS x) TO '{data}/papers.parquet' (FORMAT parquet)", "COPY"),
        ("EXPORT DATABASE '{data}/export'", "EXPORT"),
        ("ATTACH '{data}/papers.duckdb' AS w", "ATTACH"),
        ("SELECT 1; COPY (SELECT 1 AS x) TO '{data}/papers.parquet' (FORMAT parquet)", "COPY"),
        ("EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{data}/papers.parquet'", "COPY"),
        ("COPY (PIVOT dates ON year_source) TO '{data}/dates.parquet'", "COPY"),
        ("INSTALL httpfs FROM '{data}/repository'", "INSTALL"),
        ("SET lock_configuration = false", "SET"),
    ],
)
def test_statements_that_could_write_are_refused_and_leave_the_tables_untouched(
    sql: str, refused: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = copy_of_the_tables(tmp_path / "data")
    before = every_file(data)
    assert query.run_query_command(sql.format(data=data), data=data, output_format="csv") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"error: query is read-only: {refused} statements are refused\n"
    assert every_file(data) == before


def test_settings_cannot_change_even_from_inside_a_select(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """enable_logging is a SELECT-able table function; file logging would write into the folder."""
    data = copy_of_the_tables(tmp_path / "data")
    before = every_file(data)
    sql = f"FROM enable_logging(storage = 'file', storage_path = '{data}/logs')"
    assert query.run_query_command(sql, data=data, output_format="csv") == 2
    err = capsys.readouterr().err
    assert "the configuration has been locked" in err and err.count("\n") == 1
    assert every_file(data) == before


def test_the_connection_configuration_is_locked() -> None:
    con = query.connect(DATA)
    with pytest.raises(duckdb.Error, match="locked"):
        con.execute("SET lock_configuration = false")
    assert con.sql("SELECT current_setting('autoinstall_known_extensions')").fetchall() == [
        (False,)
    ]


def test_cli_refuses_to_overwrite_a_table_and_the_next_query_still_works(tmp_path: Path) -> None:
    data = copy_of_the_tables(tmp_path / "data")
    runner = CliRunner()
    copy = f"COPY (SELECT 1 AS x) TO '{data}/papers.parquet' (FORMAT parquet)"
    refused = runner.invoke(app, ["query", copy, "--data", str(data)])
    assert refused.exit_code == 2
    assert refused.exception is None or isinstance(refused.exception, SystemExit)
    count = ["query", "SELECT count(*) AS n FROM papers", "--data", str(data), "--format", "json"]
    after = runner.invoke(app, count)
    assert after.exit_code == 0, after.output
    assert json.loads(after.stdout) == [{"n": pq.read_metadata(DATA / "papers.parquet").num_rows}]


@pytest.mark.parametrize(
    "sql",
    [
        "WITH n AS (SELECT count(*) AS papers FROM papers) SELECT papers FROM n",
        "FROM sources LIMIT 1",
        "VALUES (1, 'a')",
        "DESCRIBE papers_full",
        "SUMMARIZE dates",
        "SHOW TABLES",
        "EXPLAIN SELECT * FROM papers_full",
        "EXPLAIN ANALYZE SELECT count(*) FROM links",
        "EXPLAIN (SELECT 1)",
        "PIVOT dates ON year_source USING count(*)",
        "SELECT count(*) AS n FROM read_parquet('{data}/papers.parquet')",
        "SELECT 1; SELECT 2 AS two",
    ],
)
def test_reads_still_run(sql: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert query.run_query_command(sql.format(data=DATA), data=DATA, output_format="csv") == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert len(list(csv.reader(io.StringIO(captured.out)))) >= 2  # a header and a row


def strict_json(text: str) -> object:
    """json.loads refusing NaN and Infinity, which Python accepts but JSON does not."""

    def refuse(constant: str) -> object:
        raise ValueError(f"invalid JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# Values Python's date and datetime cannot hold, each in a column with a value they can; the
# last two columns hold none.
OUT_OF_RANGE = (
    "SELECT * FROM (VALUES"
    " ('infinity'::DATE, '-infinity'::TIMESTAMP, DATE '2020-01-01' + INTERVAL 10000000 DAY,"
    "  '200000-01-01 00:00:00+00'::TIMESTAMPTZ, ['infinity'::DATE, DATE '2020-01-02'],"
    "  {'d': '5000000-01-01'::DATE, 'n': 1}, MAP {'0044-03-15 (BC)'::DATE: 1},"
    "  DATE '2020-01-01', TIMESTAMP '2020-01-01 12:00:00'),"
    " (DATE '2020-01-01', TIMESTAMP '2020-01-01 12:00:00', TIMESTAMP '2020-01-02 00:00:00',"
    "  NULL, NULL, {'d': DATE '2020-01-03', 'n': 2}, NULL, NULL, NULL)"
    ") AS t(d, t, far, tz, l, s, m, plain_date, plain_time)"
)


def test_a_column_python_cannot_hold_prints_as_duckdb_prints_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It was an OverflowError traceback; DuckDB's CLI prints such values."""
    con = duckdb.connect()
    columns = con.sql(OUT_OF_RANGE).columns
    as_duckdb = {
        c: [v for (v,) in con.sql(f"SELECT {c}::VARCHAR FROM ({OUT_OF_RANGE})").fetchall()]
        for c in columns[:7]
    }
    assert as_duckdb["d"] == ["infinity", "2020-01-01"]
    assert as_duckdb["t"] == ["-infinity", "2020-01-01 12:00:00"]
    assert query.run_query_command(OUT_OF_RANGE, data=DATA, output_format="json") == 0
    rows = strict_json(capsys.readouterr().out)
    for column, texts in as_duckdb.items():
        assert [row[column] for row in rows] == texts, column
    # Columns Python can hold print as before.
    assert [(row["plain_date"], row["plain_time"]) for row in rows] == [
        ("2020-01-01", "2020-01-01T12:00:00"),
        (None, None),
    ]
    assert query.run_query_command(OUT_OF_RANGE, data=DATA, output_format="csv") == 0
    lines = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert lines[1] == [*(t[0] for t in as_duckdb.values()), "2020-01-01", "2020-01-01T12:00:00"]
    narrow = "SELECT 'infinity'::DATE AS d, '5000000-01-01'::DATE AS far"
    assert query.run_query_command(narrow, data=DATA, output_format="table") == 0
    out = capsys.readouterr().out
    assert "infinity" in out and "5000000-01-01" in out and "1 rows" in out


def test_json_keeps_repeated_column_names_apart_and_stays_valid_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sql = "SELECT 1 AS a, 2 AS a, 3 AS a_1, 4 AS a, 5 AS b"
    assert query.run_query_command(sql, data=DATA, output_format="json") == 0
    rows = strict_json(capsys.readouterr().out)
    assert rows == [{"a": 1, "a_2": 2, "a_1": 3, "a_3": 4, "b": 5}]
    assert list(rows[0]) == ["a", "a_2", "a_1", "a_3", "b"]  # in column order
    join = (
        "SELECT p.paper_id, d.paper_id FROM papers p LEFT JOIN dates d"
        " ON p.paper_id = d.paper_id ORDER BY p.paper_id LIMIT 1"
    )
    assert query.run_query_command(join, data=DATA, output_format="json") == 0
    assert list(strict_json(capsys.readouterr().out)[0]) == ["paper_id", "paper_id_1"]


def test_json_writes_nan_and_infinity_as_null(capsys: pytest.CaptureFixture[str]) -> None:
    sql = (
        "SELECT 'nan'::DOUBLE AS n, 'inf'::DOUBLE AS i, '-inf'::FLOAT AS m,"
        " [1.5, 'nan'::DOUBLE] AS l, 2.5::DOUBLE AS x"
    )
    assert query.run_query_command(sql, data=DATA, output_format="json") == 0
    assert strict_json(capsys.readouterr().out) == [
        {"n": None, "i": None, "m": None, "l": [1.5, None], "x": 2.5}
    ]
    assert query.run_query_command(sql, data=DATA, output_format="csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[1] == ["nan", "inf", "-inf", "[1.5, null]", "2.5"]  # CSV keeps them apart
