"""The vectorized parser agrees with the line parser wherever it accepts a dump."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.dumps import _implausible_rows, prepare_records, records_of
from etl.fastparse import Page, parse_regular, parse_regular_pages
from etl.normalize import dump_lines
from etl.parse import parse_dump
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


# One edit of a seed dump: drop, duplicate or insert a line at a position.
EDIT = st.tuples(
    st.integers(0, 400),
    st.sampled_from(["drop", "dup", "insert"]),
    st.sampled_from(EXTRA_LINES),
)


def both(text: str, captured_on: dt.date | None):
    lines, ends_with_newline = dump_lines(text)
    return parse_regular(lines, ends_with_newline, captured_on), parse_dump(text, captured_on)


def assert_agree(text: str, captured_on: dt.date | None) -> bool:
    fast, slow = both(text, captured_on)
    if fast is None or _implausible_rows(prepare_records(fast.records)).any():
        return False  # the line parser takes the page (`etl.dumps.parse_and_clean`)
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
    edits=st.lists(EDIT, max_size=4),
    cut=st.one_of(st.none(), st.integers(100, 200_000)),
)
def test_mutated_seeds_are_either_refused_or_parsed_the_same(name, captured_on, edits, cut):
    text = mutated(name, edits, cut)
    if not text.strip():
        return
    assert_agree(text, captured_on)


def mutated(name: str, edits: list[tuple[int, str, str]], cut: int | None) -> str:
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
    return text if cut is None else text[:cut]


def as_fields(found):
    if found is None:
        return None
    facts = (found.dump_format, found.total_lines, found.record_lines, found.page_date_text)
    return found.records.to_dicts(), facts, found.captured_on


def test_seed_pages_in_one_batch_get_the_answer_each_gets_alone():
    batch = [
        Page(*dump_lines(text), captured_on)
        for _ in range(2)
        for text in SEED_LINES.values()
        for captured_on in CAPTURES
    ]
    together = parse_regular_pages(batch)
    alone = [parse_regular_pages([page])[0] for page in batch]
    assert None in alone and any(found is not None for found in alone)
    assert [as_fields(found) for found in together] == [as_fields(found) for found in alone]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pages=st.lists(
        st.tuples(
            st.sampled_from(sorted(SEED_LINES)),
            st.sampled_from(CAPTURES),
            st.lists(EDIT, max_size=3),
            st.one_of(st.none(), st.integers(0, 30_000)),
            st.one_of(st.none(), st.lists(st.integers(2000, 2030), max_size=2)),
        ),
        max_size=6,
    )
)
def test_pages_parsed_together_get_the_answer_each_gets_alone(pages):
    batch = []
    for name, captured_on, edits, cut, years in pages:
        lines, ends_with_newline = dump_lines(mutated(name, edits, cut))
        batch.append(Page(lines, ends_with_newline, captured_on, years))
    together = parse_regular_pages(batch)
    alone = [parse_regular_pages([page])[0] for page in batch]
    assert [as_fields(found) for found in together] == [as_fields(found) for found in alone]


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
