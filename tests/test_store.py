"""The record store: values come back from the right dumps, rows and column."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from etl.store import RecordStore, save


def _store(tmp_path: Path, sizes: list[int]) -> RecordStore:
    entries, first = [], 0
    for number, size in enumerate(sizes):
        rows = range(first, first + size)
        records = pl.DataFrame(
            {"abstract": [f"abstract {row}" for row in rows], "row": list(rows)},
            schema={"abstract": pl.String, "row": pl.Int64},
        )
        entries.append(save(tmp_path / f"dump{number}", records, {"dump": number}))
        first += size
    return RecordStore(entries)


def test_gather_gives_each_row_its_own_value_in_the_order_asked(tmp_path: Path) -> None:
    store = _store(tmp_path, [3, 1, 5, 2])
    rows = pl.Series([10, 0, 4, 4, 7, 2, 3], dtype=pl.UInt32)
    assert store.gather("abstract", rows).to_list() == [f"abstract {r}" for r in rows]
    assert store.gather("row", rows).to_list() == rows.to_list()


def test_gathering_a_column_the_store_lacks_fails_instead_of_reading_another(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path, [2, 2])
    with pytest.raises(KeyError, match="abstract_key"):
        store.gather("abstract_key", pl.Series([1, 3], dtype=pl.UInt32))
