"""The deduplication rule, one clause per test (see etl/dedupe.py)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from etl.dedupe import (
    _AUTHOR_FIELDS,
    _DATE_FIELDS,
    _PAPER_FIELDS,
    _Fields,
    _per_paper,
    deduplicate,
)
from etl.dumps import prepare_records
from etl.fastparse import RAW_RECORD_SCHEMA
from etl.normalize import abstract_key, clean_records, stable_id

ABSTRACT = (
    "We propose a method for learning to learn from few examples. It meta-trains a model "
    "across many tasks and adapts quickly to new ones, beating strong baselines on five benchmarks."
)
OTHER_ABSTRACT = (
    "A survey of continual learning: we review regularization, replay and architecture based "
    "methods and discuss open problems for large models trained on streams of data."
)


def records(*rows: dict) -> pl.DataFrame:
    """A records frame as the build makes it (raw fields, then `clean_records`)."""
    raw = [
        {
            "title": row["title"],
            "abstract": row.get("abstract"),
            "author_count": row.get("author_count"),
            "published_date": row.get("published_date"),
            "date_text": row.get("date_text"),
            "year_source": row.get("year_source"),
            "upvotes": row.get("upvotes"),
            "line_start": i + 1,
            "line_end": i + 1,
        }
        for i, row in enumerate(rows)
    ]
    frame = prepare_records(pl.DataFrame(raw, schema=RAW_RECORD_SCHEMA))
    captured = pl.Series("captured_on", [row.get("captured_on") for row in rows], dtype=pl.Date)
    return frame.with_columns(captured)


def abstracts(result, frame: pl.DataFrame) -> list[str | None]:
    """The abstract each paper keeps: its representative record's."""
    return frame["abstract"].gather(result.papers["representative"]).to_list()


def paper_count(*rows: dict) -> int:
    return deduplicate(records(*rows)).papers.height


def test_titles_equal_after_case_punctuation_hyphen_and_space_folding_merge():
    assert (
        paper_count(
            {"title": "Meta-Learning: Fast Adaptation", "abstract": ABSTRACT},
            {"title": "meta learning  fast adaptation!", "abstract": ABSTRACT},
        )
        == 1
    )


def test_abstracts_equal_after_whitespace_folding_merge():
    assert (
        paper_count(
            {"title": "Meta Learning", "abstract": ABSTRACT},
            {"title": "Meta Learning", "abstract": "  " + ABSTRACT.replace(" ", "   ") + " "},
        )
        == 1
    )


def test_missing_abstract_merges_and_the_abstract_is_kept():
    frame = records(
        {"title": "Meta Learning", "abstract": None, "author_count": 3},
        {"title": "Meta Learning", "abstract": ABSTRACT},
    )
    result = deduplicate(frame)
    assert result.papers.height == 1
    assert abstracts(result, frame) == [ABSTRACT]
    assert result.authors["author_count"].to_list() == [3]


def test_truncated_abstract_merges_and_the_full_one_is_kept():
    frame = records(
        {"title": "Meta Learning", "abstract": ABSTRACT[:120] + "…"},
        {"title": "Meta Learning", "abstract": ABSTRACT},
    )
    result = deduplicate(frame)
    assert abstracts(result, frame) == [ABSTRACT]


def test_abstracts_differing_only_in_their_ellipsis_keep_the_first_read():
    # A tie on length, record id and abstract key. On a million records polars' group-by
    # once let it go to whichever record a thread met first: `...` in one run, `…` the next.
    dotted, ellipsis = ABSTRACT[:150] + "...", ABSTRACT[:150] + "…"
    for first, second in ((dotted, ellipsis), (ellipsis, dotted)):
        frame = records(
            {"title": "Meta Learning", "abstract": first},
            {"title": "Meta Learning", "abstract": second},
            {"title": "Meta Learning", "abstract": second},
        )
        keys = abstract_key(frame["abstract"], frame["abstract_len"])
        assert keys.n_unique() == 1 and frame["record_id"].n_unique() == 1
        assert abstracts(deduplicate(frame), frame) == [first]


def test_same_title_with_clearly_different_abstracts_stays_two_papers():
    result = deduplicate(
        records(
            {"title": "Continual Learning", "abstract": ABSTRACT},
            {"title": "Continual Learning", "abstract": OTHER_ABSTRACT},
        )
    )
    assert result.papers.height == 2
    assert result.papers["paper_id"].n_unique() == 2


def test_missing_abstract_with_ambiguous_title_joins_the_paper_with_most_records():
    frame = records(
        {"title": "Continual Learning", "abstract": ABSTRACT},
        {"title": "Continual Learning", "abstract": OTHER_ABSTRACT},
        {"title": "Continual Learning", "abstract": OTHER_ABSTRACT},
        {"title": "Continual Learning", "abstract": None, "upvotes": 9},
    )
    result = deduplicate(frame)
    counts = dict(zip(abstracts(result, frame), result.papers["source_count"], strict=True))
    assert counts == {ABSTRACT: 1, OTHER_ABSTRACT: 3}


def test_revised_title_with_identical_abstract_is_one_paper():
    result = deduplicate(
        records(
            {
                "title": "Meta Prompting for AGI Systems",
                "abstract": ABSTRACT,
                "captured_on": dt.date(2024, 1, 1),
            },
            {
                "title": "Meta Prompting for Reasoning and AGI Systems",
                "abstract": ABSTRACT,
                "captured_on": dt.date(2025, 1, 1),
            },
        )
    )
    assert result.papers["title"].to_list() == ["Meta Prompting for Reasoning and AGI Systems"]


def test_revised_title_with_a_slightly_edited_abstract_is_one_paper():
    edited = ABSTRACT.replace("five benchmarks", "six benchmarks")
    assert (
        paper_count(
            {"title": "Learning to Learn Quickly", "abstract": ABSTRACT},
            {"title": "Learning to Learn Quickly at Scale", "abstract": edited},
        )
        == 1
    )


def test_dissimilar_titles_with_the_same_abstract_stay_apart():
    assert (
        paper_count(
            {"title": "Learning to Learn Quickly", "abstract": ABSTRACT},
            {"title": "Graph Neural Networks for Chemistry", "abstract": ABSTRACT},
        )
        == 2
    )


def test_merge_keeps_the_highest_upvotes_and_never_invents_one():
    result = deduplicate(
        records(
            {"title": "Meta Learning", "abstract": ABSTRACT, "upvotes": 2},
            {"title": "Meta Learning", "abstract": ABSTRACT, "upvotes": 7},
            {"title": "Meta Learning", "abstract": ABSTRACT},
            {"title": "Other", "abstract": OTHER_ABSTRACT},
        )
    )
    by_title = dict(zip(result.papers["title"], result.papers["upvotes"], strict=True))
    assert by_title == {"Meta Learning": 7, "Other": None}


def test_merge_takes_a_footer_from_any_capture():
    result = deduplicate(
        records(
            {"title": "Meta Learning", "abstract": ABSTRACT},
            {
                "title": "Meta Learning",
                "abstract": ABSTRACT,
                "author_count": 5,
                "published_date": dt.date(2024, 3, 1),
                "date_text": "Mar 1, 2024",
                "year_source": "explicit",
            },
        )
    )
    assert result.authors["author_count"].to_list() == [5]
    assert result.dates.row(0)[1:] == (dt.date(2024, 3, 1), "Mar 1, 2024", "explicit")


def test_explicit_year_beats_a_capture_year():
    result = deduplicate(
        records(
            {
                "title": "Meta Learning",
                "abstract": ABSTRACT,
                "published_date": dt.date(2025, 3, 1),
                "date_text": "Mar 1",
                "year_source": "inferred",
                "captured_on": dt.date(2026, 1, 1),
            },
            {
                "title": "Meta Learning",
                "abstract": ABSTRACT,
                "published_date": dt.date(2024, 3, 1),
                "date_text": "Mar 1, 2024",
                "year_source": "explicit",
                "captured_on": dt.date(2025, 1, 1),
            },
        )
    )
    assert result.dates["date_text"].to_list() == ["Mar 1, 2024"]


def test_paper_id_ignores_record_order_and_copies():
    a = {"title": "Meta Learning", "abstract": ABSTRACT}
    b = {"title": "Continual Learning", "abstract": OTHER_ABSTRACT}
    first = deduplicate(records(a, b)).papers.sort("paper_id")
    second = deduplicate(records(b, a, a)).papers.sort("paper_id")
    assert first["paper_id"].to_list() == second["paper_id"].to_list()
    assert second["source_count"].to_list() != first["source_count"].to_list()


def test_record_paper_ids_align_with_input_rows():
    result = deduplicate(
        records(
            {"title": "B paper", "abstract": OTHER_ABSTRACT},
            {"title": "A paper", "abstract": ABSTRACT},
            {"title": "b-paper", "abstract": OTHER_ABSTRACT},
        )
    )
    ids = result.record_paper_ids.to_list()
    assert ids[0] == ids[2] != ids[1]
    assert result.merged_records == 1


def test_revised_title_matches_across_hyphen_and_spacing_variants():
    assert (
        paper_count(
            {
                "title": "Xika o1: Towards Data Efficient Motion Forecasting via Energy Based Models",
                "abstract": ABSTRACT,
            },
            {
                "title": "Xika-o1: Practical Towards Data-Efficient Motion Forecasting via Energy-Based Models",
                "abstract": ABSTRACT,
            },
        )
        == 1
    )


_TITLE_WORDS = ["deep", "learning", "vision", "language", "model", "models", "scaling", "laws"]


@st.composite
def _titles_in_blocks(draw: st.DrawFn) -> tuple[list[str], list[list[int]]]:
    """Titles, and blocks of them: sorted lists of distinct indices, which may overlap."""
    titles = draw(
        st.lists(
            st.lists(st.sampled_from(_TITLE_WORDS), min_size=1, max_size=5).map(" ".join),
            min_size=2,
            max_size=30,
        )
    )
    indices = st.integers(0, len(titles) - 1)
    blocks = draw(st.lists(st.sets(indices, min_size=2).map(sorted), min_size=1, max_size=4))
    return titles, blocks


@given(_titles_in_blocks(), st.sampled_from([2, 5, 200]))
def test_title_pairs_are_every_similar_pair_within_a_block(
    titles_and_blocks: tuple[list[str], list[list[int]]], max_batched_block: int
) -> None:
    """Batched pairs and per-block matrices find exactly the pairs a plain loop finds."""
    from rapidfuzz import fuzz

    from etl import config
    from etl.dedupe import _similar_title_pairs

    titles, blocks = titles_and_blocks
    keys = [t.replace(" ", "") for t in titles]
    cutoff = config.REVISED_TITLE_MIN_SIMILARITY
    expected = sorted(
        {
            (block[i], block[j])
            for block in blocks
            for i in range(len(block))
            for j in range(i + 1, len(block))
            if fuzz.token_set_ratio(titles[block[i]], titles[block[j]]) >= cutoff
            or fuzz.ratio(keys[block[i]], keys[block[j]]) >= cutoff
        }
    )
    assert _similar_title_pairs(blocks, titles, keys, max_batched_block) == expected


def test_papers_whose_ids_clash_hash_their_whole_abstracts():
    """Same title and the same first 100 characters of abstract, then different: two papers
    whose smallest record ids are equal, so both ids hash the whole abstract instead."""
    opening = ABSTRACT[:100]
    frame = records(
        {"title": "Meta Learning", "abstract": opening + OTHER_ABSTRACT},
        {"title": "Meta Learning", "abstract": opening + " " + ABSTRACT[::-1]},
    )
    assert frame["record_id"].n_unique() == 1
    result = deduplicate(frame)
    keys = abstract_key(frame["abstract"], frame["abstract_len"])
    expected = {stable_id("metalearning", a) for a in keys}
    assert set(result.papers["paper_id"]) == expected


@pytest.mark.parametrize("fields", [_PAPER_FIELDS, _AUTHOR_FIELDS, _DATE_FIELDS])
def test_a_paper_with_one_record_takes_what_merging_that_record_gives(fields: _Fields) -> None:
    frame = records(
        {"title": "Meta Learning", "abstract": ABSTRACT, "author_count": 3, "upvotes": 7},
        {"title": "Meta Learning", "abstract": None, "captured_on": dt.date(2025, 1, 1)},
        {
            "title": "Continual Learning",
            "abstract": OTHER_ABSTRACT,
            "published_date": dt.date(2024, 3, 1),
            "date_text": "Mar 1",
            "year_source": "capture_date",
            "captured_on": dt.date(2024, 6, 1),
        },
    )
    own_papers = frame.with_columns(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("paper"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_record"),
        pl.lit(5, pl.UInt32).alias("title_code"),
    ).lazy()
    taken = _per_paper(own_papers.with_columns(single=pl.lit(True)), fields)
    merged = _per_paper(own_papers.with_columns(single=pl.lit(False)), fields)
    assert taken.collect().equals(merged.sort("paper").collect())


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.builds(
                str.__add__,
                st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60),
                st.sampled_from(["", "...", "…", " ...", " \u2026", "....", "...x", ". . ."]),
            ),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_the_stored_abstract_and_its_length_give_back_the_abstract_key(
    abstracts_in: list[str | None],
) -> None:
    raw = pl.DataFrame(
        {"title": ["T"] * len(abstracts_in), "abstract": abstracts_in},
        schema={"title": pl.String, "abstract": pl.String},
    )
    cleaned = clean_records(raw)
    derived = abstract_key(cleaned["abstract"], cleaned["abstract_len"])
    assert derived.to_list() == cleaned["abstract_key"].to_list()
