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
from dataclasses import dataclass

import polars as pl

from etl import config
from etl.dates import (
    FOOTER_DATE,
    MONTHS,
    FooterDate,
    capture_year,
    parse_footer_date,
)
from etl.parse import (
    _GLUED_PREFIXES,
    _HTML_START,
    _SENTENCE_END,
    PAGE_BOILERPLATE,
    _strip_glued_boilerplate,
)

TEXT, HEADER, AUTHORS, DOT, DATE = range(5)
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
}


def _kinds() -> pl.Expr:
    short = pl.col("line").str.len_bytes() <= _SHORT_LINE_BYTES
    return (
        pl.when(pl.col("line").is_in(PAGE_BOILERPLATE))
        .then(HEADER)
        .when(short & pl.col("line").str.contains(_AUTHORS_PATTERN))
        .then(AUTHORS)
        .when(pl.col("line") == "·")
        .then(DOT)
        .when(short & pl.col("line").str.contains(_DATE_PATTERN))
        .then(DATE)
        .otherwise(TEXT)
        .cast(pl.Int8)
        .alias("kind")
    )


def _kind_of(line: str) -> int:
    return int(pl.DataFrame({"line": [line]}).select(_kinds())["kind"][0])


def _abstract_shaped() -> pl.Expr:
    """`etl.parse.is_abstract_shaped`, as a column expression."""
    line = pl.col("line")
    length = line.str.len_chars()
    ends_sentence = pl.any_horizontal(line.str.ends_with(end) for end in _SENTENCE_END)
    return (length > config.MAX_TITLE_CHARS) | (
        (length >= 100) & ends_sentence & (line.str.count_matches(" ", literal=True) >= 14)
    )


def parse_regular(
    lines: list[str],
    ends_with_newline: bool,
    captured_on: dt.date | None,
    dump_years: list[int] | None = None,
) -> RegularDump | None:
    """Records of a regular dump, or None when the dump needs the line-by-line parser."""
    total = len(lines)
    frame = pl.DataFrame({"line": pl.Series(lines, dtype=pl.String)}).with_row_index("number", 1)
    tokens = frame.filter(pl.col("line") != "")
    if tokens.height == 0 or _HTML_START.match(tokens["line"][0]):
        return None
    tokens = tokens.with_columns(_kinds().alias("kind"))
    kinds = tokens["kind"]

    # Page chrome only as a leading block, then maybe the page date.
    not_header = (kinds != HEADER).arg_true()
    header_rows = int(not_header[0]) if not_header.len() else tokens.height
    if int((kinds == HEADER).sum()) != header_rows:
        return None
    body = tokens.slice(header_rows)
    page_date = None
    if header_rows and body.height and body["kind"][0] == DATE:
        page_date = parse_footer_date(body["line"][0])
        body = body.slice(1)
    if body.height == 0:
        return None
    # Chrome glued to the first line after the header (`SubscribeBottom-Up ...`).
    first_line = body["line"][0] if page_date is None else None
    if first_line is not None and first_line.startswith(_GLUED_PREFIXES):
        unglued = _strip_glued_boilerplate(first_line)
        if not unglued or _kind_of(unglued) != TEXT:
            return None
        body = body.with_columns(
            pl.when(pl.int_range(pl.len()) == 0)
            .then(pl.lit(unglued))
            .otherwise(pl.col("line"))
            .alias("line")
        )

    kind, index = pl.col("kind"), pl.int_range(pl.len())
    body = body.with_columns(
        pl.col("kind").shift(1, fill_value=-1).alias("prev"),
        pl.col("kind").shift(-1, fill_value=-1).alias("next"),
        # Position of a text line within its run of text lines: titles even, abstracts odd.
        (index - pl.when(kind != TEXT).then(index).forward_fill().fill_null(-1) - 1).alias(
            "run_pos"
        ),
        index.alias("index"),
    )
    text = kind == TEXT
    is_title = text & (pl.col("run_pos") % 2 == 0)
    regular = body.select(
        # every run of text ends with an abstract
        ok_runs=(~(is_title & (pl.col("next") != TEXT))).all(),
        ok_authors=((kind != AUTHORS) | ((pl.col("prev") == TEXT) & (pl.col("next") == DOT))).all(),
        ok_dots=((kind != DOT) | ((pl.col("prev") == AUTHORS) & (pl.col("next") == DATE))).all(),
        ok_dates=((kind != DATE) | (pl.col("prev") == DOT)).all(),
    ).row(0)
    if not all(regular):
        return None
    titles = body.filter(is_title)
    abstracts = body.filter(text & (pl.col("run_pos") % 2 == 1))
    if titles.height != abstracts.height or titles.select(_abstract_shaped().any()).item():
        return None
    # With every title title-shaped, the line parser pairs each title with the next line
    # whatever its shape; only a dump without chrome or footers needs prose abstracts.
    has_footers = bool((body["kind"] == AUTHORS).any())
    if header_rows == 0 and not has_footers:
        prose = int(abstracts.select(_abstract_shaped().sum()).item())
        if prose < 0.8 * titles.height:
            return None
    records = pl.DataFrame(
        {
            "title": titles["line"],
            "line_start": titles["number"],
            "abstract": abstracts["line"],
            "abstract_line": abstracts["number"],
            "abstract_index": abstracts["index"],
        }
    )
    if (
        not ends_with_newline
        and records.height
        and records["abstract_line"][-1] == total
        and not records["abstract"][-1].endswith(_SENTENCE_END)
    ):
        return None  # an interrupted copy: the line parser rejects the fragment
    footers = _footers(body)
    if footers is None:
        return None
    records = records.join(footers, on="abstract_index", how="left", maintain_order="left")
    dated = _resolve_dates(records, captured_on, page_date, dump_years)
    if dated is None:
        return None
    records, capture_on = dated
    footer_lines = 3 * footers.height
    blank = total - tokens.height
    uses_blank_lines = footer_lines or blank >= 0.25 * max(1, total - blank)
    out = records.select(
        "title",
        "abstract",
        "author_count",
        "published_date",
        "date_text",
        "year_source",
        "upvotes",
        "line_start",
        pl.coalesce("date_line", "abstract_line").alias("line_end"),
    ).cast(RAW_RECORD_SCHEMA)  # type: ignore[arg-type]
    return RegularDump(
        records=out,
        dump_format="search_page" if uses_blank_lines else "compact",
        total_lines=total,
        record_lines=2 * out.height + footer_lines,
        page_date_text=page_date.text if page_date else None,
        captured_on=capture_on,
    )


def _footers(body: pl.DataFrame) -> pl.DataFrame | None:
    """One row per footer, keyed by the body index of the abstract it closes.

    The structure checks guarantee each `• N authors` is followed by `·` and a date, so the
    n-th authors line and the n-th date line belong together.
    """
    authors = body.filter(pl.col("kind") == AUTHORS).select(
        pl.col("line")
        .str.extract(_AUTHORS_PATTERN, 1)
        .str.replace_all(",", "")
        .cast(pl.Int64, strict=False)
        .alias("author_count"),
        (pl.col("index") - 1).alias("abstract_index"),
    )
    counts = authors["author_count"]
    if (
        counts.null_count()
        or not counts.is_between(config.MIN_AUTHOR_COUNT, config.MAX_AUTHOR_COUNT).all()
    ):
        return None
    dates = body.filter(pl.col("kind") == DATE).select(
        pl.col("number").alias("date_line"),
        pl.col("line").str.extract_groups(_DATE_PATTERN).alias("date"),
    )
    if dates.height != authors.height:
        return None
    return pl.concat([authors, dates], how="horizontal").unnest("date")


def _resolve_dates(
    records: pl.DataFrame,
    captured_on: dt.date | None,
    page_date: FooterDate | None,
    dump_years: list[int] | None = None,
) -> tuple[pl.DataFrame, dt.date | None] | None:
    """`etl.dates.resolve_date`, as column operations; None if any date would be rejected."""
    if dump_years is None:
        years = records["year"].cast(pl.Int32, strict=False)
        dump_years = [int(years.max())] if years.null_count() < years.len() else []  # type: ignore[arg-type]
    capture = capture_year(captured_on, dump_years, page_date)
    shown = pl.col("date_line").is_not_null()
    explicit = pl.col("year").is_not_null()
    yearless = records.filter(shown & ~explicit).height
    if yearless and capture.year is None:
        return None
    year = pl.coalesce(pl.col("year").cast(pl.Int32), pl.lit(capture.year, pl.Int32))
    month = pl.col("month").replace_strict(_MONTH_NUMBER, default=None, return_dtype=pl.Int32)
    records = records.with_columns(
        pl.format("{}-{}-{}", year, month, pl.col("day"))
        .str.to_date("%Y-%m-%d", strict=False)
        .alias("published_date"),
        pl.when(~shown)
        .then(None)
        .when(explicit)
        .then(pl.lit("explicit"))
        .otherwise(pl.lit(capture.source))
        .alias("year_source"),
        pl.col("text").alias("date_text"),
        pl.col("upvotes").cast(pl.Int32),
    )
    dates = records.filter(shown)["published_date"]
    latest = capture.latest or dt.date.max
    if dates.null_count() or (
        dates.len()
        and (dates.min() < dt.date(config.MIN_PUBLISHED_YEAR, 1, 1) or dates.max() > latest)  # type: ignore[operator]
    ):
        return None
    return records, capture.captured_on
