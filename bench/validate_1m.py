"""Time `validate_tables` on 1 million synthetic papers plus matching child tables.

The performance target of the data-quality gate is < 60 s for 1M papers on the 2-core
build machine. The tables are generated with numpy/pyarrow (vectorized, ~10 s), written
to a temporary directory that is removed afterwards, and validated twice: once as the
build does (no report) and once as `papers-etl validate` does (JSON results + Data Docs).

    .venv/bin/python bench/validate_1m.py [--papers N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["GX_ANALYTICS_ENABLED"] = "false"

from etl import config, schemas

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WORDS = (
    "learning",
    "model",
    "language",
    "graph",
    "neural",
    "diffusion",
    "agent",
    "reasoning",
    "vision",
    "robust",
    "sparse",
    "efficient",
    "transformer",
    "policy",
    "reward",
    "data",
)


def _abstract_pool(rng: np.random.Generator, size: int = 2000) -> np.ndarray:
    """Distinct abstract texts of realistic length (400..2400 chars) to draw from."""
    pool = []
    for _ in range(size):
        words = rng.choice(WORDS, size=int(rng.integers(60, 340)))
        pool.append(("We study " + " ".join(words) + ".").capitalize())
    return np.array(pool, dtype=object)


def generate(out: Path, n_papers: int, seed: int = 7) -> dict[str, int]:
    """Write six contract-conforming tables for n_papers papers; return their row counts."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    ids = pa.array([f"{x:016x}" for x in (np.arange(n_papers) * 2654435761 + 97).tolist()])
    idx = np.arange(n_papers)

    has_second = rng.random(n_papers) < 0.15
    source_count = 1 + has_second.astype(np.int32)
    titles = pc.binary_join_element_wise(
        pa.array(rng.choice(WORDS, n_papers)).cast(pa.string()),
        pa.array(idx.astype(str)),
        pa.array(rng.choice(WORDS, n_papers)).cast(pa.string()),
        " ",
    )
    abstracts = pa.array(_abstract_pool(rng)[rng.integers(0, 2000, n_papers)], pa.string())
    abstracts = pc.if_else(
        pa.array(rng.random(n_papers) < 0.05), pa.nulls(n_papers, pa.string()), abstracts
    )
    upvotes = pa.array(rng.integers(0, 500, n_papers), pa.int32(), mask=rng.random(n_papers) < 0.7)
    papers = pa.table(
        [ids, titles, abstracts, upvotes, pa.array(source_count, pa.int32())],
        schema=schemas.PAPERS.schema,
    )

    with_authors = rng.random(n_papers) < 0.9
    authors = pa.table(
        [
            ids.filter(with_authors),
            pa.array(rng.integers(1, 40, int(with_authors.sum())), pa.int32()),
        ],
        schema=schemas.AUTHORS.schema,
    )

    # Dates: all within 2020..2025-11-10 (before every capture date below); a third yearless,
    # and a yearless date is in its capture's year (2025, see the sources below).
    with_date = rng.random(n_papers) < 0.9
    n_dates = int(with_date.sum())
    explicit = rng.random(n_dates) < 0.67
    first_day = np.where(explicit, 0, (dt.date(2025, 1, 1) - dt.date(2020, 1, 1)).days)
    days = rng.integers(first_day, (dt.date(2025, 11, 10) - dt.date(2020, 1, 1)).days)
    published = np.datetime64("2020-01-01") + days.astype("timedelta64[D]")
    dates_arr = pa.array(published, pa.date32())
    month = np.array(MONTHS, dtype=object)[pc.month(dates_arr).to_numpy() - 1]
    day = pc.day(dates_arr).to_numpy().astype(str)
    year = pc.year(dates_arr).to_numpy().astype(str)
    text = np.where(explicit, month + " " + day + ", " + year, month + " " + day)
    # `capture_date` needs a known capture: the first dump's (every third is unknown, below).
    capture_known = (idx[with_date] % 50) % 3 != 0
    year_source = np.where(
        explicit,
        "explicit",
        np.where(capture_known & (rng.random(n_dates) < 0.5), "capture_date", "inferred"),
    )
    dates = pa.table(
        [
            ids.filter(with_date),
            dates_arr,
            pa.array(text, pa.string()),
            pa.array(year_source, pa.string()),
        ],
        schema=schemas.DATES.schema,
    )

    # Links: ~half the papers, github (with repo) or arxiv.
    with_link = rng.random(n_papers) < 0.5
    link_ids = ids.filter(with_link)
    n_links = len(link_ids)
    is_code = rng.random(n_links) < 0.6
    owner_repo = np.char.add(np.char.add("owner", (np.arange(n_links) % 997).astype(str)), "/repo")
    owner_repo = np.char.add(owner_repo, np.arange(n_links).astype(str))
    urls = np.where(
        is_code,
        np.char.add("https://github.com/", owner_repo),
        np.char.add("https://arxiv.org/abs/2401.", np.arange(n_links).astype(str)),
    )
    links = pa.table(
        [
            link_ids,
            pa.array(urls, pa.string()),
            pa.array(np.where(is_code, "github.com", "arxiv.org"), pa.string()),
            pa.array(np.where(is_code, "code", "arxiv"), pa.string()),
            pa.array(owner_repo.astype(object), pa.string(), mask=~is_code),
        ],
        schema=schemas.LINKS.schema,
    )

    # Sources: each paper's first record in one of 50 dumps, 15 % also in a second one.
    n_files = 50
    first_file = idx % n_files
    first_line = (idx // n_files) * 6 + 1
    second = idx[has_second]
    files = np.concatenate([first_file, (second % n_files) + n_files])
    lines = np.concatenate([first_line, (second // n_files) * 6 + 1])
    paper_rows = np.concatenate([idx, second])
    file_names = np.array(
        [f"{i:03d}_{i * 7919:016x}.txt" for i in range(2 * n_files)], dtype=object
    )
    shas = np.array([f"{i * 104729:064x}" for i in range(2 * n_files)], dtype=object)
    captured = np.where(files % 3 == 0, np.datetime64("NaT"), np.datetime64("2025-11-11"))
    sources = pa.table(
        [
            ids.take(pa.array(paper_rows)),
            pa.array(file_names[files], pa.string()),
            pa.array(shas[files], pa.string()),
            pa.array(lines, pa.int32()),
            pa.array(lines + 4, pa.int32()),
            pa.array(np.where(files % 2 == 0, "search_page", "compact"), pa.string()),
            pa.array(captured.astype("datetime64[D]"), pa.date32()),
        ],
        schema=schemas.SOURCES.schema,
    )

    n_rejects = max(1, n_papers // 100)
    reject_lines = (np.arange(n_rejects) // n_files) * 6 + 6
    rejects = pa.table(
        [
            pa.array(file_names[np.arange(n_rejects) % n_files], pa.string()),
            pa.array(reject_lines, pa.int32()),
            pa.array(reject_lines, pa.int32()),
            pa.array(rng.choice(sorted(schemas.REJECT_REASONS), n_rejects), pa.string()),
            pa.array(rng.choice(["· Apr 5", "stray line", "42 authors"], n_rejects), pa.string()),
        ],
        schema=schemas.REJECTS.schema,
    )

    tables = {
        "papers": papers,
        "authors": authors,
        "dates": dates,
        "links": links,
        "sources": sources,
        "rejects": rejects,
    }
    for name, table in tables.items():
        pq.write_table(
            table,
            out / f"{name}.parquet",
            compression=config.PARQUET_COMPRESSION,
            row_group_size=config.PARQUET_ROW_GROUP_SIZE,
        )
    return {name: t.num_rows for name, t in tables.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="Write the tables here and keep them.")
    args = parser.parse_args()

    from etl.cli import without_huge_pages
    from etl.validate import validate_tables

    without_huge_pages()  # as `papers-etl` runs

    tmp = Path(tempfile.mkdtemp(prefix="validate-1m-"))
    data = args.keep or tmp / "data"
    try:
        started = time.perf_counter()
        counts = generate(data, args.papers)
        print(f"generated {counts} in {time.perf_counter() - started:.1f} s")

        import great_expectations  # noqa: F401  (import time is not part of the figure)

        started = time.perf_counter()
        report = validate_tables(data)
        no_report = time.perf_counter() - started
        print(
            f"validate_tables(data) [as the build calls it]: {no_report:.1f} s, "
            f"success={report.success} {report.failures or ''}"
        )

        started = time.perf_counter()
        report = validate_tables(data, tmp / "report")
        with_report = time.perf_counter() - started
        print(
            f"validate_tables(data, report_dir) [JSON + Data Docs, as the CLI]: "
            f"{with_report:.1f} s, success={report.success}"
        )
        return 0 if report.success and max(no_report, with_report) < 60 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
