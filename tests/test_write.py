"""The writer's contract: tables cast to their frozen schema and in their key's order, and
let go once written."""

from __future__ import annotations

import datetime as dt
import weakref
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.schemas import SOURCES
from etl.write import StreamedTable, conform, write_parquet, write_row_groups, write_tables


def sources(rows: list[tuple[str, int]]) -> pa.Table:
    return pa.table(
        {
            "paper_id": [f"p{line}" for _, line in rows],
            "source_file": [name for name, _ in rows],
            "source_sha256": ["0" * 64] * len(rows),
            "line_start": pa.array([line for _, line in rows], pa.int64()),
            "line_end": pa.array([line + 1 for _, line in rows], pa.int64()),
            "dump_format": ["compact"] * len(rows),
            "captured_on": [dt.date(2025, 1, 1)] * len(rows),
        }
    )


def test_rows_out_of_order_are_sorted_by_the_tables_key():
    table = conform(sources([("b.txt", 3), ("a.txt", 9), ("b.txt", 1), ("a.txt", 2)]), SOURCES)
    assert table.schema == SOURCES.schema
    keys = list(zip(table["source_file"].to_pylist(), table["line_start"].to_pylist(), strict=True))
    assert keys == [("a.txt", 2), ("a.txt", 9), ("b.txt", 1), ("b.txt", 3)]
    assert table["paper_id"].to_pylist() == ["p2", "p9", "p1", "p3"]  # whole rows moved


def test_rows_in_order_stay_as_they_are():
    rows = [("a.txt", 2), ("a.txt", 9), ("b.txt", 1)]
    assert conform(sources(rows), SOURCES).equals(sources(rows).cast(SOURCES.schema))


def test_a_missing_column_fails_loudly():
    with pytest.raises(ValueError, match="lacks columns"):
        conform(sources([("a.txt", 1)]).drop_columns(["line_end"]), SOURCES)


class _StreamedSources:
    """A streamed table that records what happened before and while it was written."""

    def __init__(self, earlier: weakref.ref[pa.Table]) -> None:
        self.num_rows = 1
        self.earlier = earlier
        self.events: list[str] = []

    def start(self) -> None:
        self.events.append("start")

    def write(self, path: Path) -> None:
        self.events.append("write, earlier table alive" if self.earlier() else "write")
        write_parquet(conform(sources([("a.txt", 1)]), SOURCES), path)


def test_tables_are_let_go_once_written_and_the_streamed_one_started_first(tmp_path: Path):
    in_memory = conform(sources([("b.txt", 2)]), SOURCES)
    streamed = _StreamedSources(weakref.ref(in_memory))
    specs = (replace(SOURCES, name="early"), replace(SOURCES, name="late"))
    tables: dict[str, pa.Table | StreamedTable] = {"late": streamed, "early": in_memory}
    del in_memory
    write_tables(tables, specs, tmp_path)
    assert tables == {}
    # Started before anything is written; by its own write, the other table is gone.
    assert streamed.events == ["start", "write"]
    assert pq.read_table(tmp_path / "early.parquet")["source_file"].to_pylist() == ["b.txt"]
    assert pq.read_table(tmp_path / "late.parquet")["source_file"].to_pylist() == ["a.txt"]


def _dictionary_encoded(path: Path) -> dict[str, bool]:
    chunks = pq.ParquetFile(path).metadata.row_group(0)
    return {
        chunks.column(i).path_in_schema: chunks.column(i).dictionary_page_offset is not None
        for i in range(chunks.num_columns)
    }


def _write_whole(path: Path, table: pa.Table) -> None:
    write_parquet(table, path)


def _write_by_row_group(path: Path, table: pa.Table) -> None:
    with write_row_groups(path, SOURCES) as write:
        write(table)


@pytest.mark.parametrize("writer", [_write_whole, _write_by_row_group], ids=["whole", "streamed"])
def test_ids_and_free_text_get_no_dictionary_the_rest_does(tmp_path: Path, writer) -> None:
    # A dictionary of (nearly) distinct values overflows and is dropped: time and a page lost.
    path = tmp_path / "sources.parquet"
    writer(path, conform(sources([("a.txt", n) for n in range(50)]), SOURCES))
    encoded = _dictionary_encoded(path)
    assert encoded.pop("paper_id") is False
    assert all(encoded.values()), encoded
