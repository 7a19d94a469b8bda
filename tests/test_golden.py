"""Golden test: the two real seed dumps give exactly the expected tables.

The expected figures are computed here from the raw text by independent, deliberately
simple means (counting footer lines, folding titles, grepping URLs), not by the pipeline.
"""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa

from etl.schemas import TABLES_BY_NAME
from tests.conftest import COMPACT_SEED, SEARCH_SEED

SEARCH = SEARCH_SEED.read_text(encoding="utf-8").split("\n")
COMPACT = COMPACT_SEED.read_text(encoding="utf-8").split("\n")


def fold(title: str) -> str:
    return re.sub(r"[\W_]+", "", title.casefold())


def search_titles() -> list[str]:
    """A title is the non-blank line two lines above an abstract (lines > 300 chars)."""
    return [SEARCH[i - 2] for i, line in enumerate(SEARCH) if len(line) > 300]


def compact_titles() -> list[str]:
    body = COMPACT[2:]
    body[0] = body[0].removeprefix("Subscribe")
    return [body[i] for i in range(0, len(body) - 1, 2)]


def column(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()


def test_seed_counts(seed_build):
    tables = seed_build.tables
    assert len(search_titles()) == 45 and len(compact_titles()) == 119
    shared = {fold(t) for t in search_titles()} & {fold(t) for t in compact_titles()}
    assert len(shared) == 5
    assert tables["papers"].num_rows == 45 + 119 - 5 == 159
    assert tables["sources"].num_rows == 164
    assert seed_build.summary.duplicates_merged == 5
    assert tables["rejects"].num_rows == 0


def test_seed_merges_are_the_shared_titles(seed_build):
    papers = seed_build.tables["papers"]
    merged = {
        fold(t)
        for t, n in zip(column(papers, "title"), column(papers, "source_count"), strict=True)
        if n == 2
    }
    assert merged == {fold(t) for t in search_titles()} & {fold(t) for t in compact_titles()}


def test_seed_author_counts_match_the_footer_lines(seed_build):
    footers = [int(m[1]) for line in SEARCH if (m := re.fullmatch(r"  • (\d+) authors", line))]
    assert len(footers) == 44
    authors = seed_build.tables["authors"]
    assert authors.num_rows == 44
    assert sorted(column(authors, "author_count")) == sorted(footers)


def test_seed_dates(seed_build):
    dates = seed_build.tables["dates"]
    assert dates.num_rows == 44
    papers = seed_build.tables["papers"]
    title_of = dict(zip(column(papers, "paper_id"), column(papers, "title"), strict=True))
    by_title = {
        title_of[pid]: (d, text, source)
        for pid, d, text, source in zip(
            *(column(dates, c) for c in ("paper_id", "published_date", "date_text", "year_source")),
            strict=True,
        )
    }
    assert by_title["Metadata Conditioning Accelerates Language Model Pre-training"] == (
        dt.date(2025, 1, 3),
        "Jan 3",
        "capture_date",
    )
    assert by_title[
        "Discovering General Reinforcement Learning Algorithms with Adversarial Environment Design"
    ] == (dt.date(2023, 10, 4), "Oct 4, 2023", "explicit")
    body = SEARCH[11:]  # after the header and its page date `Nov 11`
    shown = [
        m["date"]
        for line in body
        if (m := re.fullmatch(r"(?P<date>[A-Z][a-z]{2} \d{1,2}(?:, \d{4})?)(?: \d+)?", line))
    ]
    assert sorted(column(dates, "date_text")) == sorted(shown)
    assert "Skill-Targeted Adaptive Training" not in by_title


def test_seed_upvotes(seed_build):
    papers = seed_build.tables["papers"]
    upvotes = {
        t: u
        for t, u in zip(column(papers, "title"), column(papers, "upvotes"), strict=True)
        if u is not None
    }
    assert upvotes == {
        "Learning to Generate Instruction Tuning Datasets for Zero-Shot Task Adaptation": 2,
        "Meta Prompting for AGI Systems": 1,
        "MetaSynth: Meta-Prompting-Driven Agentic Scaffolds for Diverse Synthetic Data Generation": 2,
        "Can LLMs Learn by Teaching? A Preliminary Study": 2,
    }


def test_seed_links(seed_build):
    links = seed_build.tables["links"]
    written = {
        re.sub(r"[.,;]+$|\)\.?$", "", u)
        for line in SEARCH + COMPACT
        for u in re.findall(r"https?://\S+", line)
    }
    assert links.num_rows == 36
    assert set(column(links, "url")) == written
    kinds = dict(zip(column(links, "url"), column(links, "kind"), strict=True))
    assert kinds["https://youtu.be/gCuUyGETbTU"] == "video"
    assert kinds["https://aka.ms/icl"] == "project"
    repos = dict(zip(column(links, "url"), column(links, "repo"), strict=True))
    assert (
        repos["https://github.com/meta-prompting/meta-prompting"] == "meta-prompting/meta-prompting"
    )


def test_seed_first_record_had_subscribe_glued(seed_build):
    assert (
        "Bottom-Up Skill Discovery from Unsegmented Demonstrations for Long-Horizon Robot "
        "Manipulation" in column(seed_build.tables["papers"], "title")
    )
    assert not any(t.startswith("Subscribe") for t in column(seed_build.tables["papers"], "title"))


def test_seed_tables_match_their_schemas(seed_build):
    for name, table in seed_build.tables.items():
        assert table.schema == TABLES_BY_NAME[name].schema, name


def test_seed_provenance_points_at_the_title_lines(seed_build):
    sources = seed_build.tables["sources"]
    papers = seed_build.tables["papers"]
    title_of = dict(zip(column(papers, "paper_id"), column(papers, "title"), strict=True))
    lines = {SEARCH_SEED.name: SEARCH, COMPACT_SEED.name: COMPACT}
    for pid, name, start in zip(
        *(column(sources, c) for c in ("paper_id", "source_file", "line_start")), strict=True
    ):
        line = lines[name][start - 1].removeprefix("Subscribe")
        assert fold(line) == fold(title_of[pid])
