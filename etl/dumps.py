"""One dump's bytes -> its records, their links and its account: what a parse worker does.

A dump is decoded, cut into its pasted pages, and each page parsed: by the vectorized parser
(`etl.fastparse`) when it is regular, else by the line parser (`etl.parse`), which defines
the semantics. Several dumps are parsed and cleaned together, which costs less than one at a
time. A dump too big to hold is parsed and stored a batch of pages at a time
(`parse_big_file`). Content problems become rejects and warnings pinned to a file and line,
never errors.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl

from etl import config
from etl.decode import decode_dump
from etl.fastparse import RAW_RECORD_SCHEMA, Page, parse_regular_pages
from etl.links import link_rows
from etl.normalize import clean_records, dump_lines
from etl.parse import BOILERPLATE_TEXT, dump_years, page_starts, parse_lines
from etl.records import LineWarning, ParsedDump, Reject
from etl.store import EntryWriter, StoredRecords, save_meta
from etl.stream import plan_pages, read_pages

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
class FileEntry(DumpAccount):
    """What the build keeps of one parsed dump: its account, where its records are, and the
    links of its records (LINK_ROW_SCHEMA; small, so kept with the account, not stored apart).
    """

    stored: StoredRecords | None = None
    links: pl.DataFrame | None = None

    @property
    def record_count(self) -> int:
        return self.stored.record_count if self.stored else 0


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
            dump.captured_on,
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
        Page(
            lines[start:end],
            ends_with_newline or end != len(lines),
            captured_on,
            years,
            followed=end != len(lines),
        )
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
        else:
            parsed.append(_line_parsed(page, undecoded))
    return parsed


def _line_parsed(page: Page, undecoded_bytes: bool) -> tuple[ParsedDump, pl.DataFrame]:
    dump = parse_lines(
        page.lines,
        page.ends_with_newline,
        page.captured_on,
        undecoded_bytes=undecoded_bytes,
        dump_years=page.dump_years,
        followed=page.followed,
    )
    return dump, records_of(dump)


@dataclass
class CleanedPages:
    """Pages parsed, and their records cleaned in one frame, page after page."""

    dumps: list[ParsedDump]  # each page's parse, on its own
    records: pl.DataFrame  # RECORD_COLUMNS, line numbers counted within each page
    counts: list[int]  # each page's records

    def with_dump_lines(self, page_starts: list[int]) -> pl.DataFrame:
        """The records, numbered by the lines of their dump: `page_starts` holds where each
        page begins in its dump (0-based)."""
        shift = pl.Series(np.repeat(np.asarray(page_starts, dtype=np.int32), self.counts))
        return self.records.with_columns(pl.col("line_start") + shift, pl.col("line_end") + shift)


def parse_and_clean(pages: list[Page], undecoded_bytes: list[bool]) -> CleanedPages:
    """`parse_pages`, and every page's records cleaned (`prepare_records`) in one frame.

    Whether a record can be a paper at all is judged on its stored values (`etl.parse.
    implausible`), which only the line parser does. A page the fast parser took where a
    cleaned record may fail that (`_implausible_rows`) is parsed again by the line parser,
    which rejects the record, and only its records are cleaned again.
    """
    parsed = parse_pages(pages, undecoded_bytes)
    counts = [raw.height for _, raw in parsed]
    if not parsed:
        return CleanedPages([], pl.DataFrame(schema=RECORD_COLUMNS), [])
    records = prepare_records(pl.concat([raw for _, raw in parsed]))
    page_of_row = np.repeat(np.arange(len(parsed)), counts)
    again = sorted(set(page_of_row[_implausible_rows(records)].tolist()))
    if again:
        firsts = np.concatenate([[0], np.cumsum(counts)])
        for number in again:
            parsed[number] = _line_parsed(pages[number], undecoded_bytes[number])
        redone = prepare_records(pl.concat([parsed[number][1] for number in again]))
        pieces, redone_first = [], 0
        for number, (_, raw) in enumerate(parsed):
            if number in again:
                pieces.append(redone.slice(redone_first, raw.height))
                redone_first += raw.height
                counts[number] = raw.height
            else:
                pieces.append(records.slice(int(firsts[number]), counts[number]))
        records = pl.concat(pieces)
    return CleanedPages([dump for dump, _ in parsed], records, counts)


def _implausible_rows(records: pl.DataFrame) -> np.ndarray:
    """Cleaned records `etl.parse.implausible` may reject (a boolean mask): a title without
    an ASCII letter or digit (the line parser asks Python, whose Unicode tables are neither
    polars' nor DuckDB's), an abstract of an implausible length, chrome in either."""
    title, length = records["title"], records["abstract"].str.len_chars()
    bad = (
        ~title.str.contains("[0-9A-Za-z]")
        | (title.str.len_chars() > config.MAX_TITLE_CHARS)
        | title.str.contains(BOILERPLATE_TEXT)
        | ~length.is_between(config.MIN_ABSTRACT_CHARS, config.MAX_ABSTRACT_CHARS)
    ).fill_null(False)
    # Only short abstracts are held to the chrome patterns: few, and a regex over every
    # abstract took a third of this check's time.
    short = (length <= config.MAX_TITLE_CHARS).fill_null(False).arg_true()
    if short.len():
        chrome = records["abstract"].gather(short).str.contains(BOILERPLATE_TEXT)
        bad = bad.scatter(short, bad.gather(short) | chrome)
    return bad.to_numpy()


def _merge_pages(total_lines: int, pages: list[Page], parsed: list[ParsedDump]) -> ParsedDump:
    """One dump's pages, parsed on their own, as the dump: counts summed, lines shifted."""
    if len(parsed) == 1:
        return parsed[0]
    merged = ParsedDump(dump_format=None, total_lines=total_lines)
    for start, dump in zip(_starts(pages), parsed, strict=True):
        _add_page(merged, dump, start)
    return merged


def _add_page(merged: ParsedDump, page: ParsedDump, start: int) -> None:
    """Count a page parsed on its own into its dump, which it begins at line `start` + 1."""
    merged.rejects += [
        Reject(r.line_start + start, r.line_end + start, r.reason, r.text) for r in page.rejects
    ]
    merged.warnings += [LineWarning(w.line + start, w.message) for w in page.warnings]
    merged.boilerplate_lines += page.boilerplate_lines
    merged.record_lines += page.record_lines
    merged.rejected_lines += page.rejected_lines
    if start == 0:
        merged.page_date_text = page.page_date_text
    if merged.dump_format != "search_page" and page.dump_format is not None:
        merged.dump_format = page.dump_format


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
    cleaned = parse_and_clean(pages, undecoded)
    page_starts = [start for text in texts for start in _starts(text.pages)]
    records = cleaned.with_dump_lines(page_starts)
    page_dumps, page_counts = iter(cleaned.dumps), iter(cleaned.counts)
    accounts, heights = [], []
    for text in texts:
        if text.skipped is not None:  # its one warning says so already
            dump, height = text.skipped, 0
        else:
            own = [next(page_dumps) for _ in text.pages]
            height = sum(next(page_counts) for _ in text.pages)
            dump = _merge_pages(text.total_lines, text.pages, own)
            text.warnings.extend(_dump_warnings(text.source_file, dump))
        accounts.append(_account(text.source_file, text.sha256, dump, text.warnings))
        heights.append(height)
    if not accounts:
        return []
    links = link_rows(records["abstract"])
    results, first = [], 0
    for account, height in zip(accounts, heights, strict=True):
        results.append(
            FileResult(
                **_shallow(account),
                records=records.slice(first, height),
                links=_links_between(links, first, first + height),
            )
        )
        first += height
    return results


def _starts(pages: list[Page]) -> list[int]:
    """Where each page begins in its dump (0-based line)."""
    starts, start = [], 0
    for page in pages:
        starts.append(start)
        start += len(page.lines)
    return starts


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
        for batch in size_batches(pages_read, config.PARSE_BATCH_BYTES):
            pages = [
                Page(p.lines, p.ends_with_newline, captured_on, plan.years, p.followed)
                for p in batch
            ]
            cleaned = parse_and_clean(pages, [False] * len(pages))
            for page, page_dump in zip(batch, cleaned.dumps, strict=True):
                _add_page(dump, page_dump, page.first_line)
            records = cleaned.with_dump_lines([page.first_line for page in batch])
            writer.write(records, link_rows(records["abstract"]))
        entry = FileEntry(**_shallow(_account(source_file, sha, dump, [])), links=writer.links)
        entry.warnings = _dump_warnings(source_file, dump)
        entry.stored = writer.finish()
        save_meta(entry.stored, entry)
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
    warnings = [Warning_(source_file, w.line, w.message) for w in dump.warnings]
    warnings.extend(_reject_warning(source_file, reject) for reject in dump.rejects)
    return sorted(warnings, key=lambda w: w.line)


def _account(source_file: str, sha: str, dump: ParsedDump, warnings: list[Warning_]) -> DumpAccount:
    return DumpAccount(
        source_file=source_file,
        source_sha256=sha,
        dump_format=dump.dump_format,
        rejects=dump.rejects,
        total_lines=dump.total_lines,
        boilerplate_lines=dump.boilerplate_lines,
        record_lines=dump.record_lines,
        rejected_lines=dump.rejected_lines,
        warnings=warnings,
    )


def prepare_records(raw: pl.DataFrame) -> pl.DataFrame:
    """Clean fields and dedup keys, done per batch of dumps in the parse workers."""
    return clean_records(raw).select(list(RECORD_COLUMNS))


def _reject_warning(source_file: str, reject: Reject) -> Warning_:
    """Every reject is also said out loud, pinned to its file and first line."""
    what = reject.reason.replace("_", " ")
    if reject.reason in ("empty_file", "unrecognized_format"):
        return Warning_(source_file, 0, f"{what}; file skipped")
    preview = reject.text if len(reject.text) <= 60 else reject.text[:57] + "..."
    return Warning_(source_file, reject.line_start, f"{what}: {preview!r}")


def _shallow(account: DumpAccount) -> dict[str, object]:
    """The account's fields as they are (`asdict` would turn the rejects into dicts)."""
    return {f.name: getattr(account, f.name) for f in fields(DumpAccount)}


def entry_of(result: FileResult) -> FileEntry:
    return FileEntry(**_shallow(result), links=result.links)


T = TypeVar("T")


def size_batches(sized: Iterable[tuple[T, int]], limit: int) -> Iterator[list[T]]:
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
