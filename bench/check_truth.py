"""Grade a build of a generated pile against the generator's answer key, field by field.

Counting papers says nothing about which records were merged or whether a field is right.
The generator knows what every record really is (`truth_records.csv`: file, format, lines,
paper, capture date and whether the manifest lists it, title as meant, footer shown) and
every paper's facts (`truth_papers.csv`: abstract's hash, author count, publication date,
link). From those and the rules alone this says what each table must hold, and checks:

- every record is in `sources` once, with its lines, dump format, file hash and capture date,
  and nothing else is;
- records are grouped into papers exactly as generated: no two papers merged, none split;
- each paper's title (the latest capture's), full abstract, highest upvote count shown and
  source count; its author count exactly when a footer was shown; its date as the rules pick
  it; its link; no duplicate rows; the rejects, and nothing else rejected.

Capture dates follow `etl/dates.py`: the manifest's, or for a dump it does not list, the
year after the latest year the dump's footers show, on the page's date (a compact copy shows
none); a yearless footer date takes that year (`inferred`) or is rejected when there is
none. Such a year may differ from the true one, which the page does not show: those are
counted in the report, not failed.

    python bench/check_truth.py TABLES_DIR PILE_DIR [EXTRA_DIR ...]

Prints a JSON report; exits 1 if anything is wrong.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import unicodedata
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from generate import TRUTH_PAPERS, TRUTH_RECORDS  # bench/ is sys.path[0] as a script

EXAMPLES = 3
MIN_PUBLISHED_YEAR = 1990  # etl.config.MIN_PUBLISHED_YEAR
_YEAR_SOURCES = ("explicit", "capture_date", "inferred")  # the rule's order of preference
_EARLIEST = pl.date(1, 1, 1)  # a record without a capture date is the oldest capture


_RECORD_TYPES = {"captured_on": pl.Date, "listed": pl.Boolean, "date_text": pl.String,
                 "upvotes": pl.Int64, "title": pl.String, "line_start": pl.Int32,
                 "line_end": pl.Int32}
_PAPER_TYPES = {"published_date": pl.Date, "abstract_sha256": pl.String, "url": pl.String,
                "host": pl.String, "kind": pl.String, "repo": pl.String}


def read_truth(piles: list[Path]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The answer key of one or more piles generated in one stream (a pile, its extra dump);
    each record says which pile holds its dump (`pile`)."""

    def read(name: str, types: dict[str, pl.DataType]) -> pl.DataFrame:
        return pl.concat([
            pl.read_csv(pile / name, schema_overrides=types)
            .with_columns(pl.lit(str(pile)).alias("pile"))
            for pile in piles
        ])

    records = read(TRUTH_RECORDS, _RECORD_TYPES)
    papers = read(TRUTH_PAPERS, _PAPER_TYPES).drop("pile")
    nfc = pl.col("title").map_elements(lambda t: unicodedata.normalize("NFC", t),
                                       return_dtype=pl.String)
    return records.with_columns(nfc), papers


def abstract_hashes(papers: Path) -> pl.Series:
    """The SHA-256 of each paper's abstract, in the table's order, read a row group at a
    time: a 3 GB pile's abstracts are 2 GB."""
    hashes: list[str | None] = []
    for batch in pq.ParquetFile(papers).iter_batches(columns=["abstract"]):
        hashes.extend(None if a is None else hashlib.sha256(a.encode("utf-8")).hexdigest()
                      for a in batch.column(0).to_pylist())
    return pl.Series("abstract_sha256", hashes, dtype=pl.String)


def _valid_date(year: int | None, month: int, day: int) -> dt.date | None:
    try:
        return None if year is None else dt.date(year, month, day)
    except ValueError:
        return None


Capture = tuple[dt.date | None, int | None, str, dt.date | None]


def build_captures(records: pl.DataFrame) -> dict[str, Capture]:
    """Per dump, as `etl.dates.capture_year` decides: (capture date, the year of yearless
    dates, where that year comes from, the latest date a footer may show)."""
    per_file = records.group_by("source_file").agg(
        pl.col("dump_format").first(), pl.col("listed").first(), pl.col("captured_on").first(),
        pl.col("date_text").str.extract(r", (\d{4})$").cast(pl.Int32).max().alias("latest_year"),
    )
    captures = {}
    for row in per_file.iter_rows(named=True):
        true_date: dt.date = row["captured_on"]
        if row["listed"]:
            captures[row["source_file"]] = (true_date, true_date.year, "capture_date", true_date)
            continue
        year = None if row["latest_year"] is None else row["latest_year"] + 1
        shown = row["dump_format"] == "search_page"  # the page's date, under its header
        captured = _valid_date(year, true_date.month, true_date.day) if shown else None
        latest = captured or _valid_date(year, 12, 31)
        captures[row["source_file"]] = (captured, year, "inferred", latest)
    return captures


def expected_records(records: pl.DataFrame, papers: pl.DataFrame) -> pl.DataFrame:
    """Each record as the build must keep it: its capture date, its footer's date (or the
    reason the date line is rejected, which then is not part of the record), its upvotes."""
    captures = build_captures(records)
    published = dict(zip(papers["paper"].to_list(), papers["published_date"].to_list(),
                         strict=True))
    columns: dict[str, list[object]] = {
        "captured_on_expected": [], "published_date": [], "year_source": [], "reject": [],
    }
    for file, paper, text in zip(records["source_file"].to_list(), records["paper"].to_list(),
                                 records["date_text"].to_list(), strict=True):
        captured, year, year_source, latest = captures[file]
        columns["captured_on_expected"].append(captured)
        date = source = reason = None
        if text is not None:
            true = published[paper]
            if "," in text:
                year, year_source = true.year, "explicit"
            if year is None:
                reason = "unknown_capture_year"
            elif (date := _valid_date(year, true.month, true.day)) is None:
                reason = "invalid_date"
            elif date.year < MIN_PUBLISHED_YEAR or (latest is not None and date > latest):
                date, reason = None, "date_out_of_range"
            else:
                source = year_source
        columns["published_date"].append(date)
        columns["year_source"].append(source)
        columns["reject"].append(reason)
    rejected = pl.col("reject").is_not_null()
    return records.with_columns(
        pl.Series("captured_on_expected", columns["captured_on_expected"], dtype=pl.Date),
        pl.Series("published_date", columns["published_date"], dtype=pl.Date),
        pl.Series("year_source", columns["year_source"], dtype=pl.String),
        pl.Series("reject", columns["reject"], dtype=pl.String),
    ).with_columns(
        pl.when(rejected).then(pl.col("line_end") - 1).otherwise("line_end")
        .alias("line_end_expected"),
        pl.when(rejected).then(None).otherwise("upvotes").alias("upvotes"),
        pl.when(rejected).then(None).otherwise("date_text").alias("date_shown"),
    )


def expected_papers(records: pl.DataFrame, papers: pl.DataFrame) -> pl.DataFrame:
    """Each true paper's fields as the dedupe rule gives them (etl/dedupe.py, clause 4)."""
    latest_first = pl.col("captured_on_expected").fill_null(_EARLIEST)
    rank = pl.col("year_source").replace_strict(
        {s: i for i, s in enumerate(_YEAR_SOURCES)}, default=None, return_dtype=pl.Int8
    )
    dated = pl.col("published_date").is_not_null()
    chosen = [rank.filter(dated), latest_first.filter(dated),
              pl.col("published_date").filter(dated), pl.col("date_shown").filter(dated)]
    per_paper = records.group_by("paper").agg(
        pl.col("title").sort_by([latest_first, "title"], descending=[True, False]).first(),
        pl.col("upvotes").max(),
        pl.len().cast(pl.Int32).alias("source_count"),
        pl.col("date_text").is_not_null().any().alias("footer"),
        *(
            pl.col(name).filter(dated)
            .sort_by(chosen, descending=[False, True, False, False]).first()
            .alias(f"{name}_chosen")
            for name in ("published_date", "year_source", "date_shown")
        ),
    )
    papers = papers.rename({"published_date": "true_published_date"})
    return per_paper.join(papers, on="paper", how="left", validate="1:1")


def check(tables: Path, piles: list[Path]) -> dict[str, object]:
    """The report: what was checked, the problems by kind (count and a few examples), and
    how often an inferred year differs from the true one."""
    truth_records, truth = read_truth(piles)
    records = expected_records(truth_records, truth)
    problems: dict[str, dict[str, object]] = {}

    def problem(name: str, rows: pl.DataFrame) -> None:
        if rows.height:
            problems[name] = {"count": rows.height, "examples": rows.head(EXAMPLES).to_dicts()}

    def differ(frame: pl.DataFrame, keys: list[str], *pairs: tuple[str, str]) -> pl.DataFrame:
        wrong = pl.lit(False)
        for want, got in pairs:
            wrong = wrong | pl.col(want).ne_missing(pl.col(got))
        return frame.filter(wrong).select(*keys, *(c for pair in pairs for c in pair))

    table = {name: pl.read_parquet(tables / f"{name}.parquet")
             for name in ("authors", "dates", "links", "sources", "rejects")}

    # Records: each kept once, where it was, from the dump it came from.
    sources = table["sources"]
    key = ["source_file", "line_start"]
    problem("record lost", records.join(sources, on=key, how="anti").select(*key, "paper"))
    problem("record invented", sources.join(records, on=key, how="anti").select(*key, "paper_id"))
    problem("record listed twice", sources.filter(pl.struct(key).is_duplicated()).select(key))
    files = records.select("pile", "source_file").unique()
    hashes = files.select("source_file", pl.Series("sha256", [
        hashlib.sha256((Path(pile) / name).read_bytes()).hexdigest()
        for pile, name in files.iter_rows()
    ], dtype=pl.String))
    joined = records.join(sources, on=key, how="inner", suffix="_built").join(
        hashes, on="source_file", how="left"
    )
    problem("record lines", differ(joined, key, ("line_end_expected", "line_end_built")))
    problem("record capture date",
            differ(joined, key, ("captured_on_expected", "captured_on_built")))
    problem("record dump", differ(joined, key, ("dump_format", "dump_format_built"),
                                  ("sha256", "source_sha256")))

    # Papers: grouped as generated, each field as the rules give it.
    pairs = joined.select("paper", "paper_id").unique()
    problem("papers merged", pairs.filter(pl.col("paper_id").is_duplicated())
            .group_by("paper_id").agg(pl.col("paper").sort()).sort("paper_id"))
    problem("paper split", pairs.filter(pl.col("paper").is_duplicated())
            .group_by("paper").agg(pl.col("paper_id").sort()).sort("paper"))
    one_to_one = pairs.filter(
        ~pl.col("paper").is_duplicated() & ~pl.col("paper_id").is_duplicated()
    )
    papers = table["papers"] = pl.read_parquet(
        tables / "papers.parquet", columns=["paper_id", "title", "upvotes", "source_count"]
    ).with_columns(abstract_hashes(tables / "papers.parquet"))
    problem("paper invented", papers.join(pairs, on="paper_id", how="anti").select("paper_id"))
    expected = expected_papers(records, truth).join(one_to_one, on="paper", how="inner")
    got = expected.join(papers, on="paper_id", how="left", suffix="_built")
    for column in ("title", "abstract_sha256", "upvotes", "source_count"):
        problem(f"paper {column}", differ(got, ["paper", "paper_id"], (column, f"{column}_built")))

    authors = expected.join(table["authors"], on="paper_id", how="left", suffix="_built")
    problem("authors", authors.filter(
        pl.when(pl.col("footer"))
        .then(pl.col("author_count").ne_missing(pl.col("author_count_built")))
        .otherwise(pl.col("author_count_built").is_not_null())
    ).select("paper", "paper_id", "footer", "author_count", "author_count_built"))

    dates = expected.join(table["dates"], on="paper_id", how="left", suffix="_built")
    problem("dates", differ(dates, ["paper", "paper_id"],
                            ("published_date_chosen", "published_date"),
                            ("year_source_chosen", "year_source"),
                            ("date_shown_chosen", "date_text")))

    links = table["links"]
    want_links = expected.filter(pl.col("url").is_not_null()).select(
        "paper_id", "url", "host", "kind", "repo"
    )
    columns = want_links.columns
    problem("link lost", want_links.join(links, on=columns, how="anti", nulls_equal=True))
    problem("link invented", links.select(columns).join(
        want_links, on=columns, how="anti", nulls_equal=True))

    for name, keys in (("papers", ["paper_id"]), ("authors", ["paper_id"]),
                       ("dates", ["paper_id"]), ("links", ["paper_id", "url"])):
        problem(f"{name} row twice", table[name].filter(pl.struct(keys).is_duplicated())
                .select(keys))
        if name != "papers":
            problem(f"{name} of no paper",
                    table[name].join(papers, on="paper_id", how="anti").select(keys))

    reject_key = ["source_file", "line_start", "reason"]
    want_rejects = records.filter(pl.col("reject").is_not_null()).select(
        "source_file", pl.col("line_end").alias("line_start"), pl.col("reject").alias("reason")
    )
    got_rejects = table["rejects"].select(reject_key)
    problem("reject missing", want_rejects.join(got_rejects, on=reject_key, how="anti"))
    problem("reject unexpected", got_rejects.join(want_rejects, on=reject_key, how="anti"))

    inferred_captures = records.filter(
        ~pl.col("listed") & pl.col("captured_on_expected").is_not_null()
    ).unique("source_file")
    inferred_dates = expected.filter(pl.col("year_source_chosen") == "inferred")
    return {
        "records": records.height,
        "papers": truth.height,
        "problems": problems,
        "capture_dates_inferred": inferred_captures.height,
        "capture_dates_not_the_true_one": inferred_captures.filter(
            pl.col("captured_on_expected") != pl.col("captured_on")).height,
        "dates_of_inferred_year": inferred_dates.height,
        "dates_not_the_true_one": inferred_dates.filter(
            pl.col("published_date_chosen") != pl.col("true_published_date")).height,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(__doc__.split("\n\n")[-2].strip(), file=sys.stderr)
        return 2
    report = check(Path(args[0]), [Path(p) for p in args[1:]])
    print(json.dumps(report, indent=2, default=str))
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
