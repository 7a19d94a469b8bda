"""Typed records passed between stages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(slots=True)
class RawRecord:
    """One paper as it appears in one dump, before deduplication."""

    title: str
    abstract: str | None
    line_start: int
    line_end: int
    author_count: int | None = None
    date_text: str | None = None
    date_line: int | None = None
    date_line_text: str | None = None
    upvotes: int | None = None
    published_date: dt.date | None = None
    year_source: str | None = None


@dataclass(slots=True, frozen=True)
class Reject:
    """Lines that are neither boilerplate nor part of a record, and why."""

    line_start: int
    line_end: int
    reason: str
    text: str

    @property
    def line_count(self) -> int:
        return 0 if self.line_start == 0 else self.line_end - self.line_start + 1


@dataclass(slots=True, frozen=True)
class LineWarning:
    """Something a person should look at on a line that was still parsed (1-based)."""

    line: int
    message: str


@dataclass(slots=True)
class ParsedDump:
    """What one dump yields: records, rejects, and the accounting of its lines."""

    dump_format: str | None
    records: list[RawRecord] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    total_lines: int = 0
    boilerplate_lines: int = 0
    record_lines: int = 0
    rejected_lines: int = 0
    page_date_text: str | None = None
    captured_on: dt.date | None = None
    warnings: list[LineWarning] = field(default_factory=list)

    @property
    def accounted_lines(self) -> int:
        return self.boilerplate_lines + self.record_lines + self.rejected_lines
