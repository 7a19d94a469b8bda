"""The parse stage: every dump of the raw folder into the record store, on worker processes.

A dump whose parse the store already has (keyed by its content hash, `etl.store`) is not
parsed again, and one whose hash is remembered with its file's status (`etl.digests`) is not
even read. The others are read and hashed in worker processes, parsed in batches
(`etl.dumps.parse_files`) and stored, a pack of records per batch. The dumps' order is kept.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import itertools
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import forkserver
from pathlib import Path
from typing import TypeVar

from etl import config
from etl.digests import DigestMemo, file_status
from etl.dumps import (
    RECORD_COLUMNS,
    FileEntry,
    FileResult,
    Warning_,
    entry_of,
    parse_big_file,
    parse_files,
    size_batches,
)
from etl.interrupts import pause_point, sigint_deferred
from etl.records import Reject
from etl.store import entry_stem, load_meta, records_schema, save_meta, save_pack
from etl.write import OutputError


def source_name(path: Path) -> str:
    """The file name as recorded: bytes of a non-UTF-8 name are written as `\\xe9`."""
    return path.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _skipped(source_file: str, message: str, reject: Reject) -> FileEntry:
    """A file that was not read: no lines, one whole-file reject, one warning."""
    warning = Warning_(source_file, 0, f"{message}; file skipped")
    return FileEntry(source_file, "", None, [reject], 0, 0, 0, 0, [warning])


def _unreadable(source_file: str, error: OSError) -> FileEntry:
    """A dump that cannot be read is a reject too, so that the rejects table and `--strict`
    see it, not only a warning on the console."""
    message = f"cannot read file: {error.strerror or error}"
    return _skipped(source_file, message, Reject(0, 0, "unreadable_file", message))


def _link_out_of(path: Path) -> Path | None:
    """Where a symlink leads when that is outside the folder holding it, else None."""
    if not path.is_symlink():
        return None
    target = Path(os.path.realpath(path))
    return None if target.is_relative_to(os.path.realpath(path.parent)) else target


_ParseTask = tuple[Path, str, dt.date | None, Path]  # dump, its name, capture date, store


@dataclass
class _Unparsed:
    """A dump read from disk that the store does not have yet."""

    data: bytes
    source_file: str
    captured_on: dt.date | None
    sha256: str
    stem: Path


def _stored_entry(
    store_dir: Path, sha: str, captured_on: dt.date | None, source_file: str
) -> FileEntry | None:
    """The sound entry stored for this dump, named as the dump is named now, or None.

    The entry must have been written under this dump's key (a metadata file copied under
    another's name was not), and its records must be intact.
    """
    stem = entry_stem(store_dir, sha, captured_on)
    cached = load_meta(stem)
    if (
        not isinstance(cached, FileEntry)
        or cached.stored is None
        or cached.stored.stem.name != stem.name
    ):
        return None
    cached.stored = cached.stored.moved_to(stem)  # the folder may have been moved
    if not cached.stored.intact(records_schema(RECORD_COLUMNS)):
        return None
    cached.source_file = source_file
    cached.warnings = [Warning_(source_file, w.line, w.message) for w in cached.warnings]
    cached.rejects = list(cached.rejects)
    return cached


def _stored_or_read(task: _ParseTask) -> tuple[FileEntry, bool] | _Unparsed:
    """The dump's entry when it needs no parsing here (stored already, not readable, outside
    the raw folder, or big and parsed page by page), else its bytes."""
    path, source_file, captured_on, store_dir = task
    target = _link_out_of(path)
    if target is not None:
        reject = Reject(0, 0, "outside_raw_dir", "symlink to a file outside the raw folder")
        return _skipped(source_file, f"symlink to {target}, outside the raw folder", reject), False
    data = None
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > config.STREAM_DUMP_BYTES:
                sha = hashlib.file_digest(handle, "sha256").hexdigest()
            else:  # read once: hashed, then parsed unless the store has it
                data = handle.read()
                sha = hashlib.sha256(data).hexdigest()
    except OSError as exc:
        return _unreadable(source_file, exc), False
    cached = _stored_entry(store_dir, sha, captured_on, source_file)
    if cached is not None:
        return cached, True
    stem = entry_stem(store_dir, sha, captured_on)
    if data is None:
        try:
            big = parse_big_file(path, source_file, captured_on, sha, stem)
        except OSError as exc:
            raise OutputError(f"cannot parse {source_file} into {store_dir}: {exc}") from exc
        if big is not None:
            return big, False
        try:
            data = path.read_bytes()
        except OSError as exc:
            return _unreadable(source_file, exc), False
    return _Unparsed(data, source_file, captured_on, sha, stem)


def _parse_paths(tasks: list[_ParseTask]) -> list[tuple[FileEntry, bool]]:
    """Worker entry: reuse each dump's stored parse if there is one; parse the others
    together (`parse_files`) and store an entry for each.

    Returns (entry, came_from_the_store) per task, in order.
    """
    found = [_stored_or_read(task) for task in tasks]
    unparsed = [item for item in found if isinstance(item, _Unparsed)]
    stems = [item.stem for item in unparsed]
    results = parse_files(_handed_over(unparsed))
    del unparsed
    parsed = iter(_store_results(stems, results))
    return [item if not isinstance(item, _Unparsed) else (next(parsed), False) for item in found]


def _store_results(stems: list[Path], results: list[FileResult]) -> list[FileEntry]:
    """The records of dumps parsed together into one pack, then each dump's metadata."""
    if not results:
        return []
    try:
        places = save_pack(stems, [result.records for result in results])
        entries = []
        for result, place in zip(results, places, strict=True):
            entry = entry_of(result)
            entry.stored = place  # kept in the metadata
            save_meta(place, entry)
            entries.append(entry)
    except OSError as exc:
        raise OutputError(
            f"cannot write parsed records to {stems[0].parent}: {exc.strerror}"
        ) from exc
    return entries


def _handed_over(
    unparsed: list[_Unparsed],
) -> Iterator[tuple[bytes, str, dt.date | None, str | None]]:
    """The dumps' bytes for `parse_files`, each let go of here once handed over: a big dump
    read whole is then held once, not until the whole batch is parsed."""
    for item in unparsed:
        data, item.data = item.data, b""
        yield data, item.source_file, item.captured_on, item.sha256
        del data


def parse_all(
    paths: list[Path],
    captured: dict[str, dt.date],
    jobs: int,
    store_dir: Path,
    on_file: Callable[[], None] | None = None,
) -> tuple[list[FileEntry], int]:
    """Parse every dump into the record store, in parallel when it pays; input order kept.

    A dump whose hash is remembered (`etl.digests`) and whose parse the store has is taken
    from the store here, without reading it. The others go to the workers in batches of up
    to `config.PARSE_BATCH_BYTES` (smaller when the pile is, so that each worker gets
    several), parsed together.
    """
    memo = DigestMemo(store_dir)
    looked_ns = time.time_ns()  # before any dump is hashed
    statuses = [file_status(p) for p in paths]
    tasks = [(p, source_name(p), captured.get(p.name), store_dir) for p in paths]
    remembered = [
        _remembered(task, memo.digest(status)) for task, status in zip(tasks, statuses, strict=True)
    ]
    unparsed = [
        (task, status[2] if status else 0)
        for task, status, entry in zip(tasks, statuses, remembered, strict=True)
        if entry is None
    ]
    # Closed on the way out whatever stops the loop (a Ctrl-C taken anywhere in it): the
    # workers then finish the batch in hand before this returns. Left to the garbage
    # collector, they went on writing into the record store while the build removed it (a
    # temporary one, with --no-cache): "Directory not empty", a traceback, exit 1.
    with contextlib.closing(_parse_tasks(unparsed, jobs)) as parsed:
        entries, cached = _collect(paths, _in_order(remembered, parsed), on_file)
    for status, entry in zip(statuses, entries, strict=True):
        memo.remember(status, entry.source_sha256, looked_ns)
    memo.save()
    return entries, cached


def _remembered(task: _ParseTask, sha: str | None) -> FileEntry | None:
    """The stored entry of a dump whose hash is remembered, if the store has it."""
    path, source_file, captured_on, store_dir = task
    if sha is None or _link_out_of(path) is not None:
        return None
    return _stored_entry(store_dir, sha, captured_on, source_file)


def _in_order(
    remembered: list[FileEntry | None], parsed: Iterator[tuple[FileEntry, bool]]
) -> Iterator[tuple[FileEntry, bool]]:
    for entry in remembered:
        yield (entry, True) if entry is not None else next(parsed)


def _parse_tasks(
    sized: list[tuple[_ParseTask, int]], jobs: int
) -> Iterator[tuple[FileEntry, bool]]:
    """`_parse_paths` over every task, in batches, on worker processes when it pays."""
    workers = max(1, min(jobs or os.cpu_count() or 1, len(sized)))
    total_bytes = sum(size for _, size in sized)
    limit = max(1, min(config.PARSE_BATCH_BYTES, total_bytes // (4 * workers)))
    batches = list(size_batches(sized, limit))
    if workers > 1 and total_bytes > 4_000_000:
        # Not plain fork: a process that already ran polars' thread pool can deadlock its
        # forked children. A fork server starts clean and forks workers from itself.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["etl.workers"])
        done = 0
        try:
            with (
                _worker_environment(),
                ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor,
            ):
                # The fork server and the workers start with Ctrl-C blocked, and keep it so:
                # it reaches the whole process group, and this process alone answers it, by
                # stopping the workers after the batch in hand (below). Caught by the server
                # during its preload imports, or by a worker starting up, it printed their
                # tracebacks.
                try:
                    with sigint_deferred():
                        forkserver.ensure_running()
                        results = executor.map(_parse_paths, batches)  # starts the workers
                    for outcome in itertools.chain.from_iterable(results):
                        yield outcome
                        done += 1
                except BaseException:  # a Ctrl-C, or the caller giving up on the rest
                    # The workers finish the batch in hand, and no other: about a second.
                    executor.shutdown(wait=True, cancel_futures=True)
                    raise
                return
        except BrokenProcessPool:
            # The fork server imports the caller's main module; a script without an
            # `if __name__ == "__main__":` guard breaks it. Parse the rest in this process
            # instead (what the workers finished is reused from the store).
            pass
        batches = _after(batches, done)
    yield from itertools.chain.from_iterable(map(_parse_paths, batches))


T = TypeVar("T")


def _after(batches: list[list[T]], done: int) -> list[list[T]]:
    """The batches without their first `done` items."""
    rest = []
    for batch in batches:
        if done < len(batch):
            rest.append(batch[done:])
        done = max(0, done - len(batch))
    return rest


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """Start the parse workers with polars on one thread each, unless the user chose a
    number, and with the allocator setting of parse workers instead of the build's.

    With a worker per core, each worker's own polars pool of a thread per core oversubscribes
    the cores: at 1 GB the parse stage took 17.1 s that way, 13.2 s this way. The fork server,
    and so every worker, takes the environment in force when the first worker starts; this
    process's is left as it was.
    """
    before = {name: os.environ.get(name) for name in ("POLARS_MAX_THREADS", "_RJEM_MALLOC_CONF")}
    if before["POLARS_MAX_THREADS"] is None:
        os.environ["POLARS_MAX_THREADS"] = "1"
    # The CLI sets the build's allocator setting; polars, on import, puts its own defaults
    # before it (the last setting wins). A setting of the user's own is left alone.
    if (before["_RJEM_MALLOC_CONF"] or "").endswith(config.JEMALLOC_CONF_BUILD):
        os.environ["_RJEM_MALLOC_CONF"] = config.JEMALLOC_CONF_PARSE_WORKER
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _collect(
    paths: list[Path],
    outcomes: Iterable[tuple[FileEntry, bool]],
    on_file: Callable[[], None] | None,
) -> tuple[list[FileEntry], int]:
    results: list[FileEntry] = []
    cached = 0
    for path, (result, from_cache) in zip(paths, outcomes, strict=True):
        if result.source_file != path.name:
            message = "file name is not valid UTF-8; undecodable bytes written as \\xNN"
            result.warnings.insert(0, Warning_(result.source_file, 0, message))
        results.append(result)
        cached += from_cache
        pause_point("parse")
        if on_file is not None:
            on_file()
    return results, cached
