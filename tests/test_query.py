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


def test_views_point_at_any_folder_even_with_a_quote_in_its_name(tmp_path: Path) -> None:
    odd = tmp_path / "it's data"
    odd.mkdir()
    for spec in schemas.TABLES:
        (odd / spec.file_name).write_bytes((DATA / spec.file_name).read_bytes())
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
