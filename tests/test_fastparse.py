"""The vectorized parser agrees with the line parser wherever it accepts a dump."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.fastparse import parse_regular
from etl.normalize import dump_lines
from etl.parse import parse_dump
from etl.pipeline import records_of
from tests.conftest import COMPACT_SEED, SEARCH_SEED

SEED_LINES = {
    SEARCH_SEED.name: SEARCH_SEED.read_text(encoding="utf-8"),
    COMPACT_SEED.name: COMPACT_SEED.read_text(encoding="utf-8"),
}
CAPTURES = [None, dt.date(2025, 11, 11), dt.date(2024, 1, 1)]
EXTRA_LINES = [
    "",
    "  • 3 authors",
    "·",
    "Apr 5",
    "Feb 30, 2024",
    "Subscribe",
    "new",
    "A Short Title",
    "Feb 28, 2024 2",
    "  • 0 authors",
    "Dec 20",
]


def both(text: str, captured_on: dt.date | None):
    lines, ends_with_newline = dump_lines(text)
    return parse_regular(lines, ends_with_newline, captured_on), parse_dump(text, captured_on)


def assert_agree(text: str, captured_on: dt.date | None) -> bool:
    fast, slow = both(text, captured_on)
    if fast is None:
        return False
    assert slow.rejects == [] and slow.warnings == []
    assert fast.records.equals(records_of(slow))
    assert (
        fast.dump_format,
        fast.total_lines,
        fast.record_lines,
        fast.page_date_text,
        fast.captured_on,
    ) == (
        slow.dump_format,
        slow.total_lines,
        slow.record_lines,
        slow.page_date_text,
        slow.captured_on,
    )
    return True


def test_the_seeds_take_the_fast_path_and_agree():
    for text in SEED_LINES.values():
        for captured_on in CAPTURES[:2]:  # the third capture date is before some papers
            assert assert_agree(text, captured_on)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(SEED_LINES)),
    captured_on=st.sampled_from(CAPTURES),
    edits=st.lists(
        st.tuples(
            st.integers(0, 400),
            st.sampled_from(["drop", "dup", "insert"]),
            st.sampled_from(EXTRA_LINES),
        ),
        max_size=4,
    ),
    cut=st.one_of(st.none(), st.integers(100, 200_000)),
)
def test_mutated_seeds_are_either_refused_or_parsed_the_same(name, captured_on, edits, cut):
    lines = SEED_LINES[name].split("\n")
    for position, action, extra in edits:
        i = position % len(lines)
        if action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        else:
            lines.insert(i, extra)
    text = "\n".join(lines)
    if cut is not None:
        text = text[:cut]
    if not text.strip():
        return
    assert_agree(text, captured_on)


def test_irregular_dump_is_refused():
    text = SEED_LINES[SEARCH_SEED.name].replace("  • 4 authors", "  • 0 authors", 1)
    fast, slow = both(text, None)
    assert fast is None
    assert [r.reason for r in slow.rejects] == ["invalid_author_count"]


def test_fast_records_have_the_raw_record_schema():
    fast, _ = both(SEED_LINES[COMPACT_SEED.name], None)
    assert fast is not None
    assert fast.records.schema == pl.Schema(records_of(parse_dump("x\n")).schema)


def test_short_abstract_between_titles_is_paired_like_the_line_parser_does():
    text = SEED_LINES[COMPACT_SEED.name].split("\n")
    text[3] = "A short abstract that does not end a sentence"
    assert assert_agree("\n".join(text), None)


def test_chromeless_dump_of_short_lines_is_left_to_the_line_parser():
    listing = "Title: A\nAuthors: B\nSubjects: C\nComments: D\n"
    fast, slow = both(listing, None)
    assert fast is None
    assert [r.reason for r in slow.rejects] == ["unrecognized_format"]
