"""Big dumps, a page at a time: a dump's lines without ever holding the whole file.

People paste many pages into one file; a year of them is gigabytes. Pages parse
independently apart from the dump-wide year (see `parse.dump_years`), so a big dump is read
twice: once to find where its pages start and its latest explicit year, once to hand out
its pages. Lines come out exactly as `normalize.dump_lines` makes them.

Only plain UTF-8 (with or without a BOM) is streamed. Anything the decoder would treat
specially (another BOM, binary content, invalid UTF-8) or a dump of a single page gives
None, and the caller reads the file whole, as for a small dump.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from etl.decode import SNIFF_BYTES, binary_kind
from etl.parse import PageFinder, explicit_year


@dataclass(frozen=True)
class PagePlan:
    """What the first pass learns: where pages start, the dump's year, how it ends."""

    starts: list[int]  # 0-based line index of each page's first line
    total_lines: int
    years: list[int]  # the latest explicit footer year, as `parse.dump_years` gives it
    ends_with_newline: bool


@dataclass(frozen=True)
class StreamedPage:
    first_line: int  # 0-based index in the dump of the page's first line
    lines: list[str]
    ends_with_newline: bool  # as the page's own text would: true for all but the last
    followed: bool  # another page comes after it: true for all but the last


def _lines(path: Path) -> Iterator[tuple[str, bool]]:
    """(line without trailing whitespace, whether it ended with a newline), as dump_lines."""
    # Universal newlines make CRLF and CR into LF, across buffer boundaries too; utf-8-sig
    # drops a BOM, and dump_lines drops one more, so the first line does the same.
    with open(path, encoding="utf-8-sig", errors="strict", newline=None) as handle:
        first = True
        for raw in handle:
            if first:
                raw = raw.removeprefix("\ufeff")
                first = False
            yield raw.rstrip(), raw.endswith("\n")


def plan_pages(path: Path) -> PagePlan | None:
    """First pass: the plan for reading `path` a page at a time, or None to read it whole."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if any(head.startswith(bom) for bom in _OTHER_BOMS) or binary_kind(head) is not None:
        return None
    finder = PageFinder()
    latest: int | None = None
    total, ends_with_newline = 0, False
    try:
        for line, newline in _lines(path):
            finder.feed(line)
            ends_with_newline = newline
            year = explicit_year(line)
            if year is not None and (latest is None or year > latest):
                latest = year
            total += 1
    except UnicodeDecodeError:
        return None
    if len(finder.starts) < 2:
        return None
    return PagePlan(finder.starts, total, [] if latest is None else [latest], ends_with_newline)


def read_pages(path: Path, plan: PagePlan) -> Iterator[StreamedPage]:
    """Second pass: the pages of `path`, one at a time, in order."""
    bounds = iter(plan.starts[1:])
    page_start, page_end = 0, next(bounds, None)
    lines: list[str] = []
    for index, (line, _) in enumerate(_lines(path)):
        if index == page_end:
            yield StreamedPage(page_start, lines, True, True)
            page_start, page_end, lines = index, next(bounds, None), []
        lines.append(line)
    yield StreamedPage(page_start, lines, plan.ends_with_newline, False)


_OTHER_BOMS = (
    codecs.BOM_UTF32_LE,
    codecs.BOM_UTF32_BE,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_BE,
)
