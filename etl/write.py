"""Write: tables -> Parquet files, deterministic, cast to their frozen schemas.

The files go into a staging folder that `etl.swap` then swaps in for the output folder as a
set (the build's flow: `etl.pipeline`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl import config
from etl.interrupts import pause_point
from etl.schemas import TableSpec


class OutputError(Exception):
    """The output folder cannot be written; the previous tables are untouched."""


def conform(table: pa.Table, spec: TableSpec) -> pa.Table:
    """Cast to the frozen schema and sort by the table's key: drift fails loudly here."""
    missing = set(spec.schema.names) - set(table.column_names)
    if missing:
        raise ValueError(f"table {spec.name} lacks columns {sorted(missing)}")
    table = table.select(spec.schema.names).cast(spec.schema)
    if table.num_rows:
        order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in spec.sort_key])
        # Tables usually come in order already; then the take (a copy of every column) is
        # skipped: 0.2 s for the sources of 1 GB of dumps. A permutation in ascending order
        # is 0, 1, 2...; asked through polars, as Arrow's own to_numpy() imports pandas, which
        # nothing else in a build needs: 0.2 s of every build.
        if not pl.from_arrow(order).is_sorted():
            table = table.take(order)
    return table.combine_chunks()


def _parquet_options(names: list[str]) -> dict[str, Any]:
    """The writer settings every table is written with (both writers)."""
    return {
        "compression": config.PARQUET_COMPRESSION,
        "compression_level": config.PARQUET_COMPRESSION_LEVEL,
        "use_dictionary": [n for n in names if n not in config.PARQUET_NO_DICTIONARY],
        "write_statistics": True,
    }


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(
        table,
        path,
        row_group_size=config.PARQUET_ROW_GROUP_SIZE,
        **_parquet_options(table.column_names),
    )


class StreamedTable(Protocol):
    """A table too big to hold, that writes itself a row group at a time."""

    num_rows: int

    def start(self) -> None:
        """Begin gathering rows in the background (called before the other tables are
        written)."""

    def write(self, path: Path) -> None: ...


@contextlib.contextmanager
def write_row_groups(path: Path, spec: TableSpec) -> Iterator[Callable[[pa.Table], None]]:
    """A Parquet file written a call at a time, each call's rows conformed to the table's
    schema and cut into row groups of `config.PARQUET_ROW_GROUP_SIZE` (a call's rows are a
    whole number of them, except the last call's)."""
    with pq.ParquetWriter(path, spec.schema, **_parquet_options(spec.schema.names)) as writer:

        def write(table: pa.Table) -> None:
            writer.write_table(
                table.select(spec.schema.names).cast(spec.schema),
                row_group_size=config.PARQUET_ROW_GROUP_SIZE,
            )

        yield write


def write_tables(
    tables: dict[str, pa.Table | StreamedTable], specs: tuple[TableSpec, ...], staging: Path
) -> None:
    """Write every table into the staging folder and flush it to disk; `tables` is emptied.

    Tables in memory are written first: a streamed one may still be gathering its rows in
    the background (the papers' abstracts), and is written last. Each table is let go once
    written, so that what is written last does not pile up on the others (at 1 GB of dumps
    the four before the papers held 170 MiB).
    """
    in_memory_first = sorted(specs, key=lambda spec: not isinstance(tables[spec.name], pa.Table))
    for table in tables.values():
        if not isinstance(table, pa.Table):
            table.start()
    try:
        for spec in in_memory_first:
            path = staging / spec.file_name
            table = tables.pop(spec.name)
            if isinstance(table, pa.Table):
                write_parquet(table, path)
            else:
                table.write(path)
            del table
            pause_point(f"write:{spec.name}")
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    except OSError as exc:
        reason = "the disk is full" if exc.errno == errno.ENOSPC else exc.strerror
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(f"cannot write tables to {staging.parent}: {reason}") from exc
