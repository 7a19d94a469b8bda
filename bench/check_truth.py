"""Grade a build of a generated pile against the generator's answer key, field by field.

Counting papers says nothing about which records were merged or whether a field is right.
The generator knows what every record really is (`truth_records.csv`: file, lines, paper,
capture date and whether the manifest lists it, title as meant, footer shown) and every
paper's facts (`truth_papers.csv`: abstract's hash, author count, publication date, link), so this
checks, from the output tables:

- every record is in `sources` once, with its lines and capture date (the manifest's; for a
  dump the manifest does not list, none or the page's date in an inferred year), and
  nothing else is;
- records are grouped into papers exactly as generated: no two papers merged, none split;
- each paper's title (the latest capture's, as the dedupe rule says), full abstract, highest
  upvote count shown and source count; its author count and date exactly when a footer was
  shown; its link; no rejects.

A year the build had to infer (the capture year of a dump the manifest does not list, and
so the year of its yearless dates) may rightly differ from the truth: the page does not
show it. Those are counted, not failed. The title rule ("the latest capture's") is checked
against the capture dates the build recorded.

    python bench/check_truth.py TABLES_DIR PILE_DIR [EXTRA_DIR ...]

Prints a JSON report; exits 1 if anything is wrong.
"""

from __future__ import annotations

import hashlib
import json
import sys
import unicodedata
from pathlib import Path

import polars as pl
from generate import TRUTH_PAPERS, TRUTH_RECORDS  # bench/ is sys.path[0] as a script

EXAMPLES = 3


def read_truth(piles: list[Path]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The answer key of one or more piles generated in one stream (a pile, its extra dump)."""
    records = pl.concat(
        [
            pl.read_csv(
                pile / TRUTH_RECORDS,
                schema_overrides={"captured_on": pl.Date, "listed": pl.Boolean,
                                  "date_text": pl.String, "upvotes": pl.Int64,
                                  "title": pl.String},
            )
            for pile in piles
        ]
    )
    papers = pl.concat(
        [
            pl.read_csv(
                pile / TRUTH_PAPERS,
                schema_overrides={"published_date": pl.Date, "abstract_sha256": pl.String,
                                  "url": pl.String, "host": pl.String, "kind": pl.String,
                                  "repo": pl.String},
            )
            for pile in piles
        ]
    )
    nfc = pl.col("title").map_elements(lambda t: unicodedata.normalize("NFC", t),
                                       return_dtype=pl.String)
    records = records.with_columns(nfc, pl.col("line_start", "line_end").cast(pl.Int32))
    return records, papers


def sha256_of(texts: pl.Series) -> pl.Series:
    return pl.Series(
        [None if t is None else hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts],
        dtype=pl.String,
    )


def expected_papers(records: pl.DataFrame, papers: pl.DataFrame) -> pl.DataFrame:
    """Each true paper's fields as the dedupe rule must give them (see etl/dedupe.py), from
    its records with the capture dates the build recorded (`captured_on_built`)."""
    footer = pl.col("date_text").is_not_null()
    rank = (
        pl.when(pl.col("date_text").str.contains(",")).then(0)
        .when(pl.col("listed")).then(1)
        .otherwise(2)
    )
    latest_first = pl.col("captured_on_built").fill_null(pl.date(1, 1, 1))
    per_paper = records.group_by("paper").agg(
        pl.col("title").sort_by([latest_first, "title"], descending=[True, False]).first(),
        pl.col("upvotes").max(),
        pl.len().cast(pl.Int32).alias("source_count"),
        footer.any().alias("footer"),
        rank.filter(footer).min().alias("date_rank"),
        pl.col("date_text").filter(footer).sort_by(rank.filter(footer)).first(),
    )
    return per_paper.join(papers, on="paper", how="left", validate="1:1")


def check(tables: Path, piles: list[Path]) -> dict[str, object]:
    """The report: what was checked, the problems by kind (count and a few examples) and
    the inferred years that differ from the truth."""
    records, truth = read_truth(piles)
    sources = pl.read_parquet(tables / "sources.parquet")
    problems: dict[str, dict[str, object]] = {}

    def problem(name: str, rows: pl.DataFrame) -> None:
        if rows.height:
            problems[name] = {"count": rows.height, "examples": rows.head(EXAMPLES).to_dicts()}

    key = ["source_file", "line_start"]
    problem("record lost", records.join(sources, on=key, how="anti").select(*key, "paper"))
    problem("record invented", sources.join(records, on=key, how="anti").select(*key, "paper_id"))
    joined = records.join(sources, on=key, how="inner", suffix="_built")
    problem("record lines", joined.filter(pl.col("line_end") != pl.col("line_end_built"))
            .select(*key, "line_end", "line_end_built"))
    built_on = pl.col("captured_on_built")
    page_day = (built_on.dt.month() == pl.col("captured_on").dt.month()) & (
        built_on.dt.day() == pl.col("captured_on").dt.day()
    )
    problem("record capture date", joined.filter(
        pl.when(pl.col("listed")).then(built_on.ne_missing(pl.col("captured_on")))
        .otherwise(built_on.is_not_null() & ~page_day)
    ).select(*key, "listed", "captured_on", "captured_on_built"))
    unlisted = joined.filter(~pl.col("listed") & built_on.is_not_null()).unique("source_file")
    capture_years_off = unlisted.filter(built_on != pl.col("captured_on")).height
    problem("record listed twice", sources.filter(pl.struct(key).is_duplicated()).select(key))

    pairs = joined.select("paper", "paper_id").unique()
    problem("papers merged", pairs.filter(pl.col("paper_id").is_duplicated())
            .group_by("paper_id").agg(pl.col("paper").sort()).sort("paper_id"))
    problem("paper split", pairs.filter(pl.col("paper").is_duplicated())
            .group_by("paper").agg(pl.col("paper_id").sort()).sort("paper"))
    one_to_one = pairs.filter(
        ~pl.col("paper").is_duplicated() & ~pl.col("paper_id").is_duplicated()
    )

    built = pl.read_parquet(tables / "papers.parquet")
    built = built.with_columns(sha256_of(built["abstract"]).alias("abstract_sha256"))
    problem("paper invented", built.join(pairs, on="paper_id", how="anti").select("paper_id"))
    expected = expected_papers(joined, truth).join(one_to_one, on="paper", how="inner")
    got = expected.join(built, on="paper_id", how="left", suffix="_built")
    for column in ("title", "abstract_sha256", "upvotes", "source_count"):
        problem(f"paper {column}", got.filter(pl.col(column).ne_missing(pl.col(f"{column}_built")))
                .select("paper", "paper_id", column, f"{column}_built"))

    authors = pl.read_parquet(tables / "authors.parquet")
    got_authors = expected.join(authors, on="paper_id", how="left")
    problem("authors", got_authors.filter(
        pl.when(pl.col("footer")).then(pl.col("author_count").ne_missing(pl.col("author_count_right")))
        .otherwise(pl.col("author_count_right").is_not_null())
    ).select("paper", "paper_id", "footer", "author_count", "author_count_right"))
    problem("authors of no paper", authors.join(built, on="paper_id", how="anti"))

    dates = pl.read_parquet(tables / "dates.parquet")
    sources_of_year = ["explicit", "capture_date", "inferred"]
    got_dates = expected.join(dates, on="paper_id", how="left").with_columns(
        pl.col("date_rank").replace_strict(
            dict(enumerate(sources_of_year)), default=None, return_dtype=pl.String
        ).alias("expected_year_source")
    )
    inferred = pl.col("expected_year_source") == "inferred"
    same_day = (
        (pl.col("published_date").dt.month() == pl.col("published_date_right").dt.month())
        & (pl.col("published_date").dt.day() == pl.col("published_date_right").dt.day())
    )
    wrong = (
        pl.col("footer") != pl.col("published_date_right").is_not_null()
    ) | pl.col("footer") & (
        pl.col("year_source").ne_missing(pl.col("expected_year_source"))
        | pl.col("date_text_right").ne_missing(pl.col("date_text"))
        | pl.when(inferred).then(~same_day)
        .otherwise(pl.col("published_date").ne_missing(pl.col("published_date_right")))
    )
    problem("dates", got_dates.filter(wrong).select(
        "paper", "paper_id", "published_date", "published_date_right", "date_text",
        "date_text_right", "expected_year_source", "year_source"))
    problem("dates of no paper", dates.join(built, on="paper_id", how="anti"))
    inferred_dates = got_dates.filter(pl.col("footer") & inferred)
    years_off = inferred_dates.filter(
        pl.col("published_date") != pl.col("published_date_right")
    ).height

    links = pl.read_parquet(tables / "links.parquet")
    want_links = expected.filter(pl.col("url").is_not_null()).select(
        "paper_id", "url", "host", "kind", "repo"
    )
    columns = want_links.columns
    problem("link lost", want_links.join(links, on=columns, how="anti", nulls_equal=True))
    problem("link invented", links.select(columns).join(
        want_links, on=columns, how="anti", nulls_equal=True))

    rejects = pl.read_parquet(tables / "rejects.parquet")
    problem("rejects", rejects.select("source_file", "line_start", "reason"))

    return {
        "records": records.height,
        "papers": truth.height,
        "problems": problems,
        "capture_dates_inferred": unlisted.height,
        "capture_years_off": capture_years_off,
        "dates_of_inferred_year": inferred_dates.height,
        "date_years_off": years_off,
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
