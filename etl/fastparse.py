"""Vectorized parse of regular dumps: the same result as `etl.parse.parse_dump`, much faster.

Almost every real dump is regular: page chrome, then papers of exactly `title, abstract` and
optionally the three footer lines, with valid counts and dates. For such a dump the records can
be cut out with column operations over all lines at once (polars) instead of a Python loop
over each line. Anything irregular — a reject of any kind, a title without abstract, chrome in
the middle, a partial footer, an unusual date — returns None, and the caller runs the careful
line-by-line parser, which stays the reference semantics (tests check the two agree).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from etl import config
from etl.dates import (
    FOOTER_DATE,
    MONTHS,
    FooterDate,
    capture_year,
    latest_today,
    parse_footer_date,
)
from etl.parse import (
    GLUED_PREFIXES,
    HTML_START,
    PAGE_BOILERPLATE,
    SENTENCE_END,
    Kind,
    strip_glued_boilerplate,
    strip_glued_page_start,
)

_AUTHORS_PATTERN = r"^\s*•\s*(-?\d[\d,]*)\s+authors?$"
_DATE_PATTERN = "^" + FOOTER_DATE.pattern + "$"
_MONTH_NUMBER = {name: i for i, name in enumerate(MONTHS, start=1)}
_SHORT_LINE_BYTES = 40


@dataclass
class RegularDump:
    """What a regular dump yields: raw records (columnar) and its line accounting."""

    records: pl.DataFrame
    dump_format: str
    total_lines: int
    record_lines: int
    page_date_text: str | None
    captured_on: dt.date | None


RAW_RECORD_SCHEMA: dict[str, pl.DataType] = {
    "title": pl.String,
    "abstract": pl.String,
    "author_count": pl.Int32,
    "published_date": pl.Date,
    "date_text": pl.String,
    "year_source": pl.String,
    "upvotes": pl.Int32,
    "line_start": pl.Int32,
    "line_end": pl.Int32,
    # The record's page's: pages pasted into one dump may have been captured on different days.
    "captured_on": pl.Date,
}


def _kinds() -> pl.Expr:
    short = pl.col("line").str.len_bytes() <= _SHORT_LINE_BYTES
    return (
        pl.when(pl.col("line").is_in(PAGE_BOILERPLATE))
        .then(Kind.HEADER)
        .when(short & pl.col("line").str.contains(_AUTHORS_PATTERN))
        .then(Kind.AUTHORS)
        .when(pl.col("line") == "·")
        .then(Kind.DOT)
        .when(short & pl.col("line").str.contains(_DATE_PATTERN))
        .then(Kind.DATE)
        .otherwise(Kind.TEXT)
        .cast(pl.Int8)
        .alias("kind")
    )


def _kind_of(line: str) -> int:
    return int(pl.DataFrame({"line": [line]}).select(_kinds())["kind"][0])


def _abstract_shaped() -> pl.Expr:
    """`etl.parse.is_abstract_shaped`, as a column expression."""
    line = pl.col("line")
    length = line.str.len_chars()
    ends_sentence = pl.any_horizontal(line.str.ends_with(end) for end in SENTENCE_END)
    return (length > config.MAX_TITLE_CHARS) | (
        (length >= 100) & ends_sentence & (line.str.count_matches(" ", literal=True) >= 14)
    )


@dataclass(frozen=True)
class Page:
    """One pasted page of a dump, with what its parse depends on besides its lines."""

    lines: list[str]
    ends_with_newline: bool
    captured_on: dt.date | None
    dump_years: list[int] | None = None  # None: the page is the whole dump; years from it
    followed: bool = False  # another page of the dump comes after it


def parse_regular(
    lines: list[str],
    ends_with_newline: bool,
    captured_on: dt.date | None,
    dump_years: list[int] | None = None,
) -> RegularDump | None:
    """Records of a regular dump, or None when the dump needs the line-by-line parser."""
    return parse_regular_pages([Page(lines, ends_with_newline, captured_on, dump_years)])[0]


def parse_regular_pages(pages: Sequence[Page]) -> list[RegularDump | None]:
    """`parse_regular` of many pages at once, each page's answer its own.

    All lines go into one frame: a column operation costs about 0.1 ms however short its
    column, and a page takes some 60 of them, so they are paid once per batch of pages
    instead of once per page. What is decided per page (is it regular? its capture year?) is
    decided per page, and a page found irregular drops out without touching the others.
    """
    if not pages:
        return []
    batch = _Batch(pages)
    records = _pair_titles(batch)
    footers = _footers(batch)
    records = records.join(
        footers, on=["page", "abstract_index"], how="left", maintain_order="left"
    )
    records = _resolve_dates(batch, records)
    alive = batch.alive_rows()
    out = (
        records.filter(alive)
        .select(
            "page",
            *(c for c in RAW_RECORD_SCHEMA if c not in ("line_end", "captured_on")),
            pl.coalesce("date_line", "abstract_line").alias("line_end"),
            pl.lit(pl.Series(batch.captured_on, dtype=pl.Date))
            .gather(pl.col("page"))
            .alias("captured_on"),
        )
        .cast(RAW_RECORD_SCHEMA)  # type: ignore[arg-type]
    )
    record_counts = np.bincount(out["page"].to_numpy(), minlength=len(pages))
    footer_counts = np.bincount(footers.filter(alive)["page"].to_numpy(), minlength=len(pages))
    out = out.select(*RAW_RECORD_SCHEMA)
    results: list[RegularDump | None] = [None] * len(pages)
    first = 0
    for number, page in enumerate(pages):
        if not batch.alive[number]:
            continue
        count, footer_lines = int(record_counts[number]), 3 * int(footer_counts[number])
        total = len(page.lines)
        blank = total - int(batch.token_counts[number])
        uses_blank_lines = footer_lines or blank >= 0.25 * max(1, total - blank)
        page_date = batch.page_dates[number]
        results[number] = RegularDump(
            records=out.slice(first, count),
            dump_format="search_page" if uses_blank_lines else "compact",
            total_lines=total,
            record_lines=2 * count + footer_lines,
            page_date_text=page_date.text if page_date else None,
            captured_on=batch.captured_on[number],
        )
        first += count
    return results


def _first_in_range(positions: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """For each range [start, end): the first of the ascending `positions` in it, else end."""
    if not len(positions):
        return ends.copy()
    found = positions[np.minimum(np.searchsorted(positions, starts), len(positions) - 1)]
    return np.where((found >= starts) & (found < ends), found, ends)


class _Batch:
    """The body lines of a batch of pages (chrome and page date cut off), and per page
    whether it is still regular (`alive`) and what was learned of it on the way."""

    def __init__(self, pages: Sequence[Page]) -> None:
        self.pages = pages
        count = len(pages)
        self.alive = np.ones(count, dtype=bool)
        self.page_dates: list[FooterDate | None] = [None] * count
        self.captured_on: list[dt.date | None] = [None] * count
        line_counts = np.fromiter((len(p.lines) for p in pages), dtype=np.int64, count=count)
        line_page = np.repeat(np.arange(count, dtype=np.uint32), line_counts)
        first_line = np.concatenate([[0], np.cumsum(line_counts)[:-1]]).astype(np.int64)
        tokens = (
            pl.DataFrame(
                {
                    "line": pl.Series(
                        list(itertools.chain.from_iterable(p.lines for p in pages)),
                        dtype=pl.String,
                    ),
                    "page": line_page,
                    "number": np.arange(len(line_page), dtype=np.int64) - first_line[line_page] + 1,
                }
            )
            .filter(pl.col("line") != "")
            .with_columns(_kinds())
        )
        kind = tokens["kind"].to_numpy()
        token_page = tokens["page"].to_numpy()
        self.token_counts = np.bincount(token_page, minlength=count)
        starts = np.concatenate([[0], np.cumsum(self.token_counts)[:-1]]).astype(np.int64)
        ends = starts + self.token_counts
        self.alive &= self.token_counts > 0
        lines = tokens["line"]
        # The next page's opening chrome glued to a page's last line (dumps joined without a
        # newline): the line parser cuts it off.
        followed = np.flatnonzero(self.alive & [page.followed for page in pages])
        for number, last in zip(followed, _at(lines, ends[followed] - 1), strict=True):
            if strip_glued_page_start(last) != last:
                self.alive[number] = False
        for number, first in zip(
            np.flatnonzero(self.alive), _at(lines, starts[self.alive]), strict=True
        ):
            if HTML_START.match(first):
                self.alive[number] = False

        # Page chrome only as a leading block, then maybe the page date.
        header = kind == Kind.HEADER
        body_starts = _first_in_range(np.flatnonzero(~header), starts, ends)
        header_rows = body_starts - starts
        self.alive &= np.bincount(token_page[header], minlength=count) == header_rows
        dated = np.flatnonzero(self.alive & (header_rows > 0) & (body_starts < ends))
        dated = dated[kind[body_starts[dated]] == Kind.DATE]
        for number, text in zip(dated, _at(lines, body_starts[dated]), strict=True):
            self.page_dates[number] = parse_footer_date(text)
        body_starts[dated] += 1
        self.alive &= body_starts < ends
        # Chrome glued to the first line after the header (`SubscribeBottom-Up ...`).
        undated = np.flatnonzero(self.alive)
        undated = undated[[self.page_dates[n] is None for n in undated]]
        fixes: dict[int, str] = {}
        for number, text in zip(undated, _at(lines, body_starts[undated]), strict=True):
            if text.startswith(GLUED_PREFIXES):
                unglued = strip_glued_boilerplate(text)
                if not unglued or _kind_of(unglued) != Kind.TEXT:
                    self.alive[number] = False
                else:
                    fixes[int(body_starts[number])] = unglued
        if fixes:
            lines = lines.scatter(list(fixes), list(fixes.values()))
        in_body = self.alive[token_page] & (np.arange(len(token_page)) >= body_starts[token_page])
        self.header_rows = header_rows
        self.body = tokens.with_columns(lines).filter(pl.Series(in_body))
        self._shape_body()

    def _shape_body(self) -> None:
        """Each body line's neighbours and its position in its run of text lines."""
        kind = self.body["kind"].to_numpy().astype(np.int64)
        page = self.body["page"].to_numpy()
        rows = np.arange(len(kind), dtype=np.int64)
        same_as_last = np.concatenate([[False], page[1:] == page[:-1]])
        same_as_next = np.concatenate([page[:-1] == page[1:], [False]])
        prev = np.where(same_as_last, np.roll(kind, 1), -1)
        next_ = np.where(same_as_next, np.roll(kind, -1), -1)
        page_first_row = np.searchsorted(page, page)
        last_other = (
            np.maximum.accumulate(np.where(kind != Kind.TEXT, rows, -1)) if len(rows) else rows
        )
        # Titles are even and abstracts odd positions within a run of text lines.
        run_pos = rows - np.maximum(last_other, page_first_row - 1) - 1
        self.kind, self.page = kind, page
        self.is_title = (kind == Kind.TEXT) & (run_pos % 2 == 0)
        self.is_abstract = (kind == Kind.TEXT) & (run_pos % 2 == 1)
        self.body = self.body.with_columns(
            pl.Series("index", rows - page_first_row, dtype=pl.Int64)
        )
        broken = (
            (self.is_title & (next_ != Kind.TEXT))  # every run of text ends with an abstract
            | ((kind == Kind.AUTHORS) & ~((prev == Kind.TEXT) & (next_ == Kind.DOT)))
            | ((kind == Kind.DOT) & ~((prev == Kind.AUTHORS) & (next_ == Kind.DATE)))
            | ((kind == Kind.DATE) & (prev != Kind.DOT))
        )
        self.drop(page[broken])

    def drop(self, pages: np.ndarray) -> None:
        """Pages found irregular: left to the line parser."""
        self.alive[pages] = False

    def per_page(self, rows: np.ndarray) -> np.ndarray:
        """How many of the body rows flagged in `rows` each page has."""
        return np.bincount(self.page[rows], minlength=len(self.pages))

    def alive_rows(self) -> pl.Expr:
        return pl.col("page").is_in(np.flatnonzero(self.alive).tolist())


def _at(column: pl.Series, rows: np.ndarray) -> list[str]:
    return column.gather(pl.Series(rows, dtype=pl.Int64)).to_list()


def _pair_titles(batch: _Batch) -> pl.DataFrame:
    """Each title with the abstract after it: one row per record of the regular pages."""
    count = len(batch.pages)
    titles = batch.per_page(batch.is_title)
    batch.drop(np.flatnonzero(titles != batch.per_page(batch.is_abstract)))
    shaped = np.zeros(len(batch.kind), dtype=bool)
    # With every title title-shaped, the line parser pairs each title with the next line
    # whatever its shape; only a page without chrome or footers needs prose abstracts.
    footerless = (batch.header_rows == 0) & (batch.per_page(batch.kind == Kind.AUTHORS) == 0)
    checked = batch.is_title | (batch.is_abstract & footerless[batch.page])
    checked &= batch.alive[batch.page]
    shaped[checked] = (
        batch.body.filter(pl.Series(checked)).select(_abstract_shaped()).to_series().to_numpy()
    )
    batch.drop(np.flatnonzero(batch.per_page(shaped & batch.is_title) > 0))
    prose = batch.per_page(shaped & batch.is_abstract)
    batch.drop(np.flatnonzero(footerless & (prose < 0.8 * titles)))

    alive = batch.alive[batch.page]
    title_rows = batch.body.filter(pl.Series(batch.is_title & alive))
    abstract_rows = batch.body.filter(pl.Series(batch.is_abstract & alive))
    records = pl.DataFrame(
        {
            "page": title_rows["page"],
            "title": title_rows["line"],
            "line_start": title_rows["number"],
            "abstract": abstract_rows["line"],
            "abstract_line": abstract_rows["number"],
            "abstract_index": abstract_rows["index"],
        }
    )
    # An interrupted copy: the line parser rejects the last fragment.
    cut = {n for n in range(count) if batch.alive[n] and not batch.pages[n].ends_with_newline}
    if cut and records.height:
        last_rows = records.group_by("page", maintain_order=True).last()
        for page, line, abstract in last_rows.select(
            "page", "abstract_line", "abstract"
        ).iter_rows():
            if (
                page in cut
                and line == len(batch.pages[page].lines)
                and not abstract.endswith(SENTENCE_END)
            ):
                batch.alive[page] = False
    return records


def _footers(batch: _Batch) -> pl.DataFrame:
    """One row per footer, keyed by its page and the body index of the abstract it closes.

    The structure checks guarantee each `• N authors` is followed by `·` and a date, so the
    n-th authors line and the n-th date line of a page belong together.
    """
    alive = batch.alive[batch.page]
    authors = batch.body.filter(pl.Series((batch.kind == Kind.AUTHORS) & alive)).select(
        "page",
        pl.col("line")
        .str.extract(_AUTHORS_PATTERN, 1)
        .str.replace_all(",", "")
        .cast(pl.Int64, strict=False)
        .alias("author_count"),
        (pl.col("index") - 1).alias("abstract_index"),
    )
    counts = authors["author_count"]
    invalid = counts.is_null() | ~counts.is_between(
        config.MIN_AUTHOR_COUNT, config.MAX_AUTHOR_COUNT
    )
    batch.drop(authors.filter(invalid)["page"].to_numpy())
    date_rows = (batch.kind == Kind.DATE) & alive
    batch.drop(
        np.flatnonzero(
            batch.per_page(date_rows) != batch.per_page((batch.kind == Kind.AUTHORS) & alive)
        )
    )
    dates = batch.body.filter(pl.Series(date_rows)).select(
        pl.col("number").alias("date_line"),
        pl.col("line").str.extract_groups(_DATE_PATTERN).alias("date"),
        "page",
    )
    alive_rows = batch.alive_rows()
    return pl.concat(
        [authors.filter(alive_rows), dates.filter(alive_rows).drop("page")], how="horizontal"
    ).unnest("date")


def _resolve_dates(batch: _Batch, records: pl.DataFrame) -> pl.DataFrame:
    """`etl.dates.resolve_date`, as column operations; a page where any date would be
    rejected is left to the line parser."""
    shown = pl.col("date_line").is_not_null()
    explicit = pl.col("year").is_not_null()
    per_page = (
        records.filter(batch.alive_rows())
        .group_by("page")
        .agg(
            pl.col("year").cast(pl.Int32, strict=False).max().alias("latest_year"),
            (shown & ~explicit).any().alias("yearless"),
        )
    )
    count = len(batch.pages)
    capture_years: list[int | None] = [None] * count
    capture_sources: list[str | None] = [None] * count
    latest: list[dt.date] = [dt.date.max] * count
    for number, latest_year, yearless in per_page.iter_rows():
        page = batch.pages[number]
        years = page.dump_years
        if years is None:
            years = [] if latest_year is None else [latest_year]
        capture = capture_year(page.captured_on, years, batch.page_dates[number])
        if yearless and capture.year is None:
            batch.alive[number] = False
            continue
        capture_years[number], capture_sources[number] = capture.year, capture.source
        latest[number] = capture.latest or latest_today()
        batch.captured_on[number] = capture.captured_on
    page = records["page"].to_numpy()
    year = pl.coalesce(
        pl.col("year").cast(pl.Int32), pl.Series(capture_years, dtype=pl.Int32).gather(page)
    )
    month = pl.col("month").replace_strict(_MONTH_NUMBER, default=None, return_dtype=pl.Int32)
    records = records.with_columns(
        pl.format("{}-{}-{}", year, month, pl.col("day"))
        .str.to_date("%Y-%m-%d", strict=False)
        .alias("published_date"),
        pl.when(~shown)
        .then(None)
        .when(explicit)
        .then(pl.lit("explicit"))
        .otherwise(pl.Series(capture_sources, dtype=pl.String).gather(page))
        .alias("year_source"),
        pl.col("text").alias("date_text"),
        pl.col("upvotes").cast(pl.Int32),
    )
    date = pl.col("published_date")
    out_of_range = records.filter(
        shown
        & (
            date.is_null()
            | (date < dt.date(config.MIN_PUBLISHED_YEAR, 1, 1))
            | (date > pl.Series(latest, dtype=pl.Date).gather(page))
        )
    )
    batch.drop(out_of_range["page"].to_numpy())
    return records
