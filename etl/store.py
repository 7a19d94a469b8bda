"""The record store: each dump's parsed records on disk, as Arrow IPC files.

Workers write what they parse here instead of sending it back through a pipe, and the build
reads back only the columns each stage needs: the deduplicator never holds the abstracts,
and the papers table gathers them file by file. The files are keyed by the dump's content
hash, the parser version and the capture date, so the same folder is the incremental cache:
an unchanged dump is never parsed twice.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from etl import config
from etl.links import LINK_ROW_SCHEMA

_RECORDS = ".records.arrow"
_LINKS = ".links.arrow"
_META = ".meta.pkl"


def entry_stem(store_dir: Path, sha: str, captured_on: dt.date | None) -> Path:
    return store_dir / f"{sha}-v{config.PARSER_VERSION}-{captured_on or 'none'}"


@dataclass(frozen=True)
class StoredRecords:
    """Where one dump's records and links are, and how many records it has."""

    stem: Path
    record_count: int

    @property
    def records_path(self) -> Path:
        return self.stem.with_name(self.stem.name + _RECORDS)

    @property
    def links_path(self) -> Path:
        return self.stem.with_name(self.stem.name + _LINKS)

    @property
    def meta_path(self) -> Path:
        return self.stem.with_name(self.stem.name + _META)


def save(stem: Path, records: pl.DataFrame, links: pl.DataFrame, meta: object) -> StoredRecords:
    """Write the three files of an entry; the metadata last, so it marks a complete entry."""
    stored = StoredRecords(stem, records.height)
    stem.parent.mkdir(parents=True, exist_ok=True)
    suffix = f".tmp{os.getpid()}"
    for frame, path in ((records, stored.records_path), (links, stored.links_path)):
        # Oldest compat level: plain (large) strings, which pyarrow can take rows from.
        frame.write_ipc(
            path.with_name(path.name + suffix),
            compression="uncompressed",
            compat_level=pl.CompatLevel.oldest(),
        )
        path.with_name(path.name + suffix).replace(path)
    with open(stored.meta_path.with_name(stored.meta_path.name + suffix), "wb") as handle:
        pickle.dump(meta, handle, protocol=pickle.HIGHEST_PROTOCOL)
    stored.meta_path.with_name(stored.meta_path.name + suffix).replace(stored.meta_path)
    return stored


def load_meta(stem: Path) -> object | None:
    """The metadata of a complete entry, or None (missing, partial or from another version)."""
    stored = StoredRecords(stem, 0)
    if not (stored.records_path.exists() and stored.links_path.exists()):
        return None
    try:
        with open(stored.meta_path, "rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None


class RecordStore:
    """The records of every dump of a build, addressed by a global row number."""

    def __init__(self, entries: list[StoredRecords]) -> None:
        self.entries = entries
        counts = np.array([e.record_count for e in entries], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])

    @property
    def record_count(self) -> int:
        return int(self.offsets[-1])

    def scan(self, names: list[str]) -> pl.DataFrame:
        """The named columns of every dump's records, in order."""
        paths = [str(entry.records_path) for entry in self.entries]
        return pl.scan_ipc(paths).select(names).collect()

    def links(self) -> pl.DataFrame:
        """Every dump's link rows, `record` made global."""
        frames = [
            pl.read_ipc(entry.links_path).with_columns(
                pl.col("record") + int(self.offsets[position])
            )
            for position, entry in enumerate(self.entries)
            if entry.record_count
        ]
        return pl.concat(frames) if frames else pl.DataFrame(schema=LINK_ROW_SCHEMA)

    def by_file(self, rows: pl.Series) -> Iterator[tuple[int, pl.Series, pl.Series]]:
        """Global row numbers grouped by dump: (dump position, local rows, indices in `rows`)."""
        order = rows.arg_sort()
        ordered = rows.gather(order).to_numpy()
        files = np.searchsorted(self.offsets, ordered, side="right") - 1
        bounds = np.flatnonzero(np.diff(files)) + 1
        for start, end in zip(
            np.concatenate([[0], bounds]), np.concatenate([bounds, [len(files)]]), strict=True
        ):
            if start == end:
                continue
            position = int(files[start])
            local = pl.Series(ordered[start:end] - self.offsets[position], dtype=pl.UInt32)
            yield position, local, order.slice(int(start), int(end - start))

    def take(self, position: int, column: str, local: pl.Series) -> pl.Series:
        """One column of one dump at local row numbers.

        Memory-mapped: only the pages of the rows taken are read, and they are released
        with the map, so taking never holds a whole dump.
        """
        with pa.memory_map(str(self.entries[position].records_path)) as source:
            reader = pa.ipc.open_file(source)
            index = reader.schema.get_field_index(column)
            chunks = [reader.get_batch(i).column(index) for i in range(reader.num_record_batches)]
            taken = pa.chunked_array(chunks, type=reader.schema.field(index).type).take(
                pa.array(local.to_numpy())
            )
        return pl.Series(column, taken.combine_chunks())

    def gather(self, column: str, rows: pl.Series) -> pl.Series:
        """Values of one column at global row numbers, in the order asked."""
        pieces, where = [], []
        for position, local, indices in self.by_file(rows):
            pieces.append(self.take(position, column, local))
            where.append(indices)
        if not pieces:
            return pl.Series(column, [], dtype=pl.String)
        values = pl.concat(pieces)
        return values.gather(pl.concat(where).arg_sort())
