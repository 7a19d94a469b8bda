"""The data-quality gate: every rule in expectations/ is proven by a mutation that breaks it.

The base is one fresh build of data/raw per session. Each mutation copies its tables, breaks
exactly one thing and asserts the exact set of failing `suite.rule` names, so a rule that
stops firing, or one that fires on something it should not, both fail here.
"""

from __future__ import annotations

import copy
import datetime as dt
import gc
import json
import os
import re
import subprocess
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl import config, schemas
from etl.parse import BOILERPLATE_PATTERNS
from etl.validate import (
    PYTHON_WHITESPACE,
    REPORT_DIR_ENV,
    ROW_KEY_LIMIT,
    SuiteDefinitionError,
    ValidationReport,
    load_suite_documents,
    print_report,
    spell_out_whitespace,
    url_hosts,
    validate_tables,
)

ROOT = Path(__file__).resolve().parent.parent
ORPHAN = "f" * 16
TODAY = dt.date(2026, 1, 1)
"""The day the mutations are validated on: after every date of the seeds and of the mutations
that break other rules, and fixed, so that no mutation depends on the calendar."""

Rows = dict[str, list[dict[str, Any]]]
Mutation = Callable[[Rows], None]


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture(scope="session")
def fresh_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One unvalidated build of the shipped seeds: the base every mutation starts from."""
    from etl import build

    out = tmp_path_factory.mktemp("validate-build") / "processed"
    outcome = build(ROOT / "data" / "raw", out, validate=False)
    assert outcome.exit_code == 0, outcome.message
    return out


@pytest.fixture(scope="session")
def base_rows(fresh_build: Path) -> Rows:
    return {t.name: pq.read_table(fresh_build / t.file_name).to_pylist() for t in schemas.TABLES}


def write_tables(rows: Rows, out: Path) -> Path:
    """Write rows with the contract's types (nullable, so that a null key can be written)."""
    out.mkdir(parents=True, exist_ok=True)
    for spec in schemas.TABLES:
        schema = pa.schema([f.with_nullable(True) for f in spec.schema])
        pq.write_table(pa.Table.from_pylist(rows[spec.name], schema=schema), out / spec.file_name)
    return out


def mutated(base: Rows, mutation: Mutation, out: Path) -> Path:
    rows = copy.deepcopy(base)
    mutation(rows)
    return write_tables(rows, out)


def validate_mutation(base: Rows, mutation: Mutation, out: Path) -> ValidationReport:
    """Validate the mutated tables with every suite whose batch reads a changed table.

    The other suites see the very tables of the fresh build, which pass them all
    (test_fresh_build_passes), so skipping them keeps the file fast without weakening
    the "only this rule fails" assertions.
    """
    rows = copy.deepcopy(base)
    mutation(rows)
    changed = {name for name in rows if rows[name] != base[name]}
    affected = {s.name for s in load_suite_documents() if changed & set(s.tables)}
    return validate_tables(write_tables(rows, out), suites=affected, today=TODAY)


def first(rows: Rows, table: str, where: Callable[[dict[str, Any]], bool] = bool) -> dict:
    return next(r for r in rows[table] if where(r))


def latest_capture(rows: Rows) -> dict[str, dt.date]:
    latest: dict[str, dt.date] = {}
    for s in rows["sources"]:
        if s["captured_on"] is not None:
            latest[s["paper_id"]] = max(
                s["captured_on"], latest.get(s["paper_id"], s["captured_on"])
            )
    return latest


def shown(day: dt.date, with_year: bool) -> str:
    return f"{day:%b} {day.day}, {day.year}" if with_year else f"{day:%b} {day.day}"


# --- mutations: each breaks one thing ----------------------------------------------------


def set_field(
    table: str, column: str, value: Any, where: Callable[[dict], bool] = bool
) -> Mutation:
    def mutate(rows: Rows) -> None:
        first(rows, table, where)[column] = value

    return mutate


def set_fields(table: str, where: Callable[[dict], bool] = bool, **values: Any) -> Mutation:
    def mutate(rows: Rows) -> None:
        first(rows, table, where).update(values)

    return mutate


def edit_url(edit: Callable[[str], str]) -> Mutation:
    """Edit the URL of a video link: its host, kind and (no) repository stay what it says."""

    def mutate(rows: Rows) -> None:
        link = first(rows, "links", is_video)
        link["url"] = edit(link["url"])

    return mutate


def append_copy(table: str, **changes: Any) -> Mutation:
    def mutate(rows: Rows) -> None:
        rows[table].append({**rows[table][0], **changes})

    return mutate


def append_orphan(table: str) -> Mutation:
    extra = {"line_start": 99_999, "line_end": 99_999} if table == "sources" else {}
    return append_copy(table, paper_id=ORPHAN, **extra)


def add_reject(**changes: Any) -> Mutation:
    def mutate(rows: Rows) -> None:
        row = {
            "source_file": "009_x.txt",
            "line_start": 7,
            "line_end": 7,
            "reason": "footer_without_title",
            "text": "· Apr 5",
        }
        rows["rejects"].append({**row, **changes})

    return mutate


def date_after_capture(rows: Rows) -> None:
    latest = latest_capture(rows)
    row = first(rows, "dates", lambda d: d["paper_id"] in latest)
    day = latest[row["paper_id"]] + dt.timedelta(days=20)
    row.update(published_date=day, date_text=shown(day, False), year_source="capture_date")


def date_before_1990(rows: Rows) -> None:
    day = dt.date(1989, 6, 1)
    rows["dates"][0].update(published_date=day, date_text=shown(day, True), year_source="explicit")


def explicit_text_off_by_one_day(rows: Rows) -> None:
    row = first(rows, "dates", lambda d: d["year_source"] == "explicit")
    row["date_text"] = shown(row["published_date"] + dt.timedelta(days=1), True)


def yearless_text_with_year(rows: Rows) -> None:
    row = first(rows, "dates", lambda d: d["year_source"] != "explicit")
    row["date_text"] = shown(row["published_date"], True)


def paper_without_source(rows: Rows) -> None:
    paper_id = rows["papers"][0]["paper_id"]
    rows["sources"] = [s for s in rows["sources"] if s["paper_id"] != paper_id]


def bad_paper_id(rows: Rows) -> None:
    rows["papers"].append({**rows["papers"][0], "paper_id": "NOT-A-HEX-ID", "source_count": 1})
    rows["sources"].append(
        {**rows["sources"][0], "paper_id": "NOT-A-HEX-ID", "line_start": 99_999, "line_end": 99_999}
    )


def duplicate_source_key(rows: Rows) -> None:
    a, b = sorted(
        (s for s in rows["sources"] if s["source_file"] == rows["sources"][0]["source_file"]),
        key=lambda s: s["line_start"],
    )[:2]
    b["line_start"] = a["line_start"]


def captured_on(day: dt.date) -> Mutation:
    """An unknown capture date set to `day`, on a paper without a date (which it would bound)."""

    def mutate(rows: Rows) -> None:
        dated = {d["paper_id"] for d in rows["dates"]}
        row = first(
            rows, "sources", lambda s: s["captured_on"] is None and s["paper_id"] not in dated
        )
        row["captured_on"] = day

    return mutate


def published_on(day: dt.date) -> Mutation:
    """An explicit date moved to `day`, on a paper whose captures are unknown (so that no
    capture date bounds it)."""

    def mutate(rows: Rows) -> None:
        row = first(rows, "dates", lambda d: d["year_source"] == "explicit")
        row.update(published_date=day, date_text=shown(day, True))
        for source in rows["sources"]:
            if source["paper_id"] == row["paper_id"]:
                source["captured_on"] = None

    return mutate


def year_before_capture(year_source: str) -> Mutation:
    """A yearless date (month and day as shown) given the year before its capture's."""

    def mutate(rows: Rows) -> None:
        row = first(rows, "dates", lambda d: d["year_source"] == "capture_date")
        day = row["published_date"]
        row.update(published_date=day.replace(year=day.year - 1), year_source=year_source)

    return mutate


def captures_forgotten(rows: Rows) -> None:
    """The captures of a paper dated by `capture_date` made unknown."""
    paper_id = first(rows, "dates", lambda d: d["year_source"] == "capture_date")["paper_id"]
    for source in rows["sources"]:
        if source["paper_id"] == paper_id:
            source["captured_on"] = None


def inferred_year_with_unknown_capture(rows: Rows) -> None:
    captures_forgotten(rows)
    year_before_capture("inferred")(rows)


def empty_tables(rows: Rows) -> None:
    for table in rows.values():
        table.clear()


def is_code(link: dict[str, Any]) -> bool:
    return link["kind"] == "code" and link["repo"] is not None


def not_code(link: dict[str, Any]) -> bool:
    return link["kind"] != "code"


def is_video(link: dict[str, Any]) -> bool:
    return link["kind"] == "video"


def is_project(link: dict[str, Any]) -> bool:
    return link["kind"] == "project"


def code_link(url: str, repo: str | None, host: str = "github.com") -> Mutation:
    """The first code link pointed at another URL, with the host and repo given."""
    return set_fields("links", is_code, url=url, host=host, repo=repo)


def yearless(date: dict[str, Any]) -> bool:
    return date["year_source"] != "explicit"


def case(case_id: str, mutation: Mutation, *failing: str) -> Any:
    return pytest.param(mutation, set(failing), id=case_id)


BOILERPLATE_TITLES = (
    "Subscribe",
    "SubscribeBottom-Up Skill Discovery from Demonstrations",  # compact dumps glue it on
    "Get trending papers in your email inbox!",
    "• 4 authors",
    "Nov 11",
)
# The boilerplate lines that are long enough to pass for an abstract (abstract_length).
BOILERPLATE_ABSTRACTS = (
    "Get trending papers in your email inbox!",
    "byAK and the research community",
    "SubscribeBottom-Up Skill Discovery from Demonstrations",
    "• 12 authors · Feb 28, 2024",
)

# fmt: off
MUTATIONS: list[Any] = [
    # papers
    case("duplicate-paper", append_copy("papers"), "papers.paper_id_unique"),
    case("paper-id-not-hex", bad_paper_id, "papers.paper_id_shape"),
    # A paper without an id has no sources rows either.
    case("null-paper-id", append_copy("papers", paper_id=None),
         "papers.paper_id_not_null", "papers.has_source"),
    *(case(f"boilerplate-title-{i}", set_field("papers", "title", title),
           "papers.title_not_boilerplate") for i, title in enumerate(BOILERPLATE_TITLES)),
    # A lone footer dot is boilerplate and also no word at all: both fire.
    case("boilerplate-title-lone-dot", set_field("papers", "title", "·"),
         "papers.title_not_boilerplate", "papers.title_has_letter_or_digit"),
    case("null-title", set_field("papers", "title", None), "papers.title_not_null"),
    case("empty-title", set_field("papers", "title", ""), "papers.title_length"),
    case("long-title", set_field("papers", "title", "x" * 301), "papers.title_length"),
    case("untrimmed-title", set_field("papers", "title", " Padded"), "papers.title_trimmed"),
    case("unfolded-title", set_field("papers", "title", "Two  spaces"),
         "papers.title_spaces_folded"),
    # `\s` in a rule means Python's whitespace, Unicode spaces included (see
    # test_spelled_out_whitespace_matches_what_backslash_s_does).
    case("title-ends-with-no-break-space", set_field("papers", "title", "Padded\u00a0"),
         "papers.title_trimmed"),
    case("title-with-two-thin-spaces", set_field("papers", "title", "Two\u2009\u2009spaces"),
         "papers.title_spaces_folded"),
    case("title-with-vertical-tab", set_field("papers", "title", "Vertical\x0btab"),
         "papers.title_spaces_folded"),
    case("title-of-a-zero-width-space", set_field("papers", "title", "\u200b"),
         "papers.title_has_letter_or_digit"),
    case("title-of-punctuation", set_field("papers", "title", "— … ?!"),
         "papers.title_has_letter_or_digit"),
    case("short-abstract", set_field("papers", "abstract", "Too short."), "papers.abstract_length"),
    case("long-abstract", set_field("papers", "abstract", " ".join(["word"] * 2001)),
         "papers.abstract_length"),
    case("whitespace-only-abstract", set_field("papers", "abstract", " " * 50),
         "papers.abstract_trimmed"),
    case("abstract-with-leading-space",
         set_field("papers", "abstract", " We study leading spaces in abstracts."),
         "papers.abstract_trimmed"),
    case("abstract-ends-with-line-break",
         lambda rows: rows["papers"][0].update(abstract=rows["papers"][0]["abstract"] + "\n"),
         "papers.abstract_trimmed"),
    *(case(f"boilerplate-abstract-{i}", set_field("papers", "abstract", abstract),
           "papers.abstract_not_boilerplate") for i, abstract in enumerate(BOILERPLATE_ABSTRACTS)),
    case("negative-upvotes", set_field("papers", "upvotes", -1), "papers.upvotes_non_negative"),
    case("null-source-count", set_field("papers", "source_count", None),
         "papers.source_count_not_null"),
    case("zero-source-count", set_field("papers", "source_count", 0),
         "papers.source_count_matches_sources"),
    case("paper-without-source", paper_without_source, "papers.has_source"),
    # authors
    case("zero-authors", set_field("authors", "author_count", 0), "authors.author_count_range"),
    case("too-many-authors", set_field("authors", "author_count", 5001),
         "authors.author_count_range"),
    case("null-author-count", set_field("authors", "author_count", None),
         "authors.author_count_not_null"),
    case("duplicate-author-row", append_copy("authors"), "authors.paper_id_unique"),
    case("null-author-key", set_field("authors", "paper_id", None), "authors.paper_id_not_null"),
    # dates
    case("date-after-capture", date_after_capture, "dates.published_date_not_after_capture"),
    case("date-before-1990", date_before_1990, "dates.published_date_min"),
    case("date-tomorrow-capture-unknown", published_on(TODAY + dt.timedelta(days=1)),
         "dates.published_date_not_in_future"),
    case("capture-year-not-published-year", year_before_capture("capture_date"),
         "dates.published_year_matches_capture"),
    case("inferred-year-not-capture-year", year_before_capture("inferred"),
         "dates.published_year_matches_capture"),
    case("capture-date-year-without-capture", captures_forgotten,
         "dates.published_year_matches_capture"),
    case("unknown-year-source", set_field("dates", "year_source", "guessed", yearless),
         "dates.year_source_known"),
    case("null-year-source", set_field("dates", "year_source", None, yearless),
         "dates.year_source_not_null"),
    case("date-text-disagrees", explicit_text_off_by_one_day,
         "dates.date_text_matches_explicit_date"),
    case("year-shown-but-not-explicit", yearless_text_with_year,
         "dates.date_text_matches_yearless_date"),
    # Text off the page's shape is also off the date: both fire, the shape rule says why.
    case("date-text-shape", set_field("dates", "date_text", "2024-02-28", yearless),
         "dates.date_text_shape", "dates.date_text_matches_yearless_date"),
    case("null-date-text", set_field("dates", "date_text", None), "dates.date_text_not_null"),
    case("duplicate-date-row", append_copy("dates"), "dates.paper_id_unique"),
    case("null-date-key", set_field("dates", "paper_id", None), "dates.paper_id_not_null"),
    case("null-date", set_field("dates", "published_date", None), "dates.published_date_not_null"),
    # links
    case("url-ends-with-paren-dot", edit_url(lambda url: url + ")."),
         "links.url_no_trailing_punctuation"),
    case("url-unbalanced-paren", edit_url(lambda url: url + ")"), "links.url_no_unbalanced_paren"),
    case("url-with-space", edit_url(lambda url: url + " x"), "links.url_shape"),
    case("url-not-http", edit_url(lambda url: url.replace("https://", "ftp://")),
         "links.url_shape"),
    case("url-with-no-break-space", edit_url(lambda url: url + "\u00a0x"), "links.url_shape"),
    case("null-url", set_field("links", "url", None), "links.url_not_null"),
    case("duplicate-link", append_copy("links"), "links.key_unique"),
    case("null-link-key", set_field("links", "paper_id", None), "links.paper_id_not_null"),
    # A kind outside the set is not the host's kind either: both fire, kind_known says why.
    case("unknown-link-kind", set_field("links", "kind", "blog", not_code),
         "links.kind_known", "links.kind_matches_host"),
    case("video-link-called-arxiv", set_field("links", "kind", "arxiv", is_video),
         "links.kind_matches_host"),
    case("project-link-called-code", set_field("links", "kind", "code", is_project),
         "links.kind_matches_host"),
    case("null-kind", set_field("links", "kind", None, not_code), "links.kind_not_null"),
    # A repo that is no `owner/name` is not the one the URL names either.
    case("repo-not-owner-name", set_field("links", "repo", "just-a-name", is_code),
         "links.repo_shape", "links.repo_matches_url"),
    case("repo-on-non-code-link", set_field("links", "repo", "org/repo", not_code),
         "links.repo_only_for_code"),
    case("repo-not-the-urls", set_field("links", "repo", "someone/else", is_code),
         "links.repo_matches_url"),
    case("code-link-missing-repo", set_field("links", "repo", None, is_code),
         "links.repo_matches_url"),
    case("repo-keeps-dot-git", code_link("https://github.com/org/name.git", "org/name.git"),
         "links.repo_matches_url"),
    case("repo-of-an-owner-url", code_link("https://github.com/org", "org/org"),
         "links.repo_matches_url"),
    case("repo-on-a-gist", code_link("https://gist.github.com/org/0123abc", "org/0123abc",
                                     host="gist.github.com"),
         "links.repo_matches_url"),
    case("host-not-the-urls", set_field("links", "host", "gitlab.com", is_code),
         "links.host_matches_url"),
    case("null-host", set_field("links", "host", None), "links.host_not_null"),
    # An upper-case host is not the URL's (lower-cased) host either: both fire.
    case("host-upper-case", set_field("links", "host", "GitHub.com"),
         "links.host_lower_case", "links.host_matches_url"),
    case("host-with-ideographic-space", set_field("links", "host", "github\u3000com"),
         "links.host_lower_case", "links.host_matches_url"),
    # sources
    case("source-lines-reversed", set_field("sources", "line_end", 0),
         "sources.line_range_ordered"),
    case("source-line-zero", set_field("sources", "line_start", 0), "sources.line_start_positive"),
    case("null-source-key", set_field("sources", "line_start", None),
         "sources.line_start_not_null"),
    case("null-source-file", set_field("sources", "source_file", None),
         "sources.source_file_not_null"),
    case("null-source-line-end", set_field("sources", "line_end", None),
         "sources.line_end_not_null"),
    case("null-source-paper", append_copy("sources", paper_id=None, line_start=99_999,
                                          line_end=99_999),
         "sources.paper_id_not_null"),
    case("duplicate-source-key", duplicate_source_key, "sources.key_unique"),
    case("unknown-dump-format", set_field("sources", "dump_format", "html"),
         "sources.dump_format_known"),
    case("null-dump-format", set_field("sources", "dump_format", None),
         "sources.dump_format_not_null"),
    # A hash other than the rest of its file's: the shape rule says why.
    case("short-sha256", set_field("sources", "source_sha256", "abc123"),
         "sources.source_sha256_shape", "sources.source_sha256_one_per_file"),
    case("other-sha256-in-the-same-file", set_field("sources", "source_sha256", "0" * 64),
         "sources.source_sha256_one_per_file"),
    case("null-sha256", set_field("sources", "source_sha256", None),
         "sources.source_sha256_not_null"),
    case("capture-before-1990", captured_on(dt.date(1985, 1, 1)), "sources.captured_on_min"),
    case("capture-tomorrow", captured_on(TODAY + dt.timedelta(days=1)),
         "sources.captured_on_not_in_future"),
    # referential integrity
    *(case(f"orphan-{table}", append_orphan(table), f"{table}.paper_id_in_papers")
      for table in ("authors", "dates", "links", "sources")),
    # rejects (the seed build has none: each case adds a row)
    case("unknown-reason", add_reject(reason="bogus_reason"), "rejects.reason_known"),
    case("null-reason", add_reject(reason=None), "rejects.reason_not_null"),
    case("null-reject-file", add_reject(source_file=None), "rejects.source_file_not_null"),
    case("null-reject-start", add_reject(line_start=None), "rejects.line_start_not_null"),
    case("null-reject-end", add_reject(line_end=None), "rejects.line_end_not_null"),
    case("null-reject-text", add_reject(text=None), "rejects.text_not_null"),
    case("long-reject-text", add_reject(text="x" * 10_001), "rejects.text_length"),
    case("reject-lines-reversed", add_reject(line_end=3), "rejects.line_range_ordered"),
    case("reject-line-negative", add_reject(line_start=-1, line_end=1),
         "rejects.line_start_non_negative"),
    case("duplicate-reject", lambda rows: [add_reject()(rows), add_reject()(rows)],
         "rejects.key_unique"),
    # row counts
    case("empty-build", empty_tables, "papers.row_count", "sources.row_count"),
]

ALLOWED: list[Any] = [
    case("null-abstract", set_field("papers", "abstract", None)),
    case("null-upvotes", set_field("papers", "upvotes", None)),
    case("title-starting-with-subscribers",
         set_field("papers", "title", "Subscribers and Publishers: A Study")),
    case("title-in-another-script", set_field("papers", "title", "深度学习的泛化")),
    case("title-of-one-digit", set_field("papers", "title", "2")),
    case("long-abstract-quoting-the-page-header",
         set_field("papers", "abstract", "We study " + "long abstracts " * 20
                   + "and quote the page: Get trending papers in your email inbox!")),
    case("date-published-today", published_on(TODAY)),
    case("capture-today", captured_on(TODAY)),
    # An inferred capture date is unknown when the page showed no date: nothing to compare.
    case("inferred-year-with-unknown-capture", inferred_year_with_unknown_capture),
    case("url-with-balanced-parens",
         set_fields("links", is_project, url="https://en.wikipedia.org/wiki/Foo_(bar)",
                    host="en.wikipedia.org")),
    case("code-link-to-an-owner", code_link("https://github.com/org", None)),
    case("code-link-to-a-gist", code_link("https://gist.github.com/org/0123abc", None,
                                          host="gist.github.com")),
    case("repo-without-dot-git", code_link("https://github.com/org/name.git/", "org/name")),
    case("repo-on-www-github", code_link("https://www.github.com//org/name/tree/main?x=1#y",
                                         "org/name", host="www.github.com")),
    case("url-with-user-and-port",
         set_fields("links", is_project, url="https://me@Example.ORG:8080/x", host="example.org")),
    case("empty-file-reject", add_reject(reason="empty_file", line_start=0, line_end=0, text="")),
    case("author-count-at-maximum", set_field("authors", "author_count", 5000)),
]
# fmt: on


@pytest.mark.parametrize(("mutation", "expected"), MUTATIONS)
def test_each_rule_fires_alone(
    base_rows: Rows, tmp_path: Path, mutation: Mutation, expected: set[str]
) -> None:
    report = validate_mutation(base_rows, mutation, tmp_path / "data")
    assert not report.success
    assert report.failed_rules == expected, report.failures


@pytest.mark.parametrize(("mutation", "expected"), ALLOWED)
def test_plausible_edge_cases_pass(
    base_rows: Rows, tmp_path: Path, mutation: Mutation, expected: set[str]
) -> None:
    report = validate_mutation(base_rows, mutation, tmp_path / "data")
    assert report.failed_rules == expected, report.failures


def test_failures_name_the_offending_values(base_rows: Rows, tmp_path: Path) -> None:
    def orphan_and_future_date(rows: Rows) -> None:
        append_orphan("links")(rows)
        date_after_capture(rows)

    report = validate_mutation(base_rows, orphan_and_future_date, tmp_path / "data")
    failed = {f"{s.suite}.{o.rule}": o for s in report.suites for o in s.failed}
    assert failed["links.paper_id_in_papers"].samples == (repr(ORPHAN),)
    assert failed["links.paper_id_in_papers"].unexpected_count == 1
    (pair,) = failed["dates.published_date_not_after_capture"].samples
    assert "2025, 11, 11" in pair and "2025, 12, 1" in pair


def test_failing_integers_are_shown_as_integers(base_rows: Rows, tmp_path: Path) -> None:
    """pandas holds an integer column with a null as floats: -1 was shown as `-1.0`."""
    assert any(paper["upvotes"] is None for paper in base_rows["papers"])
    report = validate_mutation(base_rows, set_field("papers", "upvotes", -1), tmp_path / "data")
    assert failed_outcome(report, "papers.upvotes_non_negative").samples == ("-1",)


def failed_outcome(report: ValidationReport, rule: str) -> Any:
    suite, name = rule.split(".")
    (outcome,) = [o for s in report.suites if s.suite == suite for o in s.failed if o.rule == name]
    return outcome


def summary_outcome(report_dir: Path, rule: str) -> dict[str, Any]:
    suite, name = rule.split(".")
    summary = json.loads((report_dir / "summary.json").read_text())
    (outcome,) = [
        o
        for s in summary["suites"]
        if s["suite"] == suite
        for o in s["outcomes"]
        if o["rule"] == name
    ]
    return outcome


def validate_with_report(base: Rows, mutation: Mutation, tmp_path: Path, suite: str) -> Any:
    data = mutated(base, mutation, tmp_path / "data")
    return validate_tables(data, tmp_path / "report", suites=[suite], today=TODAY)


def capture_dated(date: dict[str, Any]) -> bool:
    return date["year_source"] == "capture_date"


@pytest.mark.parametrize(
    ("mutation", "rule", "keys_of"),
    [
        pytest.param(
            year_before_capture("capture_date"),
            "dates.published_year_matches_capture",
            lambda rows: [(first(rows, "dates", capture_dated)["paper_id"],)],
            id="column-rule",
        ),
        pytest.param(
            set_field("sources", "line_end", 0),
            "sources.line_range_ordered",
            lambda rows: [(rows["sources"][0]["source_file"], rows["sources"][0]["line_start"])],
            id="column-pair-rule",
        ),
        # Both rows of a duplicate key fail, so the key is named twice.
        pytest.param(
            append_copy("links"),
            "links.key_unique",
            lambda rows: [(rows["links"][0]["paper_id"], rows["links"][0]["url"])] * 2,
            id="multicolumn-rule",
        ),
    ],
)
def test_a_failing_row_is_named_by_its_primary_key(
    base_rows: Rows,
    tmp_path: Path,
    mutation: Mutation,
    rule: str,
    keys_of: Callable[[Rows], list[tuple[Any, ...]]],
) -> None:
    suite = rule.split(".")[0]
    report = validate_with_report(base_rows, mutation, tmp_path, suite)
    assert report.failed_rules == {rule}
    keys = keys_of(base_rows)
    assert failed_outcome(report, rule).failing_keys == tuple(keys)
    assert summary_outcome(tmp_path / "report", rule)["failing_keys"] == [list(k) for k in keys]
    key = schemas.TABLES_BY_NAME[suite].primary_key
    (failed,) = [
        r
        for r in json.loads((tmp_path / "report" / "results" / f"{suite}.json").read_text())[
            "results"
        ]
        if not r["success"]
    ]
    rows = failed["result"]["unexpected_rows"]  # GX's own: the failing rows, whole
    assert [tuple(row[c] for c in key) for row in rows] == keys


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's lines unwrapped."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.usefixtures("wide_console")
def test_failing_keys_stop_at_the_limit(
    base_rows: Rows, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = ROW_KEY_LIMIT + 3

    def negative_upvotes(rows: Rows) -> None:
        for paper in rows["papers"][-failing:]:
            paper["upvotes"] = -1

    report = validate_with_report(base_rows, negative_upvotes, tmp_path, "papers")
    outcome = failed_outcome(report, "papers.upvotes_non_negative")
    assert outcome.unexpected_count == failing
    # The papers batch is in paper_id order: the first failing rows are the smallest ids.
    smallest = sorted(p["paper_id"] for p in base_rows["papers"][-failing:])[:ROW_KEY_LIMIT]
    assert outcome.failing_keys == tuple((paper_id,) for paper_id in smallest)
    summary = summary_outcome(tmp_path / "report", "papers.upvotes_non_negative")
    assert summary["failing_keys"] == [[paper_id] for paper_id in smallest]
    print_report(report)
    printed = capsys.readouterr().out
    assert "rows paper_id:" in printed and "…" in printed
    assert smallest[0] in printed


def test_every_batch_is_in_its_tables_key_order(fresh_build: Path, tmp_path: Path) -> None:
    """So that a rule's "first failing rows" are its smallest keys, whatever order the rows
    are in in the files (here reversed) or DuckDB's threads put them in."""
    from etl.validate import _batch_frame, _open_tables

    tables = {spec.name: pq.read_table(fresh_build / spec.file_name) for spec in schemas.TABLES}
    # Rows whose order only the key's later columns decide: two links of one paper, rejects
    # of one file.
    link = tables["links"].slice(0, 1).to_pylist()[0]
    more = {
        "links": [link | {"url": "https://z.example/b"}, link | {"url": "https://a.example/a"}],
        "rejects": [
            {
                "source_file": f,
                "line_start": n,
                "line_end": n,
                "reason": "invalid_date",
                "text": "x",
            }
            for f, n in (("b.txt", 5), ("a.txt", 9), ("a.txt", 2))
        ],
    }
    for spec in schemas.TABLES:
        table = tables[spec.name]
        if spec.name in more:
            added = pa.Table.from_pylist(more[spec.name], schema=table.schema)
            table = pa.concat_tables([table, added])
        reversed_rows = pa.array(range(table.num_rows - 1, -1, -1), type=pa.int64())
        pq.write_table(table.take(reversed_rows), tmp_path / spec.file_name)
    with _open_tables(tmp_path, schemas.TABLES_BY_NAME, TODAY) as con:
        for suite in load_suite_documents():
            frame = _batch_frame(con, suite)
            assert not isinstance(frame, str), frame
            key = list(schemas.TABLES_BY_NAME[suite.name].primary_key)
            keys = list(frame[key].itertuples(index=False, name=None))
            assert len(keys) > 2, suite.name
            assert keys == sorted(keys), suite.name


@pytest.mark.usefixtures("wide_console")
def test_a_table_level_failure_names_no_rows(
    base_rows: Rows, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = validate_with_report(base_rows, empty_tables, tmp_path, "papers")
    assert report.failed_rules == {"papers.row_count"}
    outcome = failed_outcome(report, "papers.row_count")
    assert outcome.unexpected_count is None and outcome.failing_keys == ()
    assert summary_outcome(tmp_path / "report", "papers.row_count")["failing_keys"] == []
    print_report(report)
    assert "rows paper_id" not in capsys.readouterr().out


def test_mutations_cover_every_rule() -> None:
    expected = set().union(*(p.values[1] for p in MUTATIONS))
    every = {
        f"{s.name}.{e['meta']['rule']}"
        for s in load_suite_documents()
        for e in s.document["expectations"]
    }
    assert every - expected == set(), "rules no mutation proves"
    assert expected - every == set(), "mutations expecting rules that do not exist"


def test_today_is_the_day_validation_runs_unless_given(base_rows: Rows, tmp_path: Path) -> None:
    # Two days ahead: still tomorrow or later if the test runs across midnight.
    ahead = dt.date.today() + dt.timedelta(days=2)
    data = mutated(base_rows, published_on(ahead), tmp_path / "data")
    assert validate_tables(data, suites=["dates"]).failed_rules == {
        "dates.published_date_not_in_future"
    }
    assert validate_tables(data, suites=["dates"], today=ahead).success


# --- good data, broken files -------------------------------------------------------------


def test_fresh_build_passes(fresh_build: Path, tmp_path: Path) -> None:
    report = validate_tables(fresh_build, tmp_path / "report")
    assert report.success, report.failures
    assert {s.suite for s in report.suites} == {t.name for t in schemas.TABLES}
    assert (tmp_path / "report" / "data_docs" / "index.html").is_file()
    assert sorted(p.name for p in report.result_files) == sorted(
        f"{t.name}.json" for t in schemas.TABLES
    )
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["success"] is True


@pytest.mark.skipif(
    not (config.PROCESSED_DIR / "papers.parquet").exists(), reason="data/processed not built"
)
def test_shipped_tables_pass() -> None:
    report = validate_tables(config.PROCESSED_DIR)
    assert report.success, report.failures


def test_missing_table_is_a_clear_failure(base_rows: Rows, tmp_path: Path) -> None:
    data = write_tables(base_rows, tmp_path / "data")
    (data / "links.parquet").unlink()
    report = validate_tables(data)
    assert report.failed_rules == {"links.table_schema"}
    (outcome,) = report.suites[[s.suite for s in report.suites].index("links")].outcomes
    assert "missing file links.parquet" in (outcome.error or "")


def test_schema_mismatch_is_a_clear_failure(base_rows: Rows, tmp_path: Path) -> None:
    data = write_tables(base_rows, tmp_path / "data")
    table = pq.read_table(data / "papers.parquet")
    pq.write_table(
        table.set_column(3, "upvotes", table["upvotes"].cast(pa.int64())), data / "papers.parquet"
    )
    pq.write_table(
        pq.read_table(data / "rejects.parquet").append_column("extra", pa.array([], pa.int8())),
        data / "rejects.parquet",
    )
    (data / "authors.parquet").write_bytes(b"not parquet")
    report = validate_tables(data)
    # papers feeds every batch that joins it, so those are reported as not computed.
    assert report.failed_rules == {
        "papers.table_schema",
        "rejects.table_schema",
        "authors.table_schema",
        "dates.inputs_available",
        "links.inputs_available",
        "sources.inputs_available",
    }
    errors = {s.suite: s.outcomes[0].error or "" for s in report.suites}
    assert "upvotes is int64, expected int32" in errors["papers"]
    assert "unexpected columns ['extra']" in errors["rejects"]
    assert "unreadable" in errors["authors"]
    assert "papers: papers.parquet does not match" in errors["dates"]


# --- the suites themselves ---------------------------------------------------------------


def test_suites_are_canonical_json() -> None:
    """Reviewed files: sorted keys, 2-space indent, trailing newline (diffs stay small)."""
    for path in sorted(config.EXPECTATIONS_DIR.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        canonical = json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False)
        assert text == canonical + "\n", f"{path.name}: not in canonical form"
    assert {p.stem for p in config.EXPECTATIONS_DIR.glob("*.json")} == {
        t.name for t in schemas.TABLES
    }


def test_suites_cover_the_contract() -> None:
    """Every key and non-nullable column of etl/schemas.py has its rule in the suite."""
    for suite in load_suite_documents():
        spec = schemas.TABLES_BY_NAME[suite.name]
        by_type: dict[str, list[dict]] = {}
        for e in suite.document["expectations"]:
            by_type.setdefault(e["type"], []).append(e["kwargs"])
        not_null = {k["column"] for k in by_type.get("expect_column_values_to_not_be_null", [])}
        assert not_null == {c.name for c in spec.columns if not c.nullable}, suite.name
        unique = [[k["column"]] for k in by_type.get("expect_column_values_to_be_unique", [])]
        unique += [
            k["column_list"] for k in by_type.get("expect_compound_columns_to_be_unique", [])
        ]
        assert list(spec.primary_key) in unique, suite.name


def test_suites_mirror_config_bounds() -> None:
    """config.py's plausibility bounds are mirrored (as rules) in the suites: keep them equal."""
    rules = {
        (s.name, e["meta"]["rule"]): e["kwargs"]
        for s in load_suite_documents()
        for e in s.document["expectations"]
    }
    assert rules["authors", "author_count_range"]["min_value"] == config.MIN_AUTHOR_COUNT
    assert rules["authors", "author_count_range"]["max_value"] == config.MAX_AUTHOR_COUNT
    assert rules["papers", "title_length"]["max_value"] == config.MAX_TITLE_CHARS
    assert rules["papers", "abstract_length"]["min_value"] == config.MIN_ABSTRACT_CHARS
    assert rules["papers", "abstract_length"]["max_value"] == config.MAX_ABSTRACT_CHARS
    assert rules["rejects", "text_length"]["max_value"] == config.MAX_REJECT_TEXT_CHARS
    assert rules["dates", "published_date_min"]["min_value"] == f"{config.MIN_PUBLISHED_YEAR}-01-01"
    (papers,) = [s for s in load_suite_documents() if s.name == "papers"]
    assert f"length(p.abstract) <= {config.MAX_TITLE_CHARS} " in papers.sql  # short_abstract


def test_abstracts_and_titles_share_one_boilerplate_list() -> None:
    rules = {
        e["meta"]["rule"]: e["kwargs"]
        for s in load_suite_documents()
        if s.name == "papers"
        for e in s.document["expectations"]
    }
    assert (
        rules["abstract_not_boilerplate"]["regex_list"]
        == rules["title_not_boilerplate"]["regex_list"]
        == list(BOILERPLATE_PATTERNS)  # what the parser rejects records by
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "expect_column_values_to_be_purple"}, "rule paper_id_not_null"),
        ({"kwargs": {"column": "paper_id", "bogus": 1}}, "rule paper_id_not_null"),
        ({"meta": {}}, "unique meta.rule"),
    ],
)
def test_a_broken_suite_is_an_error_not_a_silent_drop(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    """GX logs and drops an invalid expectation; the gate must refuse to run instead."""
    suites = tmp_path / "expectations"
    suites.mkdir()
    for path in config.EXPECTATIONS_DIR.glob("*.json"):
        (suites / path.name).write_text(path.read_text())
    document = json.loads((suites / "papers.json").read_text())
    document["expectations"][1].update(change)
    (suites / "papers.json").write_text(json.dumps(document))
    with pytest.raises(SuiteDefinitionError, match=message):
        validate_tables(tmp_path / "no-data", expectations_dir=suites)


# --- how the rules run ----------------------------------------------------------------


def test_spelled_out_whitespace_matches_what_backslash_s_does() -> None:
    spelled = re.compile(f"[{PYTHON_WHITESPACE}]")
    backslash_s = re.compile(r"\s")
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert bool(spelled.fullmatch(char)) is bool(backslash_s.fullmatch(char)), hex(code)


SUITE_REGEXES = sorted(
    {
        regex
        for suite in load_suite_documents()
        for e in suite.document["expectations"]
        for regex in [e["kwargs"].get("regex"), *e["kwargs"].get("regex_list", [])]
        if regex
    }
)
TRICKY_REGEXES = [r"[]\s]x", r"[^]\s]+$", r"a\\s", r"\S+\s*\S", r"[\s\d]{2}", r"^[^\s]$"]
ALPHABET = "ab Z/:@.,()•0123456789-_\\s\t\n\x0b\x1c\x85\u00a0\u2009\u3000]^["


@given(text=st.text(alphabet=ALPHABET, max_size=12))
@settings(max_examples=300, deadline=None)
def test_rewritten_rules_match_exactly_what_the_suites_say(text: str) -> None:
    for regex in SUITE_REGEXES + TRICKY_REGEXES:
        rewritten = spell_out_whitespace(regex)
        assert bool(re.search(rewritten, text)) is bool(re.search(regex, text)), (regex, text)


def test_rewritten_rules_run_in_arrow() -> None:
    # pandas runs a regex with `\s` row by row in Python: 1.8 s at 1 GB of dumps. This asks
    # pandas itself (a private method) whether each rewritten rule still needs Python.
    strings = pd.array(["x"], dtype="str")
    needing_python = [r for r in SUITE_REGEXES if strings._needs_python_regex(r)]
    assert needing_python, "no suite regex uses \\s any more: drop spell_out_whitespace"
    assert [r for r in SUITE_REGEXES if strings._needs_python_regex(spell_out_whitespace(r))] == []


@pytest.mark.parametrize(
    "regex",
    [r"a\\s", r"[\S]", r"[^\S\n]", r"(?a)\s", r"^[0-9a-f]{16}$"],
    ids=["escaped-backslash", "S-in-class", "negated-S-in-class", "ascii-mode", "no-whitespace"],
)
def test_what_cannot_or_need_not_be_rewritten_is_left_as_it_was(regex: str) -> None:
    assert spell_out_whitespace(regex) == regex


def test_gx_does_not_hash_the_batches(fresh_build: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from great_expectations.execution_engine import pandas_execution_engine

    def refuse(df: object) -> str:
        raise AssertionError("GX hashed a batch")

    monkeypatch.setattr(pandas_execution_engine, "hash_pandas_dataframe", refuse)
    report = validate_tables(fresh_build)
    assert report.success, report.failures


@pytest.fixture
def resolved_metrics(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the metrics GX computes, in order, while the test runs."""
    from great_expectations.execution_engine.execution_engine import ExecutionEngine

    resolved: list[str] = []
    resolve = ExecutionEngine.resolve_metrics

    def recording(self: Any, metrics_to_resolve: Any, *args: Any, **kwargs: Any) -> Any:
        metrics_to_resolve = list(metrics_to_resolve)
        resolved.extend(m.metric_name for m in metrics_to_resolve)
        return resolve(self, metrics_to_resolve, *args, **kwargs)

    monkeypatch.setattr(ExecutionEngine, "resolve_metrics", recording)
    return resolved


def test_gx_does_not_list_failing_rows(fresh_build: Path, resolved_metrics: list[str]) -> None:
    # Listing them (SUMMARY results) filters the whole batch twice per column rule: 1.6 s
    # of validating 1 GB of dumps, for fields the report never reads.
    resolved = resolved_metrics
    report = validate_tables(fresh_build, suites=["papers"])
    assert report.success, report.failures
    assert any(name.endswith(".unexpected_values") for name in resolved)  # the samples
    assert [n for n in resolved if ".unexpected_index_" in n or ".unexpected_rows" in n] == []


def test_only_the_failing_rule_is_run_again_for_its_rows(
    base_rows: Rows, tmp_path: Path, resolved_metrics: list[str]
) -> None:
    """A failure pays for its failing rows; the other rules of the suite are not run again."""
    resolved = resolved_metrics
    data = mutated(base_rows, set_field("papers", "upvotes", -1), tmp_path / "data")
    report = validate_tables(data, suites=["papers"], today=TODAY)
    assert report.failed_rules == {"papers.upvotes_non_negative"}
    assert [n for n in resolved if ".unexpected_rows" in n] == [
        "column_values.between.unexpected_rows"
    ]
    # Each `between` rule of the suite is run once, and upvotes_non_negative again.
    (papers,) = [s for s in load_suite_documents() if s.name == "papers"]
    between = [
        e
        for e in papers.document["expectations"]
        if e["type"] == "expect_column_values_to_be_between"
    ]
    assert len(between) > 1
    assert resolved.count("column_values.between.unexpected_count") == len(between) + 1


URL_STARTS = ["https://", "http://", "HTTPS://", "ftp://", "https:", "//", ""]
URL_ALPHABET = "aZ09.-_:/?#@[]%~\u00e9\uff0e\u2100"  # NFKC folds U+FF0E, U+2100 to `.`, `a/c`


@given(
    urls=st.lists(
        st.tuples(st.sampled_from(URL_STARTS), st.text(alphabet=URL_ALPHABET, max_size=20)),
        max_size=8,
    )
)
@settings(max_examples=300, deadline=None)
def test_url_host_is_what_urlsplit_reads_from_each_url(urls: list[tuple[str, str]]) -> None:
    """url_host parses each distinct URL start once; that is the host of the whole URL."""
    from urllib.parse import urlsplit

    def host(url: str) -> str:
        try:
            return urlsplit(url).hostname or ""
        except ValueError:
            return ""

    written = [start + rest for start, rest in urls]
    assert url_hosts(pa.array(written, pa.string())).to_pylist() == [host(u) for u in written]


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://GitHub.com/org/repo", "github.com"),
        ("https://me:pw@example.org:8080/x?y#z", "example.org"),
        ("http://[::1]:8000/", "::1"),
        ("https://[broken/x", ""),  # urlsplit refuses it
        ("https:///no-host", ""),
        (None, None),
    ],
)
def test_url_host_reads_urls_as_urllib_does(url: str | None, host: str | None) -> None:
    assert url_hosts(pa.array([url], pa.string())).to_pylist() == [host]


def test_importing_the_module_does_not_import_gx() -> None:
    code = "import sys, etl.cli, etl.validate; sys.exit('great_expectations' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


# --- the command, end to end -------------------------------------------------------------


def run_cli(data: Path, report_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, REPORT_DIR_ENV: str(report_dir), "COLUMNS": "160"}
    return subprocess.run(
        [sys.executable, "-m", "etl", "validate", "--data", str(data)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_passes_on_good_data(fresh_build: Path, tmp_path: Path) -> None:
    result = run_cli(fresh_build, tmp_path / "report")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All suites passed" in result.stdout
    assert (tmp_path / "report" / "data_docs" / "index.html").is_file()
    assert len(list((tmp_path / "report" / "results").glob("*.json"))) == len(schemas.TABLES)


def test_cli_fails_on_bad_data_and_says_why(base_rows: Rows, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from etl.cli import app

    data = mutated(
        base_rows, set_field("links", "url", "https://youtu.be/x).", is_video), tmp_path / "data"
    )
    (data / "rejects.parquet").unlink()
    report_dir = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        ["validate", "--data", str(data)],
        env={REPORT_DIR_ENV: str(report_dir), "COLUMNS": "200"},
    )
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "url_no_trailing_punctuation" in result.output
    assert "https://youtu.be/x)." in result.output
    assert "missing file rejects.parquet" in result.output
    # The row is named by its key, which no sample value shows.
    video_paper = first(base_rows, "links", is_video)["paper_id"]
    assert "rows (paper_id, url):" in result.output and video_paper in result.output
    assert (report_dir / "data_docs" / "index.html").is_file()
    assert "Not in the Data Docs" in result.output
    summary = json.loads((report_dir / "summary.json").read_text())
    assert set(summary["failed_rules"]) == {
        "links.url_no_trailing_punctuation",
        "rejects.table_schema",
    }
    assert summary["not_in_data_docs"] == ["rejects.table_schema"]
    links = json.loads((report_dir / "results" / "links.json").read_text())
    assert links["success"] is False


def test_report_type_is_what_the_build_needs(fresh_build: Path) -> None:
    report = validate_tables(fresh_build)
    assert isinstance(report, ValidationReport)
    assert report.success is True and report.failures == {}
    assert report.report_dir is None and report.data_docs_index is None


def test_each_batch_is_let_go_before_the_next_is_made(
    fresh_build: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GX keeps every batch it loaded; at 1 GB of dumps the six piled up to 1,099 MiB."""
    import etl.validate as validate_module

    made: list[weakref.ref] = []
    alive_when_next_was_made: list[int] = []
    batch_frame = validate_module._batch_frame

    def tracked(*args: Any, **kwargs: Any) -> Any:
        gc.collect()
        alive_when_next_was_made.append(sum(ref() is not None for ref in made))
        frame = batch_frame(*args, **kwargs)
        made.append(weakref.ref(frame))
        return frame

    monkeypatch.setattr(validate_module, "_batch_frame", tracked)
    report = validate_tables(fresh_build)
    assert report.success, report.failures
    assert len(made) == len(schemas.TABLES)
    assert alive_when_next_was_made == [0] * len(schemas.TABLES)


def test_cli_validate_of_no_folder_is_one_line_and_exit_2(tmp_path):
    from typer.testing import CliRunner

    from etl.cli import app

    result = CliRunner().invoke(app, ["validate", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {tmp_path / 'nope'} is not a folder of tables; build them first (make data)"
    )
