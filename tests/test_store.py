"""The record store: values come back from the right dumps, rows and column, whether a
dump has its records file to itself or shares a pack with the dumps parsed with it."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import polars as pl
import pytest

from etl import config
from etl.dumps import FileEntry, Warning_
from etl.links import LINK_ROW_SCHEMA
from etl.records import Reject
from etl.store import RecordStore, StoredRecords, save, save_pack

_SCHEMA = {"abstract": pl.String, "row": pl.Int64}


def _records(rows: range) -> pl.DataFrame:
    return pl.DataFrame(
        {"abstract": [f"abstract {row}" for row in rows], "row": list(rows)}, schema=_SCHEMA
    )


def _store(tmp_path: Path, sizes: list[int]) -> RecordStore:
    entries, first = [], 0
    for number, size in enumerate(sizes):
        records = _records(range(first, first + size))
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


_DUMPS = {"a": 3, "b": 1, "c": 3, "d": 2, "e": 2}


def _mixed_store(tmp_path: Path, order: str) -> RecordStore:
    """Dumps a, b, d and e share a pack (rows 0-2, 3, 4-5 and 6-7), c has its own file; the
    build takes the dumps in `order`. Record i of dump x has the abstract `x i`."""

    def records(name: str) -> pl.DataFrame:
        texts = [f"{name} {i}" for i in range(_DUMPS[name])]
        return pl.DataFrame({"abstract": texts, "row": range(len(texts))}, schema=_SCHEMA)

    stems = {name: tmp_path / f"dump-{name}" for name in _DUMPS}
    places = save_pack([stems[n] for n in "abde"], [records(n) for n in "abde"])
    packed = dict(zip("abde", places, strict=True))
    stored = packed | {"c": save(stems["c"], records("c"), {"dump": "c"})}
    return RecordStore([stored[name] for name in order])


@pytest.mark.parametrize("order", ["abcde", "dcab", "adb", "bac", "eb", "c"])
def test_a_pack_serves_each_dump_its_own_rows_in_any_order(tmp_path: Path, order: str) -> None:
    store = _mixed_store(tmp_path, order)
    expected = [f"{name} {i}" for name in order for i in range(_DUMPS[name])]
    assert store.scan(["abstract"])["abstract"].to_list() == expected
    rows = pl.Series([*reversed(range(len(expected))), 0], dtype=pl.UInt32)
    assert store.gather("abstract", rows).to_list() == [expected[r] for r in rows]
    # Each file is taken from once per pass, however the build orders its dumps.
    files = any(name in order for name in "abde") + ("c" in order)
    assert len(list(store.by_file(rows))) == len(store.files) == files


def test_a_pack_with_fewer_rows_than_a_dump_claims_is_an_error_not_a_short_read(
    tmp_path: Path,
) -> None:
    (pack,) = save_pack([tmp_path / "dump"], [_records(range(3))])
    claimed = StoredRecords(pack.stem, 4, pack.pack, pack.first_row)
    with pytest.raises(ValueError, match="has 3 records"):
        RecordStore([claimed]).scan(["row"])


def test_records_files_are_written_in_chunks_of_at_most_the_configured_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "WRITE_CHUNK_BYTES", 4096)
    sizes: list[int] = []
    real_write = os.write

    def short_write(fd: int, data: memoryview) -> int:  # the OS may write less than asked
        sizes.append(len(data))
        return real_write(fd, data[: max(1, len(data) // 2)])

    monkeypatch.setattr(os, "write", short_write)
    records = pl.DataFrame(
        {"abstract": ["x" * 50_000, "short", "y" * 9_000], "row": [0, 1, 2]}, schema=_SCHEMA
    )
    stored = save(tmp_path / "dump", records, {"dump": 0})
    monkeypatch.undo()
    assert stored.records_path.stat().st_size > 10 * 4096
    assert sizes and max(sizes) <= 4096
    assert RecordStore([stored]).scan(["abstract", "row"]).equals(records)


def test_the_classes_the_cache_pickles_are_pinned_to_the_parser_version() -> None:
    """An entry pickled before a field of these classes (or a column of its links frame) was
    added, removed, moved or retyped would load with its values misplaced, or fail the build:
    the checksum cannot tell, the cache version must. Change PARSER_VERSION with them, and
    this pin with both."""
    shape = {
        cls.__name__: [(f.name, str(f.type)) for f in dataclasses.fields(cls)]
        for cls in (FileEntry, StoredRecords, Reject, Warning_)
    } | {"links frame": [(name, str(dtype)) for name, dtype in LINK_ROW_SCHEMA.items()]}
    assert (config.PARSER_VERSION, shape) == (
        "21",
        {
            "FileEntry": [
                ("source_file", "str"),
                ("source_sha256", "str"),
                ("dump_format", "str | None"),
                ("rejects", "list[Reject]"),
                ("total_lines", "int"),
                ("boilerplate_lines", "int"),
                ("record_lines", "int"),
                ("rejected_lines", "int"),
                ("warnings", "list[Warning_]"),
                ("stored", "StoredRecords | None"),
                ("links", "pl.DataFrame | None"),
            ],
            "StoredRecords": [
                ("stem", "Path"),
                ("record_count", "int"),
                ("pack", "str | None"),
                ("first_row", "int"),
                ("checksum", "str"),
            ],
            "Reject": [
                ("line_start", "int"),
                ("line_end", "int"),
                ("reason", "str"),
                ("text", "str"),
            ],
            "Warning_": [("source_file", "str"), ("line", "int"), ("message", "str")],
            "links frame": [
                ("record", "UInt32"),
                ("url", "String"),
                ("host", "String"),
                ("kind", "String"),
                ("repo", "String"),
            ],
        },
    )
