"""Build: the whole flow, raw dumps -> validated tables, with files and settings at this edge.

data/raw/*.txt --decode/parse/normalize--> records + links + rejects (per dump, in worker
    processes, kept in the record store) --dedupe (key columns only)--> papers, authors,
    dates, links, sources --write (papers a row group at a time)--> staging
    --validate--> data/processed/
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gc
import hashlib
import itertools
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl import config, schemas
from etl.decode import decode_dump
from etl.dedupe import deduplicate
from etl.digests import DigestMemo, file_status
from etl.fastparse import RAW_RECORD_SCHEMA, Page, parse_regular_pages
from etl.links import LINK_ROW_SCHEMA, link_rows
from etl.normalize import abstract_key, clean_records, dump_lines
from etl.parse import dump_years, page_starts, parse_lines
from etl.records import ParsedDump, Reject
from etl.store import (
    EntryWriter,
    RecordStore,
    StoredRecords,
    entry_stem,
    load_meta,
    prune,
    save,
    save_meta,
    save_pack,
)
from etl.stream import plan_pages, read_pages
from etl.write import (
    OutputError,
    conform,
    new_staging_dir,
    output_lock,
    pause_point,
    recover,
    swap_in,
    write_row_groups,
    write_tables,
)

# A stored record: the raw fields (fastparse.RAW_RECORD_SCHEMA) plus what normalize adds,
# but for `abstract_key`, which is the abstract's first `abstract_len` characters
# (`normalize.abstract_key`).
RECORD_COLUMNS: dict[str, pl.DataType] = {
    **RAW_RECORD_SCHEMA,
    "title_key": pl.String,
    "record_id": pl.String,
    "abstract_len": pl.Int32,
    "a_hash": pl.UInt64,
    "prefix_hash": pl.UInt64,
    "suffix_hash": pl.UInt64,
}


class BuildError(Exception):
    """A problem with the inputs as a whole (missing folder, unreadable manifest)."""


@dataclass(frozen=True)
class Warning_:
    """Something a person should look at, pinned to a file and line (0 = whole file)."""

    source_file: str
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.source_file}:{self.line}" if self.line else self.source_file
        return f"{where}: {self.message}"


@dataclass
class DumpAccount:
    """What one dump gave besides its records: provenance, rejects and the line accounting."""

    source_file: str
    source_sha256: str
    dump_format: str | None
    captured_on: dt.date | None
    rejects: list[Reject]
    total_lines: int
    boilerplate_lines: int
    record_lines: int
    rejected_lines: int
    warnings: list[Warning_]


@dataclass
class FileResult(DumpAccount):
    """One dump parsed in memory: its account plus its records and their links."""

    records: pl.DataFrame  # RECORD_COLUMNS: cleaned fields and dedup keys
    links: pl.DataFrame  # LINK_ROW_SCHEMA: the links of each record's abstract

    @property
    def record_count(self) -> int:
        return self.records.height


@dataclass
class BuildSummary:
    """Counts each stage reported; the closing summary is their sum."""

    files: int = 0
    files_from_cache: int = 0
    lines_total: int = 0
    lines_boilerplate: int = 0
    lines_record: int = 0
    lines_rejected: int = 0
    records: int = 0
    papers: int = 0
    duplicates_merged: int = 0
    rejects: int = 0
    links: int = 0
    warnings: int = 0
    validated: bool | None = None
    published: bool = False
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def lines_accounted(self) -> int:
        return self.lines_boilerplate + self.lines_record + self.lines_rejected

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "lines_accounted": self.lines_accounted}


@dataclass
class BuildResult:
    tables: Mapping[str, pa.Table]
    summary: BuildSummary
    warnings: list[Warning_]


# -- inputs ---------------------------------------------------------------------------


def list_dumps(raw_dir: Path) -> list[Path]:
    """The dumps of a raw folder, in a fixed order (by name).

    Symlinks are listed even when broken or pointing out of the folder, so that skipping
    them is reported (see `_stored_or_read`) rather than silent.
    """
    if not raw_dir.is_dir():
        raise BuildError(f"raw folder {raw_dir} does not exist")
    return sorted(
        (
            p
            for p in raw_dir.iterdir()
            if p.suffix == config.DUMP_SUFFIX and (p.is_file() or p.is_symlink())
        ),
        key=lambda p: p.name,
    )


def source_name(path: Path) -> str:
    """The file name as recorded: bytes of a non-UTF-8 name are written as `\\xe9`."""
    return path.name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_manifest(raw_dir: Path) -> tuple[dict[str, dt.date], list[Warning_]]:
    """Capture dates from manifest.csv (optional); bad rows are warnings, not failures."""
    path = raw_dir / config.MANIFEST_NAME
    dates: dict[str, dt.date] = {}
    warnings: list[Warning_] = []
    if not path.exists():
        return dates, warnings
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return dates, [Warning_(path.name, 0, f"manifest unreadable, ignored: {exc}")]
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or not {"file", "captured_on"} <= set(reader.fieldnames):
        return dates, [
            Warning_(path.name, 1, "manifest needs the columns file,captured_on,source_url")
        ]
    for line, row in enumerate(reader, start=2):
        name, value = (row.get("file") or "").strip(), (row.get("captured_on") or "").strip()
        if not name or not value:
            continue
        try:
            dates[name] = dt.date.fromisoformat(value)
        except ValueError:
            warnings.append(
                Warning_(path.name, line, f"captured_on {value!r} is not a YYYY-MM-DD date")
            )
    return dates, warnings


# -- per file (runs in worker processes) -----------------------------------------------


def records_of(dump: ParsedDump) -> pl.DataFrame:
    """The line parser's records as a raw-records frame (the fast path makes one directly)."""
    rows = [
        (
            r.title,
            r.abstract,
            r.author_count,
            r.published_date,
            r.date_text if r.published_date else None,
            r.year_source if r.published_date else None,
            r.upvotes,
            r.line_start,
            r.line_end,
        )
        for r in dump.records
    ]
    return pl.DataFrame(rows, schema=RAW_RECORD_SCHEMA, orient="row")


def _pages_of(lines: list[str], ends_with_newline: bool, captured_on: dt.date | None) -> list[Page]:
    """A dump's pasted pages (usually one); `Page.lines` are slices of `lines`."""
    starts = page_starts(lines)
    if len(starts) == 1:
        return [Page(lines, ends_with_newline, captured_on)]
    years = dump_years(lines)
    ends = [*starts[1:], len(lines)]
    return [
        Page(lines[start:end], ends_with_newline or end != len(lines), captured_on, years)
        for start, end in zip(starts, ends, strict=True)
    ]


def parse_pages(
    pages: list[Page], undecoded_bytes: list[bool]
) -> list[tuple[ParsedDump, pl.DataFrame]]:
    """Each page by the vectorized parser when it is regular, else by the line parser.

    The regular ones are parsed together (`parse_regular_pages`); a page with undecodable
    bytes always goes to the line parser, which rejects those lines.
    """
    fast = [page for page, undecoded in zip(pages, undecoded_bytes, strict=True) if not undecoded]
    regular = iter(parse_regular_pages(fast))
    parsed = []
    for page, undecoded in zip(pages, undecoded_bytes, strict=True):
        found = None if undecoded else next(regular)
        if found is not None:
            dump = ParsedDump(
                dump_format=found.dump_format,
                total_lines=found.total_lines,
                record_lines=found.record_lines,
                boilerplate_lines=found.total_lines - found.record_lines,
                page_date_text=found.page_date_text,
                captured_on=found.captured_on,
            )
            parsed.append((dump, found.records))
            continue
        dump = parse_lines(
            page.lines,
            page.ends_with_newline,
            page.captured_on,
            undecoded_bytes=undecoded,
            dump_years=page.dump_years,
        )
        parsed.append((dump, records_of(dump)))
    return parsed


def _merge_pages(
    total_lines: int, pages: list[Page], parsed: list[tuple[ParsedDump, pl.DataFrame]]
) -> tuple[ParsedDump, pl.DataFrame]:
    """One dump's pages, parsed on their own, as the dump: counts summed, line numbers shifted."""
    if len(parsed) == 1:
        return parsed[0]
    merged = ParsedDump(dump_format=None, total_lines=total_lines)
    frames, start = [], 0
    for page, (dump, raw) in zip(pages, parsed, strict=True):
        frames.append(_add_page(merged, dump, raw, start))
        start += len(page.lines)
    return merged, pl.concat(frames)


def _add_page(merged: ParsedDump, page: ParsedDump, raw: pl.DataFrame, start: int) -> pl.DataFrame:
    """Count a page parsed on its own into its dump; its records, with dump line numbers."""
    merged.rejects += [
        Reject(r.line_start + start, r.line_end + start, r.reason, r.text) for r in page.rejects
    ]
    merged.warnings += [_shifted(w, start) for w in page.warnings]
    merged.boilerplate_lines += page.boilerplate_lines
    merged.record_lines += page.record_lines
    merged.rejected_lines += page.rejected_lines
    if start == 0:
        merged.page_date_text, merged.captured_on = page.page_date_text, page.captured_on
    if merged.dump_format != "search_page" and page.dump_format is not None:
        merged.dump_format = page.dump_format
    return raw.with_columns(pl.col("line_start") + start, pl.col("line_end") + start)


def _shifted(warning: str, offset: int) -> str:
    head, _, rest = warning.partition(": ")
    if head.startswith("line ") and head[5:].isdigit():
        return f"line {int(head[5:]) + offset}: {rest}"
    return warning


@dataclass
class _DumpText:
    """A dump decoded and cut into pages, waiting for its pages to be parsed."""

    source_file: str
    sha256: str
    warnings: list[Warning_]
    total_lines: int
    pages: list[Page]
    undecoded_bytes: bool
    skipped: ParsedDump | None = None  # a dump with no text: its whole-file reject


def _dump_text(
    data: bytes, source_file: str, captured_on: dt.date | None, sha256: str | None
) -> _DumpText:
    sha = sha256 or hashlib.sha256(data).hexdigest()
    decoded = decode_dump(data)
    warnings: list[Warning_] = []
    if decoded.note:
        warnings.append(Warning_(source_file, 0, decoded.note))
    if decoded.text is None:
        line_count = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
        reason = decoded.error or "undecodable_text"
        reject = Reject(1 if line_count else 0, line_count, reason, decoded.message or "")
        warnings.append(Warning_(source_file, 0, f"{decoded.message}; file skipped"))
        skipped = ParsedDump(
            dump_format=None, rejects=[reject], total_lines=line_count, rejected_lines=line_count
        )
        return _DumpText(source_file, sha, warnings, line_count, [], False, skipped)
    # Let go of the bytes and the text as soon as the lines exist: for a big dump each is as
    # large as the input (the text twice, once a `•` is in it).
    text, undecoded_bytes = decoded.text, decoded.has_undecoded_bytes
    del data, decoded
    lines, ends_with_newline = dump_lines(text)
    del text
    pages = _pages_of(lines, ends_with_newline, captured_on)
    return _DumpText(source_file, sha, warnings, len(lines), pages, undecoded_bytes)


def parse_files(
    dumps: Iterable[tuple[bytes, str, dt.date | None, str | None]],
) -> list[FileResult]:
    """Decode, parse and clean dumps: (bytes, file name, capture date, SHA-256 if known).

    Content problems become rejects, not errors. Several dumps at once cost less than one at
    a time: their pages are parsed together, and their records cleaned in one frame.
    """
    texts = [_dump_text(*dump) for dump in dumps]
    pages = [page for text in texts for page in text.pages]
    undecoded = [text.undecoded_bytes for text in texts for _ in text.pages]
    parsed = iter(parse_pages(pages, undecoded))
    accounts, raws = [], []
    for text in texts:
        if text.skipped is not None:  # its one warning says so already
            dump, raw = text.skipped, records_of(text.skipped)
        else:
            own = [next(parsed) for _ in text.pages]
            dump, raw = _merge_pages(text.total_lines, text.pages, own)
            text.warnings.extend(_dump_warnings(text.source_file, dump))
        accounts.append(_account(text.source_file, text.sha256, dump, text.warnings))
        raws.append(raw)
    if not raws:
        return []
    records = prepare_records(pl.concat(raws))
    links = link_rows(records["abstract"])
    results, first = [], 0
    for account, raw in zip(accounts, raws, strict=True):
        own_links = _links_between(links, first, first + raw.height)
        results.append(
            FileResult(
                **_shallow(account), records=records.slice(first, raw.height), links=own_links
            )
        )
        first += raw.height
    return results


def _links_between(links: pl.DataFrame, first: int, end: int) -> pl.DataFrame:
    """The link rows of records first..end-1, numbered from that slice's first record."""
    low, high = np.searchsorted(links["record"].to_numpy(), [first, end])
    return links.slice(int(low), int(high - low)).with_columns(pl.col("record") - first)


def parse_file(
    data: bytes, source_file: str, captured_on: dt.date | None, sha256: str | None = None
) -> FileResult:
    """Decode, parse and clean one dump's bytes (`parse_files` of one)."""
    return parse_files([(data, source_file, captured_on, sha256)])[0]


def parse_big_file(
    path: Path, source_file: str, captured_on: dt.date | None, sha: str, stem: Path
) -> FileEntry | None:
    """`parse_file` for a dump too big to hold: read, parsed and stored a batch of pages
    (up to `config.PARSE_BATCH_BYTES`) at a time.

    The stored entry is the one `parse_file` would give. Returns None, having stored
    nothing, when the dump is not plain UTF-8 or is a single page (read it whole then).
    """
    plan = plan_pages(path)
    if plan is None:
        return None
    dump = ParsedDump(dump_format=None, total_lines=plan.total_lines)
    writer = EntryWriter(stem, RECORD_COLUMNS)
    try:
        # Parsed, cleaned and stored together as dumps are: page by page, the 1 GB dump
        # parsed at 16-20 MB/s.
        pages_read = ((page, _characters(page.lines)) for page in read_pages(path, plan))
        for batch in _batches(pages_read, config.PARSE_BATCH_BYTES):
            pages = [Page(p.lines, p.ends_with_newline, captured_on, plan.years) for p in batch]
            parsed = parse_pages(pages, [False] * len(pages))
            raws = [
                _add_page(dump, page_dump, raw, page.first_line)
                for page, (page_dump, raw) in zip(batch, parsed, strict=True)
            ]
            records = prepare_records(pl.concat(raws))
            writer.write(records, link_rows(records["abstract"]))
        entry = FileEntry(**_shallow(_account(source_file, sha, dump, [])), links=writer.links)
        entry.warnings = _dump_warnings(source_file, dump)
        entry.stored = StoredRecords(stem, writer.record_count)
        writer.close(entry)
    except UnicodeDecodeError:  # the file changed since the first pass
        writer.abort()
        return None
    except BaseException:
        writer.abort()
        raise
    return entry


def _characters(lines: list[str]) -> int:
    return sum(map(len, lines)) + len(lines)


def _dump_warnings(source_file: str, dump: ParsedDump) -> list[Warning_]:
    warnings = list(_pinned_warnings(source_file, dump.warnings))
    warnings.extend(_reject_warning(source_file, reject) for reject in dump.rejects)
    return sorted(warnings, key=lambda w: w.line)


def _account(source_file: str, sha: str, dump: ParsedDump, warnings: list[Warning_]) -> DumpAccount:
    return DumpAccount(
        source_file=source_file,
        source_sha256=sha,
        dump_format=dump.dump_format,
        captured_on=dump.captured_on,
        rejects=dump.rejects,
        total_lines=dump.total_lines,
        boilerplate_lines=dump.boilerplate_lines,
        record_lines=dump.record_lines,
        rejected_lines=dump.rejected_lines,
        warnings=warnings,
    )


def prepare_records(raw: pl.DataFrame) -> pl.DataFrame:
    """Clean fields and dedup keys, done per file (in parallel)."""
    return clean_records(raw).select(list(RECORD_COLUMNS))


def _reject_warning(source_file: str, reject: Reject) -> Warning_:
    """Every reject is also said out loud, pinned to its file and first line."""
    what = reject.reason.replace("_", " ")
    if reject.reason in ("empty_file", "unrecognized_format"):
        return Warning_(source_file, 0, f"{what}; file skipped")
    preview = reject.text if len(reject.text) <= 60 else reject.text[:57] + "..."
    return Warning_(source_file, reject.line_start, f"{what}: {preview!r}")


def _pinned_warnings(source_file: str, messages: list[str]) -> Iterator[Warning_]:
    for message in messages:
        head, _, rest = message.partition(": ")
        if head.startswith("line ") and head[5:].isdigit():
            yield Warning_(source_file, int(head[5:]), rest)
        else:
            yield Warning_(source_file, 0, message)


@dataclass
class FileEntry(DumpAccount):
    """What the build keeps of one parsed dump: its account, where its records are, and the
    links of its records (LINK_ROW_SCHEMA; small, so kept with the account, not stored apart).
    """

    stored: StoredRecords | None = None
    links: pl.DataFrame | None = None

    @property
    def record_count(self) -> int:
        return self.stored.record_count if self.stored else 0


def _shallow(account: DumpAccount) -> dict[str, object]:
    """The account's fields as they are (`asdict` would turn the rejects into dicts)."""
    return {f.name: getattr(account, f.name) for f in fields(DumpAccount)}


def _entry_of(result: FileResult) -> FileEntry:
    return FileEntry(**_shallow(result), links=result.links)


def _skipped(source_file: str, message: str, reject: Reject | None = None) -> FileEntry:
    """A file that was not read: no lines, at most one whole-file reject, one warning."""
    rejects = [reject] if reject is not None else []
    warning = Warning_(source_file, 0, f"{message}; file skipped")
    return FileEntry(source_file, "", None, None, rejects, 0, 0, 0, 0, [warning])


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


def _stored_entry(stem: Path, source_file: str) -> FileEntry | None:
    """The complete entry stored under `stem`, named as the dump is named now, or None."""
    cached = load_meta(stem)
    if not isinstance(cached, FileEntry) or cached.stored is None:
        return None
    cached.stored = cached.stored.moved_to(stem)  # the cache may have been moved
    if not cached.stored.complete:
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
        return _skipped(source_file, f"cannot read file: {exc.strerror}"), False
    stem = entry_stem(store_dir, sha, captured_on)
    cached = _stored_entry(stem, source_file)
    if cached is not None:
        return cached, True
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
            return _skipped(source_file, f"cannot read file: {exc.strerror}"), False
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
            entry = _entry_of(result)
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


T = TypeVar("T")


def _batches(sized: Iterable[tuple[T, int]], limit: int) -> Iterator[list[T]]:
    """Consecutive items, given with their sizes, grouped up to `limit` (a bigger item goes
    alone); lazily, so that a big dump's pages are read a batch at a time."""
    batch: list[T] = []
    size = 0
    for item, item_size in sized:
        if batch and size + item_size > limit:
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


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
        _remembered(task, memo.digest(status))
        for task, status in zip(tasks, statuses, strict=True)
    ]
    unparsed = [
        (task, status[2] if status else 0)
        for task, status, entry in zip(tasks, statuses, remembered, strict=True)
        if entry is None
    ]
    entries, cached = _collect(
        paths, _in_order(remembered, _parse_tasks(unparsed, jobs)), on_file
    )
    for status, entry in zip(statuses, entries, strict=True):
        memo.remember(status, entry.source_sha256, looked_ns)
    memo.save()
    return entries, cached


def _remembered(task: _ParseTask, sha: str | None) -> FileEntry | None:
    """The stored entry of a dump whose hash is remembered, if the store has it."""
    path, source_file, captured_on, store_dir = task
    if sha is None or _link_out_of(path) is not None:
        return None
    return _stored_entry(entry_stem(store_dir, sha, captured_on), source_file)


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
    batches = list(_batches(sized, limit))
    if workers > 1 and total_bytes > 4_000_000:
        # Not plain fork: a process that already ran polars' thread pool can deadlock its
        # forked children. A fork server starts clean and forks workers from itself.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["etl.pipeline"])
        done = 0
        try:
            with (
                _worker_environment(),
                ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor,
            ):
                for outcome in itertools.chain.from_iterable(executor.map(_parse_paths, batches)):
                    yield outcome
                    done += 1
                return
        except BrokenProcessPool:
            # The fork server imports the caller's main module; a script without an
            # `if __name__ == "__main__":` guard breaks it. Parse the rest in this process
            # instead (what the workers finished is reused from the store).
            pass
        batches = _after(batches, done)
    yield from itertools.chain.from_iterable(map(_parse_paths, batches))


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


# -- tables -----------------------------------------------------------------------------

KEY_COLUMNS = [c for c in RECORD_COLUMNS if c != "abstract"]


_FILE_COLUMNS = {
    "source_file": pl.String,
    "source_sha256": pl.String,
    "dump_format": pl.String,
    "captured_on": pl.Date,
}


def _files_frame(entries: list[FileEntry]) -> pl.DataFrame:
    """One row per dump with records: what its sources rows say about where they came from."""
    return pl.DataFrame(
        {name: [getattr(e, name) for e in entries] for name in _FILE_COLUMNS},
        schema=_FILE_COLUMNS,
    )


def key_frame(entries: list[FileEntry], store: RecordStore) -> pl.DataFrame:
    """Every record without its abstract, its capture date and its dump (`file`, a position
    among the dumps with records): what dedupe needs, and the line numbers for sources."""
    stored = [e for e in entries if e.record_count]
    schema = {c: RECORD_COLUMNS[c] for c in KEY_COLUMNS} | {
        "file": pl.UInt32,
        "captured_on": pl.Date,
    }
    if not stored:
        return pl.DataFrame(schema=schema)
    # Two byte-identical dumps share one stored entry, so files are matched by position.
    counts = [e.record_count for e in stored]
    file_of_record = np.repeat(np.arange(len(stored), dtype=np.uint32), counts)
    captured = pl.Series([e.captured_on for e in stored], dtype=pl.Date)
    return store.scan(KEY_COLUMNS).with_columns(
        pl.Series("file", file_of_record, dtype=pl.UInt32),
        captured.gather(file_of_record).alias("captured_on"),
    )


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
    rows = [
        {
            "source_file": e.source_file,
            "line_start": j.line_start,
            "line_end": j.line_end,
            "reason": j.reason,
            "text": j.text,
        }
        for e in entries
        for j in e.rejects
    ]
    return pa.Table.from_pylist(rows, schema=schemas.REJECTS.schema)


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
            keys.select("line_start", "line_end"),
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
            entry = _entry_of(result)
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


# -- the build ------------------------------------------------------------------------------


class _StageTimer:
    def __init__(self, summary: BuildSummary) -> None:
        self.summary = summary
        self.last = time.perf_counter()

    def __call__(self, stage: str) -> None:
        now = time.perf_counter()
        self.summary.stage_seconds[stage] = round(now - self.last, 4)
        self.last = now


@dataclass
class BuildOutcome(BuildResult):
    """A build plus what happened at the edge: where the tables went and why."""

    exit_code: int = 0
    message: str = ""


class TableFolder(Mapping[str, pa.Table]):
    """The tables of a build, read from the folder they were written to when first asked for."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._read: dict[str, pa.Table] = {}

    def __getitem__(self, name: str) -> pa.Table:
        if name not in schemas.TABLES_BY_NAME or self.folder is None:
            raise KeyError(name)
        if name not in self._read:
            self._read[name] = pq.read_table(self.folder / schemas.TABLES_BY_NAME[name].file_name)
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(schemas.TABLES_BY_NAME if self.folder is not None else ())

    def __len__(self) -> int:
        return len(schemas.TABLES_BY_NAME) if self.folder is not None else 0


def build(
    raw_dir: Path | str = config.RAW_DIR,
    out_dir: Path | str = config.PROCESSED_DIR,
    *,
    validate: bool = True,
    strict: bool = False,
    jobs: int = 0,
    cache_dir: Path | None = None,
    on_file: Callable[[], None] | None = None,
) -> BuildOutcome:
    """Build the tables from raw_dir and, if they pass, swap them into out_dir.

    Returns the tables (read from where they were written) and the summary. Nothing in
    out_dir changes unless the whole build (and validation, when asked) succeeds; a strict
    build also refuses any reject. Parsed dumps are kept in `cache_dir` for the next build,
    or in a temporary folder when it is None.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    summary = BuildSummary()
    timer = _StageTimer(summary)
    paths = list_dumps(raw_dir)
    captured, warnings = read_manifest(raw_dir)
    if not paths:
        message = f"no dumps (*{config.DUMP_SUFFIX}) here; the tables are empty"
        warnings.append(Warning_(str(raw_dir), 0, message))
    outcome = BuildOutcome(tables=TableFolder(None), summary=summary, warnings=warnings)
    with contextlib.ExitStack() as cleanup:
        try:
            # Held for the whole build, so that a second build on the same output fails at
            # once instead of after parsing everything.
            cleanup.enter_context(output_lock(out_dir))
            store_dir = cache_dir or Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
            entries, summary.files_from_cache = parse_all(paths, captured, jobs, store_dir, on_file)
            if cache_dir is not None:
                prune(cache_dir)
        except OutputError as exc:
            outcome.exit_code, outcome.message = 3, str(exc)
            return outcome
        timer("parse")
        for entry in entries:
            warnings.extend(entry.warnings)
            summary.lines_total += entry.total_lines
            summary.lines_boilerplate += entry.boilerplate_lines
            summary.lines_record += entry.record_lines
            summary.lines_rejected += entry.rejected_lines
            if (
                entry.boilerplate_lines + entry.record_lines + entry.rejected_lines
                != entry.total_lines
            ):
                raise AssertionError(f"line accounting broken for {entry.source_file}")
        store = RecordStore([e.stored for e in entries if e.stored and e.record_count])
        try:
            recover(out_dir)
            staging = new_staging_dir(out_dir)
        except OutputError as exc:
            outcome.exit_code, outcome.message = 3, str(exc)
            return outcome
        background = cleanup.enter_context(ThreadPoolExecutor(max_workers=1))
        tables, summary.duplicates_merged = assemble_tables(entries, store, timer, background)
        summary.files = len(paths)
        summary.records = tables["sources"].num_rows
        summary.papers = tables["papers"].num_rows
        summary.rejects = tables["rejects"].num_rows
        summary.links = tables["links"].num_rows
        summary.warnings = len(warnings)
        written = _publish(
            tables,
            summary,
            outcome,
            out_dir,
            staging,
            validate=validate,
            strict=strict,
            timer=timer,
        )
    outcome.tables = TableFolder(written)
    return outcome


def _publish(
    tables: dict[str, pa.Table | PapersTable],
    summary: BuildSummary,
    outcome: BuildOutcome,
    out_dir: Path,
    staging: Path,
    *,
    validate: bool,
    strict: bool,
    timer: _StageTimer,
) -> Path | None:
    """Write into `staging`, validate and swap in (the caller holds the lock); old tables stay
    on any failure.

    `tables` is emptied once written: validation reads the files, and at 1 GB of dumps the
    build's tables, held meanwhile, kept 606 MiB resident when validation started (281 MiB
    once let go).
    Returns the folder the new tables are in (out_dir, or the kept candidate), if any.
    """
    try:
        write_tables(tables, schemas.TABLES, staging)
        tables.clear()
        gc.collect()
        pa.default_memory_pool().release_unused()
        timer("write")
        if validate:
            from etl.validate import validate_tables

            report = validate_tables(staging)
            summary.validated = report.success
            timer("validate")
            if not report.success:
                kept = _keep_candidate(staging)
                outcome.exit_code = 1
                failed = ", ".join(sorted(report.failed_rules))
                outcome.message = (
                    f"validation failed ({failed}): {out_dir} left as it was; the failing "
                    f"tables are in {kept} (`papers-etl validate --data {kept}` for the report)"
                )
                return kept
        if strict and summary.rejects:
            kept = _keep_candidate(staging)
            outcome.exit_code = 1
            outcome.message = (
                f"--strict: {summary.rejects} reject(s); {out_dir} left as it "
                f"was; the candidate tables are in {kept}"
            )
            return kept
        swap_in(staging, out_dir)
        summary.published = True
        return out_dir
    except OutputError as exc:
        outcome.exit_code = 3
        outcome.message = str(exc)
        return None


def _keep_candidate(staging: Path) -> Path:
    target = config.REJECTED_CANDIDATE_DIR
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staging), target)
    return target
