"""A build of a generated pile, graded field by field against the generator's answer key.

The golden test pins the seeds; this pins the rules on a pile with every copy artefact the
generator makes (variants, revised titles, namesakes, truncations, NFD, CRLF, two pasted
pages in a dump, dumps without a capture date), and the checker itself is shown to catch
each kind of wrong table.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from etl import build
from tests.conftest import load_bench

TABLES = ("papers", "authors", "dates", "links", "sources", "rejects")

generate = load_bench("generate")
check_truth = load_bench("check_truth")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(pile, its extra dump's folder, the pile's tables)."""
    base = tmp_path_factory.mktemp("truth")
    generate.generate(base / "pile", 3_000_000, seed=5, extra=base / "extra")
    build(base / "pile", base / "out", validate=False)
    return base / "pile", base / "extra", base / "out"


def test_a_build_matches_the_answer_key(built: tuple[Path, Path, Path]) -> None:
    pile, _, out = built
    report = check_truth.check(out, [pile])
    assert report["problems"] == {}
    assert report["records"] == pl.read_parquet(out / "sources.parquet").height
    assert report["papers"] == pl.read_parquet(out / "papers.parquet").height
    assert report["dates_of_inferred_year"] > 0  # the pile has dumps the manifest lacks


def test_an_incremental_build_matches_the_answer_key(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    pile, extra, _ = built
    raw = tmp_path / "raw"
    shutil.copytree(pile, raw)
    cache = tmp_path / "cache"
    build(raw, tmp_path / "out", validate=False, cache_dir=cache)
    for dump in extra.glob("*.txt"):
        shutil.copy2(dump, raw / dump.name)
    rows = (extra / "manifest.csv").read_text().splitlines()[1:]
    with (raw / "manifest.csv").open("a") as manifest:
        manifest.write("".join(f"{row}\n" for row in rows))
    outcome = build(raw, tmp_path / "out", validate=False, cache_dir=cache)
    assert outcome.summary.files_from_cache == outcome.summary.files - 1
    assert check_truth.check(tmp_path / "out", [pile, extra])["problems"] == {}


def _copy_tables(out: Path, target: Path) -> None:
    for name in TABLES:
        shutil.copy2(out / f"{name}.parquet", target / f"{name}.parquet")


def _first_where(condition: pl.Expr) -> pl.Expr:
    """True on the first row where `condition` holds."""
    return pl.int_range(pl.len()) == condition.arg_true().first()


def _second_record_of_a_paper(sources: pl.DataFrame) -> pl.Expr:
    paper = sources.filter(pl.col("paper_id").is_duplicated())["paper_id"][0]
    return _first_where((pl.col("paper_id") == paper) & ~pl.col("paper_id").is_first_distinct())


def _first_of(kind: str) -> Callable[[pl.DataFrame], pl.Expr]:
    return lambda links: _first_where(pl.col("kind") == kind)


# One defect per row: the table, what is done to it, the problem the checker must report.
_DEFECTS: list[tuple[str, Callable[[pl.DataFrame], pl.DataFrame], str]] = [
    ("sources", lambda t: t.slice(1), "record lost"),
    ("sources", lambda t: pl.concat([t, t.head(1)]), "record listed twice"),
    ("sources", lambda t: t.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("line_end") + 2)
        .otherwise(pl.col("line_end")).alias("line_end")), "record lines"),
    ("sources", lambda t: t.with_columns(
        pl.when(_first_where(pl.col("captured_on").is_not_null()))
        .then(pl.col("captured_on") + pl.duration(days=1))
        .otherwise(pl.col("captured_on")).alias("captured_on")), "record capture date"),
    # The second record joins the first record's paper.
    ("sources", lambda t: t.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(pl.col("paper_id").first())
        .otherwise(pl.col("paper_id")).alias("paper_id")), "papers merged"),
    ("papers", lambda t: t.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("title").str.to_uppercase())
        .otherwise(pl.col("title")).alias("title")), "paper title"),
    ("papers", lambda t: t.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("abstract").str.slice(0, 300))
        .otherwise(pl.col("abstract")).alias("abstract")), "paper abstract_sha256"),
    ("papers", lambda t: t.with_columns(
        pl.when(_first_where(pl.col("upvotes").is_not_null()))
        .then(pl.col("upvotes") + 1).otherwise(pl.col("upvotes")).alias("upvotes")),
     "paper upvotes"),
    ("papers", lambda t: pl.concat([t, t.head(1).with_columns(pl.lit("0" * 16).alias(
        "paper_id"))]), "paper invented"),
    ("authors", lambda t: t.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("author_count") + 1)
        .otherwise(pl.col("author_count")).alias("author_count")), "authors"),
    ("authors", lambda t: t.slice(1), "authors"),
    ("dates", lambda t: t.with_columns(
        pl.when(pl.col("year_source") == "explicit")
        .then(pl.col("published_date") + pl.duration(days=1))
        .otherwise(pl.col("published_date")).alias("published_date")), "dates"),
    ("dates", lambda t: t.with_columns(
        pl.when(pl.col("year_source") == "capture_date").then(pl.lit("explicit"))
        .otherwise(pl.col("year_source")).alias("year_source")), "dates"),
    ("links", lambda t: t.filter(~_first_of("arxiv")(t)), "link lost"),
    ("links", lambda t: t.with_columns(
        pl.when(_first_of("code")(t)).then(pl.col("url") + ").")
        .otherwise(pl.col("url")).alias("url")), "link invented"),
    ("links", lambda t: t.with_columns(
        pl.when(_first_of("code")(t)).then(pl.lit(None, pl.String))
        .otherwise(pl.col("repo")).alias("repo")), "link lost"),
    ("dates", lambda t: t.with_columns(
        pl.when(pl.col("year_source") == "inferred")
        .then(pl.col("published_date").dt.offset_by("-1y"))
        .otherwise(pl.col("published_date")).alias("published_date")), "dates"),
    ("sources", lambda t: t.with_columns(
        pl.when(_first_where(pl.col("dump_format") == "compact")).then(pl.lit("search_page"))
        .otherwise(pl.col("dump_format")).alias("dump_format")), "record dump"),
    ("sources", lambda t: t.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("0" * 64))
        .otherwise(pl.col("source_sha256")).alias("source_sha256")), "record dump"),
    # A merged paper's second record made a paper of its own.
    ("sources", lambda t: t.with_columns(
        pl.when(_second_record_of_a_paper(t)).then(pl.lit("f" * 16))
        .otherwise(pl.col("paper_id")).alias("paper_id")), "paper split"),
    ("papers", lambda t: t.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("source_count") + 1)
        .otherwise(pl.col("source_count")).alias("source_count")), "paper source_count"),
    ("papers", lambda t: pl.concat([t, t.head(1)]), "papers row twice"),
    ("authors", lambda t: pl.concat([t, t.head(1).with_columns(
        pl.lit("0" * 16).alias("paper_id"))]), "authors of no paper"),
    ("dates", lambda t: pl.concat([t, t.head(1)]), "dates row twice"),
    ("rejects", lambda t: pl.concat([t, pl.DataFrame(
        {"source_file": ["bench_000001.txt"], "line_start": [1], "line_end": [1],
         "reason": ["unrecognized_format"], "text": ["x"]}, schema=t.schema)]),
     "reject unexpected"),
]


@pytest.mark.parametrize(
    ("table", "defect", "problem"),
    _DEFECTS,
    ids=[f"{table}-{i}-{problem}" for i, (table, _, problem) in enumerate(_DEFECTS)],
)
def test_the_checker_reports_each_defect(
    built: tuple[Path, Path, Path],
    tmp_path: Path,
    table: str,
    defect: Callable[[pl.DataFrame], pl.DataFrame],
    problem: str,
) -> None:
    pile, _, out = built
    _copy_tables(out, tmp_path)
    original = pl.read_parquet(out / f"{table}.parquet")
    broken = defect(original)
    assert not broken.equals(original)
    broken.write_parquet(tmp_path / f"{table}.parquet")
    assert problem in check_truth.check(tmp_path, [pile])["problems"]


def test_a_record_the_pile_lacks_is_reported(built: tuple[Path, Path, Path], tmp_path: Path) -> None:
    pile, _, out = built
    _copy_tables(out, tmp_path)
    sources = pl.read_parquet(out / "sources.parquet")
    extra = sources.head(1).with_columns(pl.lit(999_999, pl.Int32).alias("line_start"))
    pl.concat([sources, extra]).write_parquet(tmp_path / "sources.parquet")
    assert "record invented" in check_truth.check(tmp_path, [pile])["problems"]


def test_an_inferred_capture_year_off_by_one_is_reported(
    built: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A dump the manifest does not list: its capture year is the year after its footers'."""
    pile, _, out = built
    _copy_tables(out, tmp_path)
    manifest = pl.read_csv(pile / "manifest.csv", schema_overrides={"captured_on": pl.String})
    listed = manifest.filter(pl.col("captured_on").is_not_null())["file"]
    sources = pl.read_parquet(out / "sources.parquet")
    unlisted = pl.col("captured_on").is_not_null() & ~pl.col("source_file").is_in(listed)
    assert sources.filter(unlisted).height > 0
    sources.with_columns(
        pl.when(unlisted)
        .then(pl.col("captured_on").dt.offset_by("1y"))
        .otherwise(pl.col("captured_on"))
        .alias("captured_on")
    ).write_parquet(tmp_path / "sources.parquet")
    assert "record capture date" in check_truth.check(tmp_path, [pile])["problems"]
