"""The output contract: one Arrow schema per table, with column docs.

The writer casts every table to these schemas (so drift fails loudly), the dataset
card renders its column tables from the docs, and the tests compare against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from etl import config


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool
    doc: str


@dataclass(frozen=True)
class TableSpec:
    name: str
    doc: str
    primary_key: tuple[str, ...]
    sort_key: tuple[str, ...]
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def file_name(self) -> str:
        return f"{self.name}.parquet"


YEAR_SOURCES = ("explicit", "capture_date", "inferred")
LINK_KINDS = ("code", "huggingface", "arxiv", "video", "project")
DUMP_FORMATS = ("search_page", "compact")

REJECT_REASONS: dict[str, str] = {
    "empty_file": "the file has no bytes or only whitespace",
    "binary_file": "the file is binary (NUL bytes or a known binary signature)",
    "undecodable_text": "bytes that are neither UTF-8 nor UTF-16 with a BOM",
    "unrecognized_format": "the file is in neither Hugging Face Papers dump format",
    "abstract_without_title": "an abstract-shaped line with no title before it",
    "title_too_long": "a title-position line longer than the plausible maximum",
    "footer_without_title": "a footer (authors, dot, date) that follows no paper",
    "invalid_author_count": "an author count outside the plausible range",
    "invalid_date": "a footer date that is not a real calendar date",
    "date_out_of_range": "a published date before 1990 or after the capture date",
    "unknown_capture_year": "a date without a year in a dump whose capture year is unknown",
    "truncated_abstract": "an abstract cut off by the end of an interrupted copy",
    "outside_raw_dir": "a symlink to a file outside the raw folder (not read)",
    "unreadable_file": "the file could not be read (no permission, a broken symlink...)",
    "title_without_letter_or_digit": "a record whose title has neither a letter nor a digit",
    "abstract_too_short": (
        f"a record whose abstract has fewer than {config.MIN_ABSTRACT_CHARS} characters"
    ),
    "boilerplate_in_record": (
        "a record whose title, or abstract as short as a title, reads as page chrome or a footer"
    ),
    "abstract_too_long": (
        f"a record whose abstract has more than {config.MAX_ABSTRACT_CHARS:,} characters"
    ),
}

PAPERS = TableSpec(
    name="papers",
    doc="One row per distinct paper, merged over every capture of it.",
    primary_key=("paper_id",),
    sort_key=("paper_id",),
    columns=(
        Column(
            "paper_id",
            pa.string(),
            False,
            "Stable id: 16 hex digits of SHA-256 over the folded title and the first 100 "
            "characters of the abstract (the smallest over the paper's captures).",
        ),
        Column("title", pa.string(), False, "Title as shown on the page (NFC, spaces folded)."),
        Column(
            "abstract",
            pa.string(),
            True,
            "The most complete abstract seen; null when no capture showed one.",
        ),
        Column(
            "upvotes",
            pa.int32(),
            True,
            "Highest upvote count seen in any capture; null when never shown.",
        ),
        Column("source_count", pa.int32(), False, "Raw records merged into this paper."),
    ),
)

AUTHORS = TableSpec(
    name="authors",
    doc="Author count of each paper whose footer was seen.",
    primary_key=("paper_id",),
    sort_key=("paper_id",),
    columns=(
        Column("paper_id", pa.string(), False, "The paper (papers.paper_id)."),
        Column("author_count", pa.int32(), False, "Number of authors shown in the footer."),
    ),
)

DATES = TableSpec(
    name="dates",
    doc="Published date of each paper whose footer showed one.",
    primary_key=("paper_id",),
    sort_key=("paper_id",),
    columns=(
        Column("paper_id", pa.string(), False, "The paper (papers.paper_id)."),
        Column("published_date", pa.date32(), False, "Publication date on Hugging Face Papers."),
        Column(
            "date_text", pa.string(), False, "The date as shown, e.g. `Apr 5` or `Feb 28, 2024`."
        ),
        Column(
            "year_source",
            pa.string(),
            False,
            "`explicit` (year shown), `capture_date` (year of the manifest's capture date) "
            "or `inferred` (capture year inferred from the dump).",
        ),
    ),
)

LINKS = TableSpec(
    name="links",
    doc="URLs written in the abstracts, classified.",
    primary_key=("paper_id", "url"),
    sort_key=("paper_id", "url"),
    columns=(
        Column("paper_id", pa.string(), False, "The paper (papers.paper_id)."),
        Column(
            "url",
            pa.string(),
            False,
            "URL as written, minus trailing sentence punctuation or an unbalanced `)`.",
        ),
        Column("host", pa.string(), False, "Lower-case host name."),
        Column(
            "kind",
            pa.string(),
            False,
            "`code` (GitHub/GitLab/Bitbucket), `huggingface`, `arxiv`, `video` or `project`.",
        ),
        Column("repo", pa.string(), True, "`owner/name` for code links, else null."),
    ),
)

SOURCES = TableSpec(
    name="sources",
    doc="Provenance: one row per raw record, pointing at the dump lines it came from.",
    primary_key=("source_file", "line_start"),
    sort_key=("source_file", "line_start"),
    columns=(
        Column("paper_id", pa.string(), False, "The paper this record was merged into."),
        Column("source_file", pa.string(), False, "Dump file name, relative to the raw folder."),
        Column("source_sha256", pa.string(), False, "SHA-256 of the dump's bytes."),
        Column("line_start", pa.int32(), False, "First line of the record (1-based)."),
        Column("line_end", pa.int32(), False, "Last line of the record (inclusive)."),
        Column("dump_format", pa.string(), False, "`search_page` or `compact`."),
        Column(
            "captured_on",
            pa.date32(),
            True,
            "When the record's page was captured (manifest, else inferred from the page's own "
            "date, so pages pasted into one dump may differ); null if unknown.",
        ),
    ),
)

REJECTS = TableSpec(
    name="rejects",
    doc="Every raw line that is neither boilerplate nor part of a record, with the reason.",
    primary_key=("source_file", "line_start"),
    sort_key=("source_file", "line_start"),
    columns=(
        Column("source_file", pa.string(), False, "Dump file name, relative to the raw folder."),
        Column(
            "line_start",
            pa.int32(),
            False,
            "First rejected line (1-based; 0 for a file with no lines or one not read).",
        ),
        Column("line_end", pa.int32(), False, "Last rejected line (inclusive)."),
        Column("reason", pa.string(), False, "Why the lines were rejected (a fixed set of codes)."),
        Column("text", pa.string(), False, "The rejected text (cut at 10,000 characters)."),
    ),
)

TABLES: tuple[TableSpec, ...] = (PAPERS, AUTHORS, DATES, LINKS, SOURCES, REJECTS)
TABLES_BY_NAME: dict[str, TableSpec] = {t.name: t for t in TABLES}


def missing_table_files(data_dir: Path) -> list[str]:
    """The table files of the contract that `data_dir` lacks, in contract order."""
    return [t.file_name for t in TABLES if not (data_dir / t.file_name).is_file()]
