"""The records of every dump, in the record store -> the six output tables.

Dedupe works on the key columns alone (`key_frame`); the abstracts it must compare, and
then the papers' abstracts, are gathered from the store, the papers' a few row groups at a
time while the papers table is written (`PapersTable`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl import config, schemas
from etl.dedupe import deduplicate
from etl.dumps import RECORD_COLUMNS, FileEntry, FileResult, entry_of
from etl.links import LINK_ROW_SCHEMA
from etl.normalize import abstract_key
from etl.store import RecordStore, entry_stem, save
from etl.write import conform, write_row_groups, write_tables

KEY_COLUMNS = [c for c in RECORD_COLUMNS if c != "abstract"]


_FILE_COLUMNS = {
    "source_file": pl.String,
    "source_sha256": pl.String,
    "dump_format": pl.String,
}


def _files_frame(entries: list[FileEntry]) -> pl.DataFrame:
    """One row per dump with records: what its sources rows say about where they came from."""
    return pl.DataFrame(
        {name: [getattr(e, name) for e in entries] for name in _FILE_COLUMNS},
        schema=_FILE_COLUMNS,
    )


def key_frame(entries: list[FileEntry], store: RecordStore) -> pl.DataFrame:
    """Every record without its abstract, and its dump (`file`, a position among the dumps
    with records): what dedupe needs, and the line numbers and capture dates for sources."""
    stored = [e for e in entries if e.record_count]
    schema = {c: RECORD_COLUMNS[c] for c in KEY_COLUMNS} | {"file": pl.UInt32}
    if not stored:
        return pl.DataFrame(schema=schema)
    # Two byte-identical dumps share one stored entry, so files are matched by position.
    counts = [e.record_count for e in stored]
    file_of_record = np.repeat(np.arange(len(stored), dtype=np.uint32), counts)
    return store.scan(KEY_COLUMNS).with_columns(pl.Series("file", file_of_record, dtype=pl.UInt32))


def _all_links(entries: list[FileEntry], store: RecordStore) -> pl.DataFrame:
    """Every dump's link rows, `record` made a row number of the whole store."""
    stored = [e for e in entries if e.record_count]
    frames = [
        entry.links.with_columns(pl.col("record") + int(first))
        for entry, first in zip(stored, store.offsets[:-1], strict=True)
        if entry.links is not None and entry.links.height
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema=LINK_ROW_SCHEMA)


def rejects_frame(entries: list[FileEntry]) -> pa.Table:
    """Every dump's rejects, in the rejects table's columns.

    Made by polars: pyarrow's from_pylist imports pandas, which a build otherwise never
    needs (0.15-0.2 s of every build, a fifth of one over the two seeds).
    """
    rows = [
        (e.source_file, j.line_start, j.line_end, j.reason, j.text)
        for e in entries
        for j in e.rejects
    ]
    schema = pl.Schema(schemas.REJECTS.schema)
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(schemas.REJECTS.schema)


class PapersTable:
    """The papers table, written a few row groups at a time so the abstracts are never all
    held.

    Papers are in `paper_id` order. Their abstracts are gathered from the record store (a
    take from each records file) in at most `config.PAPERS_TAKES` passes, each a whole number
    of row groups, while the rows before are encoded; the first pass on `background` while the
    other tables are written (`start`). A pass per row group took 8.9-9.2 s to write the 3 GB
    pile's papers (24 row groups); 8 passes of 3 take 7.0-7.3 s (at 1 GB, 8 row groups, both
    are a pass per row group).

    This replaced one pass that spilled every abstract to disk by row group, made when the
    store had a file per dump: over packs, a pass per row group costs less than writing the
    spill and reading it back. At 1 GB of dumps the write stage went from 4.4-5.0 s to 2.5-3.7
    s and peak RSS from 850-930 MB to 770-790 MB (at 100 MB, where one row group holds every
    paper, it rose from 430-480 MB to 500-520 MB). Starting the first pass right after dedupe,
    while the other tables were being built, held 60-110 MB more at 1 GB.
    """

    def __init__(self, papers: pl.DataFrame, store: RecordStore, background: Executor) -> None:
        self.papers = papers.sort("paper_id")
        self.store = store
        self.num_rows = self.papers.height
        groups = max(1, -(-self.num_rows // config.PARQUET_ROW_GROUP_SIZE))
        self._take_rows = config.PARQUET_ROW_GROUP_SIZE * -(-groups // config.PAPERS_TAKES)
        self._takes = max(1, -(-self.num_rows // self._take_rows))
        self._background = background
        self._first: Future[pa.Table] | None = None

    def start(self) -> None:
        """Gather the first row groups in the background (`write_tables` calls this)."""
        self._first = self._background.submit(self._rows, 0)

    def _rows(self, take: int) -> pa.Table:
        rows = self.papers.slice(take * self._take_rows, self._take_rows)
        abstracts = self.store.gather("abstract", rows["representative"])
        return rows.to_arrow(compat_level=pl.CompatLevel.oldest()).append_column(
            "abstract", abstracts.to_arrow(compat_level=pl.CompatLevel.oldest())
        )

    def write(self, path: Path) -> None:
        # Arrow encodes and compresses row groups without the GIL, and takes from the
        # records files without it: the next rows are gathered while these are encoded.
        with (
            write_row_groups(path, schemas.PAPERS) as writer,
            ThreadPoolExecutor(max_workers=1) as encoder,
        ):
            written: Future[None] | None = None
            for take in range(self._takes):
                table = (
                    self._first.result()
                    if take == 0 and self._first is not None
                    else self._rows(take)
                )
                if written is not None:
                    written.result()
                written = encoder.submit(writer, table)
                del table
            if written is not None:
                written.result()


def assemble_tables(
    entries: list[FileEntry],
    store: RecordStore,
    timer: Callable[[str], None],
    background: Executor,
) -> tuple[dict[str, pa.Table | PapersTable], int]:
    """Stored records of every dump -> the six output tables (papers written lazily, a row
    group at a time, the first gathered on `background`)."""
    keys = key_frame(entries, store)
    lens = keys["abstract_len"]
    merged = deduplicate(
        keys, lambda rows: abstract_key(store.gather("abstract", rows), lens.gather(rows))
    )
    timer("dedupe")
    papers = PapersTable(merged.papers, store, background)
    representatives = merged.papers.select(pl.col("representative").alias("record"), "paper_id")
    links = (
        _all_links(entries, store)
        .join(representatives, on="record")
        .select("paper_id", "url", "host", "kind", "repo")
    )
    timer("links")
    files = _files_frame([e for e in entries if e.record_count])
    sources = pl.concat(
        [
            keys.select("line_start", "line_end", "captured_on"),
            files[keys["file"].to_numpy()],
            merged.record_paper_ids.alias("paper_id").to_frame(),
        ],
        how="horizontal",
    )
    del keys
    frames = {"authors": merged.authors, "dates": merged.dates, "links": links, "sources": sources}
    tables: dict[str, pa.Table | PapersTable] = {
        name: conform(
            frame.to_arrow(),
            schemas.TABLES_BY_NAME[name],
        )
        for name, frame in frames.items()
    }
    tables["rejects"] = conform(rejects_frame(entries), schemas.REJECTS)
    tables["papers"] = papers
    timer("tables")
    return tables, merged.merged_records


def tables_of(results: list[FileResult]) -> dict[str, pa.Table]:
    """The six tables of parsed dumps held in memory (for tests and small in-memory uses)."""
    with tempfile.TemporaryDirectory() as folder:
        entries = []
        for result in results:
            entry = entry_of(result)
            if result.record_count:
                stem = entry_stem(Path(folder) / "store", result.source_sha256 or "x", None)
                stem = stem.with_name(f"{len(entries)}-{stem.name}")
                entry.stored = save(stem, result.records, entry)
            entries.append(entry)
        store = RecordStore([e.stored for e in entries if e.stored and e.record_count])
        out = Path(folder) / "tables"
        out.mkdir()
        with ThreadPoolExecutor(max_workers=1) as background:
            tables, _ = assemble_tables(entries, store, lambda stage: None, background)
            write_tables(tables, schemas.TABLES, out)
        return {
            name: pq.read_table(out / spec.file_name)
            for name, spec in schemas.TABLES_BY_NAME.items()
        }
