"""Write: tables -> Parquet files, deterministic, and swapped in atomically as a set.

The new tables are written to a sibling temporary folder, then the folder replaces the old
one by two renames. A run killed at any point leaves either the old folder or the new one
(or, between the two renames, the old one parked under a known name that the next run puts
back): never a mix, never a half-written file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import signal
from collections.abc import Callable, Collection, Iterator
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl import config
from etl.interrupts import sigint_deferred
from etl.schemas import TableSpec

_TMP_MARK = ".tmp-"
_OLD_MARK = ".old-"

# Test-only hook: with `PAPERS_ETL_PAUSE_AT=<stage>` (`parse`, `write:<table>` or `swap`) the
# build stops itself (SIGSTOP) the first time it reaches that stage, so that a test can
# SIGKILL it there or let it go on (SIGCONT); see tests/test_interrupt.py. Unset, it costs
# one dict lookup.
PAUSE_ENV = "PAPERS_ETL_PAUSE_AT"


def pause_point(stage: str) -> None:
    if os.environ.get(PAUSE_ENV) == stage:
        del os.environ[PAUSE_ENV]  # once
        os.kill(os.getpid(), signal.SIGSTOP)


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
        # skipped: 0.2 s for the sources of 1 GB of dumps.
        if not np.array_equal(order.to_numpy(), np.arange(len(order))):
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


def _siblings(out_dir: Path, mark: str) -> list[Path]:
    prefix = f".{out_dir.name}{mark}"
    return sorted(p for p in out_dir.parent.glob(prefix + "*") if p.is_dir())


def recover(out_dir: Path) -> None:
    """Undo what a killed run left: put a parked old folder back, drop temporary ones."""
    parked = _siblings(out_dir, _OLD_MARK)
    if parked and not out_dir.exists():
        try:
            parked[-1].rename(out_dir)
        except OSError as exc:
            raise OutputError(
                f"cannot put back the tables parked by a killed build in {out_dir.parent}: "
                f"{exc.strerror}"
            ) from exc
        parked = parked[:-1]
    for stale in (*parked, *_siblings(out_dir, _TMP_MARK)):
        shutil.rmtree(stale, ignore_errors=True)


def recover_for_reading(out_dir: Path) -> None:
    """Before reading out_dir: put back tables a build killed mid-swap left parked.

    Only when out_dir is missing and a parked folder exists, and only if no build holds the
    lock (a running build recovers by itself); otherwise reading goes on as it is.
    """
    if out_dir.exists() or not _siblings(out_dir, _OLD_MARK):
        return
    with contextlib.suppress(OutputError), output_lock(out_dir):
        recover(out_dir)


@contextlib.contextmanager
def output_lock(out_dir: Path) -> Iterator[None]:
    """One build per output folder at a time; a second one fails at once."""
    lock_path = out_dir.parent / f".{out_dir.name}.lock"
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole build
    except OSError as exc:
        raise OutputError(f"cannot write to {out_dir.parent}: {exc.strerror}") from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise OutputError(
                f"another build is writing to {out_dir} right now; try again when it ends"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_SHOWN_NAMES = 5


def listing(names: list[str]) -> str:
    """A few names for a one-line message: `a, b, c, d, e and 3 more`."""
    shown = ", ".join(names[:_SHOWN_NAMES])
    more = len(names) - _SHOWN_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def foreign_entries(folder: Path, files: Collection[str]) -> list[str]:
    """What `folder` holds besides `files` (paths relative to it), sorted and relative.

    A folder replaced whole (build's --out, publish's --stage) may hold only what its owner
    writes. Only the folders `files` sit in are looked into; anything else (another name, a
    symbolic link, a folder where a file belongs) is foreign as a whole. Raises OSError.
    """
    folders = {
        parent.as_posix()
        for file in files
        for parent in PurePosixPath(file).parents
        if parent != PurePosixPath(".")
    }
    foreign: list[str] = []
    pending = [folder]
    while pending:
        current = pending.pop()
        for entry in current.iterdir():
            name = entry.relative_to(folder).as_posix()
            if entry.is_symlink():
                foreign.append(name)
            elif name in folders and entry.is_dir():
                pending.append(entry)
            elif name not in files or not entry.is_file():
                foreign.append(name)
    return sorted(foreign)


def check_replaceable(out_dir: Path, table_files: Collection[str]) -> None:
    """Refuse an output folder that holds more than tables.

    The swap replaces the whole folder, so whatever else it holds (a raw folder given as
    --out by mistake, notes, a home folder) would be deleted with the old tables.
    """
    if not out_dir.exists() and not out_dir.is_symlink():
        return
    if out_dir.is_symlink():
        raise OutputError(
            f"--out {out_dir} is a symbolic link; give the folder itself; nothing was changed"
        )
    if not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} is a file, not a folder; nothing was changed")
    try:
        others = foreign_entries(out_dir, table_files)
    except OSError as exc:
        raise OutputError(f"cannot read {out_dir}: {exc.strerror}") from exc
    if others:
        raise OutputError(
            f"refusing to replace {out_dir}: it holds {listing(others)}, which a build does not "
            "write and replacing the folder would delete; give --out a new or empty folder, or one "
            "that holds only tables"
        )


def new_staging_dir(out_dir: Path) -> Path:
    staging = out_dir.parent / f".{out_dir.name}{_TMP_MARK}{os.getpid()}"
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    except OSError as exc:
        raise OutputError(f"cannot write to {out_dir.parent}: {exc.strerror}") from exc
    return staging


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


def swap_in(staging: Path, out_dir: Path) -> None:
    """Replace out_dir by staging with two renames (see module docstring), if out_dir holds
    nothing but tables (`check_replaceable`, again: the folder may have changed meanwhile)."""
    parked = out_dir.parent / f".{out_dir.name}{_OLD_MARK}{os.getpid()}"
    try:
        check_replaceable(out_dir, [path.name for path in staging.iterdir()])
    except OutputError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    with sigint_deferred():  # a Ctrl-C between the renames would leave no out_dir
        try:
            if out_dir.exists():
                out_dir.rename(parked)
                pause_point("swap")
            staging.rename(out_dir)
        except OSError as exc:
            if parked.exists() and not out_dir.exists():
                with contextlib.suppress(OSError):  # else the next run puts it back
                    parked.rename(out_dir)
            shutil.rmtree(staging, ignore_errors=True)
            raise OutputError(f"cannot replace {out_dir}: {exc.strerror}") from exc
        shutil.rmtree(parked, ignore_errors=True)
