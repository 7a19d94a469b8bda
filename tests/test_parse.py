"""One test per parsing rule, each on the smallest dump that shows it."""

from __future__ import annotations

import datetime as dt

from etl.dumps import parse_file
from etl.parse import parse_dump

ABSTRACT_1 = (
    "We study how small models learn to plan over long horizons. Our method combines search "
    "with learned value functions and improves success rates on three benchmarks."
)
ABSTRACT_2 = (
    "This paper introduces a benchmark for multilingual retrieval with many languages. "
    "We evaluate twelve systems and find that dense retrievers still lag behind in low-resource settings."
)
ABSTRACT_3 = (
    "Scaling laws describe how loss falls with compute, data and parameters for language "
    "models. We revisit them for mixture of experts and report new exponents here."
)
HEADER = (
    "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
    "byAK and the research community\n\nNov 11\n\n"
)
CAPTURED = dt.date(2025, 11, 11)


def footer(authors: str = "4 authors", date: str = "Apr 5") -> str:
    return f"  • {authors}\n·\n{date}\n\n"


def search_page(*papers: str) -> str:
    return HEADER + "".join(papers)


def paper(title: str, abstract: str, foot: str | None = None) -> str:
    return f"{title}\n\n{abstract}\n\n" + (foot if foot is not None else footer())


def compact(*pairs: tuple[str, str]) -> str:
    head = "Get trending papers in your email inbox once a day!\nGet trending papers in your email inbox!\n"
    body = "\n".join(f"{t}\n{a}" for t, a in pairs)
    return head + "Subscribe" + body + "\n"


def reasons(dump) -> list[str]:
    return [r.reason for r in dump.rejects]


def test_search_page_yields_title_abstract_and_footer():
    dump = parse_dump(search_page(paper("Planning Models", ABSTRACT_1)), CAPTURED)
    assert dump.dump_format == "search_page"
    (record,) = dump.records
    assert (record.title, record.abstract, record.author_count) == (
        "Planning Models",
        ABSTRACT_1,
        4,
    )
    assert (record.date_text, record.published_date) == ("Apr 5", dt.date(2025, 4, 5))
    assert (record.line_start, record.line_end) == (13, 19)


def test_header_lines_and_page_date_are_boilerplate():
    dump = parse_dump(search_page(paper("Planning Models", ABSTRACT_1)), CAPTURED)
    assert dump.page_date_text == "Nov 11"
    assert dump.rejects == []
    # 11 header lines and the blank after them, plus the 3 blank lines around the record
    assert dump.boilerplate_lines == 12 + 3
    assert dump.record_lines == 5


def test_compact_copy_alternates_title_and_abstract():
    dump = parse_dump(compact(("Planning Models", ABSTRACT_1), ("Retrieval Bench", ABSTRACT_2)))
    assert dump.dump_format == "compact"
    assert [(r.title, r.abstract) for r in dump.records] == [
        ("Planning Models", ABSTRACT_1),
        ("Retrieval Bench", ABSTRACT_2),
    ]
    assert [(r.line_start, r.line_end) for r in dump.records] == [(3, 4), (5, 6)]


def test_subscribe_glued_to_first_title_is_stripped():
    dump = parse_dump(compact(("Bottom-Up Skill Discovery", ABSTRACT_1)))
    assert dump.records[0].title == "Bottom-Up Skill Discovery"
    assert dump.boilerplate_lines == 2


def test_footerless_paper_gets_no_author_count_or_date():
    text = search_page(
        paper("Skill-Targeted Adaptive Training", ABSTRACT_1, foot=""),
        paper("Retrieval Bench", ABSTRACT_2),
    )
    first, second = parse_dump(text, CAPTURED).records
    assert (first.author_count, first.date_text, first.upvotes) == (None, None, None)
    assert first.line_end == first.line_start + 2
    assert second.author_count == 4


def test_upvotes_follow_the_date():
    text = search_page(
        paper("A", ABSTRACT_1, footer(date="Feb 28, 2024 2")),
        paper("B", ABSTRACT_2, footer(date="Apr 16 7")),
    )
    first, second = parse_dump(text, CAPTURED).records
    assert (first.date_text, first.upvotes, first.published_date) == (
        "Feb 28, 2024",
        2,
        dt.date(2024, 2, 28),
    )
    assert (second.date_text, second.upvotes, second.published_date) == (
        "Apr 16",
        7,
        dt.date(2025, 4, 16),
    )


def test_yearless_date_takes_the_manifest_capture_year():
    record = parse_dump(
        search_page(paper("A", ABSTRACT_1, footer(date="Jan 3"))), CAPTURED
    ).records[0]
    assert (record.published_date, record.year_source) == (dt.date(2025, 1, 3), "capture_date")


def test_yearless_date_without_manifest_is_inferred_after_latest_explicit_year():
    text = search_page(
        paper("A", ABSTRACT_1, footer(date="Jan 3")),
        paper("B", ABSTRACT_2, footer(date="Dec 8, 2022")),
        paper("C", ABSTRACT_3, footer(date="Oct 4, 2023")),
    )
    dump = parse_dump(text)
    first = dump.records[0]
    assert (first.published_date, first.year_source) == (dt.date(2024, 1, 3), "inferred")
    assert dump.records[1].year_source == "explicit"
    assert dump.captured_on == dt.date(2024, 11, 11)  # the page date in the inferred year


def test_yearless_date_with_no_year_anywhere_is_rejected():
    dump = parse_dump(search_page(paper("A", ABSTRACT_1, footer(date="Jan 3"))))
    assert reasons(dump) == ["unknown_capture_year"]
    assert dump.records[0].published_date is None
    assert dump.records[0].author_count == 4


def test_impossible_calendar_date_is_rejected_and_the_paper_kept():
    dump = parse_dump(search_page(paper("A", ABSTRACT_1, footer(date="Feb 30, 2024"))), CAPTURED)
    assert reasons(dump) == ["invalid_date"]
    assert dump.rejects[0].text == "Feb 30, 2024"
    assert dump.records[0].author_count == 4 and dump.records[0].date_text is None


def test_unknown_month_in_date_position_is_rejected():
    dump = parse_dump(search_page(paper("A", ABSTRACT_1, footer(date="Foo 12, 2024"))), CAPTURED)
    assert reasons(dump) == ["invalid_date"]
    assert [r.title for r in dump.records] == ["A"]


def test_date_after_capture_is_rejected():
    dump = parse_dump(search_page(paper("A", ABSTRACT_1, footer(date="Dec 20"))), CAPTURED)
    assert reasons(dump) == ["date_out_of_range"]


def test_date_before_1990_is_rejected():
    dump = parse_dump(search_page(paper("A", ABSTRACT_1, footer(date="Mar 1, 1985"))), CAPTURED)
    assert reasons(dump) == ["date_out_of_range"]


def test_absurd_author_counts_are_rejected():
    for count in ("0 authors", "-3 authors", "99999 authors"):
        dump = parse_dump(search_page(paper("A", ABSTRACT_1, footer(authors=count))), CAPTURED)
        assert reasons(dump) == ["invalid_author_count"], count
        record = dump.records[0]
        assert record.author_count is None and record.published_date == dt.date(2025, 4, 5)


def test_footer_with_no_title_is_rejected():
    dump = parse_dump(HEADER + footer(), CAPTURED)
    assert reasons(dump) == ["footer_without_title"] * 3
    assert dump.records == []


def test_second_footer_in_a_row_is_rejected():
    dump = parse_dump(search_page(paper("A", ABSTRACT_1) + footer(authors="9 authors")), CAPTURED)
    assert dump.records[0].author_count == 4
    assert reasons(dump) == ["footer_without_title"] * 3


def test_title_with_no_abstract_before_a_footer_is_kept_without_abstract():
    dump = parse_dump(search_page("Lonely Title\n\n" + footer()), CAPTURED)
    (record,) = dump.records
    assert (record.title, record.abstract, record.author_count) == ("Lonely Title", None, 4)
    assert dump.warnings[0].message == "title with no abstract"


def test_title_with_no_abstract_between_papers_is_kept_and_pairing_recovers():
    text = compact(("First Paper", ABSTRACT_1), ("Orphan Title", ABSTRACT_2))
    text = text.replace("Orphan Title\n", "Orphan Title\nSecond Paper\n")
    dump = parse_dump(text)
    assert [(r.title, r.abstract is not None) for r in dump.records] == [
        ("First Paper", True),
        ("Orphan Title", False),
        ("Second Paper", True),
    ]


def test_abstract_with_no_title_is_rejected():
    dump = parse_dump(search_page(ABSTRACT_3 + "\n\n" + paper("A", ABSTRACT_1)), CAPTURED)
    assert reasons(dump) == ["abstract_without_title"]
    assert [r.title for r in dump.records] == ["A"]


def test_overlong_title_is_rejected():
    long_title = "Word " * 1000
    dump = parse_dump(search_page(paper(long_title.strip(), ABSTRACT_1)), CAPTURED)
    # With its title gone, the abstract and footer belong to no paper either.
    assert (
        reasons(dump) == ["title_too_long", "abstract_without_title"] + ["footer_without_title"] * 3
    )
    assert dump.records == []


def test_copy_cut_off_mid_abstract_keeps_the_title_and_rejects_the_fragment():
    text = compact(("Planning Models", ABSTRACT_1), ("Retrieval Bench", ABSTRACT_2))
    text = text[: text.index("dense retrievers")]  # no newline at the end: interrupted
    dump = parse_dump(text)
    assert [r.title for r in dump.records] == ["Planning Models", "Retrieval Bench"]
    assert dump.records[1].abstract is None
    assert reasons(dump) == ["truncated_abstract"]


def test_empty_and_whitespace_files_are_rejected_whole():
    assert reasons(parse_dump("")) == ["empty_file"]
    blank = parse_dump("  \n\n\t\n")
    assert reasons(blank) == ["empty_file"] and blank.rejected_lines == blank.total_lines == 3


def test_html_save_is_unrecognized():
    dump = parse_dump("<!DOCTYPE html>\n<html><body>Papers</body></html>\n")
    assert reasons(dump) == ["unrecognized_format"]
    assert dump.records == [] and dump.rejected_lines == 2


def test_text_of_another_site_is_unrecognized():
    listing = (
        "arXiv:2401.00001\nTitle: Something\nAuthors: A. Person, B. Person\n"
        "Comments: 12 pages\nSubjects: Machine Learning (cs.LG)\n"
    )
    dump = parse_dump(listing)
    assert reasons(dump) == ["unrecognized_format"]


def test_crlf_bom_nfd_and_spaces_do_not_change_what_is_extracted():
    title = "Café Models for Zürich"
    clean = search_page(paper(title, ABSTRACT_1))
    messy = "\ufeff" + clean.replace("é", "e\u0301").replace("ü", "u\u0308")
    messy = messy.replace("\n", "  \r\n").replace(" for ", "  for ")
    fields = ["title", "abstract", "author_count", "published_date", "title_key", "abstract_len"]
    a = parse_file(clean.encode(), "a.txt", CAPTURED).records.select(fields)
    b = parse_file(messy.encode(), "b.txt", CAPTURED).records.select(fields)
    assert a.equals(b)
    assert a["title"].to_list() == [title]


def test_every_line_is_accounted_for_on_the_seeds():
    from tests.conftest import COMPACT_SEED, SEARCH_SEED

    for seed, captured, expected in ((SEARCH_SEED, CAPTURED, 45), (COMPACT_SEED, None, 119)):
        text = seed.read_text(encoding="utf-8")
        dump = parse_dump(text, captured)
        assert len(dump.records) == expected
        assert dump.rejects == []
        assert dump.accounted_lines == dump.total_lines == len(text.rstrip("\n").split("\n"))


def test_pasted_pages_are_split_at_their_chrome():
    from etl.parse import page_starts

    one = search_page(paper("A", ABSTRACT_1))
    lines = (one + one).split("\n")
    # The blank line before the second chrome goes with it: it is chrome's spacing.
    assert page_starts(lines) == [0, one.count("\n") - 1]
    assert page_starts(("Stray line\n\n" + one).split("\n")) == [0]


def test_pasted_pages_keep_their_page_dates_as_boilerplate():
    text = search_page(paper("A", ABSTRACT_1)) + search_page(paper("B", ABSTRACT_2))
    result = parse_file(text.encode(), "pasted.txt", CAPTURED)
    assert result.rejects == []
    assert result.records["title"].to_list() == ["A", "B"]
    second_title_line = text.split("\n").index("B") + 1
    assert result.records["line_start"].to_list() == [13, second_title_line]
    assert result.total_lines == result.boilerplate_lines + result.record_lines


def test_pasted_pages_share_the_dump_capture_year():
    first = search_page(paper("A", ABSTRACT_1, footer(date="Mar 3, 2022")))
    second = search_page(paper("B", ABSTRACT_2, footer(date="Jan 3")))
    result = parse_file((first + second).encode(), "pasted.txt", None)
    dates = dict(zip(result.records["title"], result.records["published_date"], strict=True))
    assert dates == {"A": dt.date(2022, 3, 3), "B": dt.date(2023, 1, 3)}
    assert result.records["captured_on"].to_list() == [dt.date(2023, 11, 11)] * 2


def test_pasted_pages_captured_on_different_days_keep_their_own_capture_dates():
    """A dump that pages of several days were pasted into: each record is captured when its
    page was. With the first page's date for every record, the later page's papers were
    published after their capture, which failed validation and refused the whole build."""
    first = search_page(paper("A", ABSTRACT_1, footer(date="Mar 3, 2022")))
    second = HEADER.replace("Nov 11", "Dec 20") + paper("B", ABSTRACT_2, footer(date="Dec 19"))
    untitled = HEADER.replace("Nov 11\n\n", "") + paper("C", ABSTRACT_3, footer(date="Jan 3"))
    for pages in ((first, second, untitled), (first, untitled, second)):
        result = parse_file("".join(pages).encode(), "pasted.txt", None)
        by_title = {
            row["title"]: (row["published_date"], row["captured_on"])
            for row in result.records.to_dicts()
        }
        assert by_title == {
            "A": (dt.date(2022, 3, 3), dt.date(2023, 11, 11)),
            "B": (dt.date(2023, 12, 19), dt.date(2023, 12, 20)),
            "C": (dt.date(2023, 1, 3), None),  # its page shows no date
        }


# -- dumps joined without a newline between them ---------------------------------------------


def test_a_dump_joined_to_the_next_without_a_newline_keeps_its_last_date():
    """`cat a.txt b.txt` when a.txt ends without a newline (as a browser copy does) glues
    the next page's chrome to the last line: `Apr 5Get trending papers ...`. That line was
    taken for a title with no abstract (a paper named after the chrome, which failed
    validation and refused the build), and the paper above lost its date."""
    first = search_page(paper("A", ABSTRACT_1)).rstrip("\n")
    second = compact(("B", ABSTRACT_2))
    glued = parse_file((first + second).encode(), "joined.txt", CAPTURED)
    apart = [parse_file(t.encode(), "apart.txt", CAPTURED) for t in (first, second)]
    assert glued.rejects == [] and glued.warnings == []
    columns = ["title", "abstract", "author_count", "published_date", "date_text"]
    assert glued.records.select(columns).to_dicts() == [
        *apart[0].records.select(columns).to_dicts(),
        *apart[1].records.select(columns).to_dicts(),
    ]
    assert glued.records["published_date"][0] == dt.date(2025, 4, 5)
    assert glued.total_lines == glued.boilerplate_lines + glued.record_lines


def test_an_abstract_joined_to_the_next_dump_loses_the_chrome_only():
    first = compact(("A", ABSTRACT_1)).rstrip("\n")
    glued = parse_file((first + search_page(paper("B", ABSTRACT_2))).encode(), "j.txt", CAPTURED)
    assert glued.rejects == []
    assert glued.records["abstract"].to_list() == [ABSTRACT_1, ABSTRACT_2]


def test_prose_quoting_the_chrome_keeps_it_when_long_enough_not_to_be_chrome():
    """Only chrome glued on with nothing between is cut off. An abstract as short as a title
    quoting it reads as chrome (the papers rules), and is rejected; a longer one is kept."""
    for abstract, kept in ((ABSTRACT_1, False), (ABSTRACT_1 * 2, True)):
        quoting = abstract.rstrip(".") + ": Get trending papers in your email inbox!"
        result = parse_file(compact(("A", quoting)).encode(), "q.txt", CAPTURED)
        assert result.records["abstract"].to_list() == ([quoting] if kept else [])
        assert [r.reason for r in result.rejects] == ([] if kept else ["boilerplate_in_record"])


def test_a_title_ending_in_new_is_kept_where_no_chrome_follows():
    text = compact(("Brand-new", ABSTRACT_1), ("B", ABSTRACT_2))
    assert parse_file(text.encode(), "n.txt", CAPTURED).records["title"].to_list() == [
        "Brand-new",
        "B",
    ]
    assert [r.title for r in parse_dump(text, CAPTURED).records] == ["Brand-new", "B"]


def test_a_glued_date_still_dates_the_dump():
    """`Dec 20, 2022new` is the dump's only explicit year: the yearless date of the page
    after it takes the year after it, as with a line break between them."""
    first = search_page(paper("A", ABSTRACT_1, footer(date="Dec 20, 2022"))).rstrip("\n")
    second = search_page(paper("B", ABSTRACT_2))
    glued = parse_file((first + second).encode(), "g.txt", None)
    apart = parse_file((first + "\n" + second).encode(), "a.txt", None)
    assert glued.rejects == apart.rejects == []
    dates = glued.records["published_date"].to_list()
    assert dates == apart.records["published_date"].to_list()
    assert dates == [dt.date(2022, 12, 20), dt.date(2023, 4, 5)]
    assert [r.published_date for r in parse_dump(first + second).records] == dates


def test_a_listing_page_joined_without_a_newline_keeps_the_last_date_and_abstract():
    """A listing page opens with `new`: `Apr 5new`, or an abstract's `... benchmarks.new`."""
    for first, first_date in (
        (search_page(paper("A", ABSTRACT_1)), dt.date(2025, 4, 5)),
        (compact(("A", ABSTRACT_1)), None),
    ):
        text = first.rstrip("\n") + search_page(paper("B", ABSTRACT_2))
        joined = parse_file(text.encode(), "joined.txt", CAPTURED)
        assert joined.rejects == [] and joined.warnings == []
        assert joined.records["title"].to_list() == ["A", "B"]
        assert joined.records["abstract"].to_list() == [ABSTRACT_1, ABSTRACT_2]
        dates = [first_date, dt.date(2025, 4, 5)]
        assert joined.records["published_date"].to_list() == dates
        whole = parse_dump(text, CAPTURED)  # the line parser, not cut into pages
        assert [(r.title, r.abstract, r.published_date) for r in whole.records] == list(
            zip(["A", "B"], [ABSTRACT_1, ABSTRACT_2], dates, strict=True)
        )
    a_word = compact(("A", ABSTRACT_1.rstrip(".") + " that nobody knew"))
    kept = parse_file(a_word.encode(), "k.txt", CAPTURED)
    assert kept.records["abstract"].to_list() == [ABSTRACT_1.rstrip(".") + " that nobody knew"]


# -- records that cannot be papers ------------------------------------------------------------


def test_records_that_cannot_be_papers_are_rejected_whole_by_both_parsers():
    """Kept as papers they failed validation (a title with a letter or digit, an abstract of
    20 to 10,000 characters as stored), which refused every dump of the build."""
    long_prose = ("word " * 2000).strip() + "."  # 10,000 characters once stored
    cases = [
        ("---", ABSTRACT_1, "title_without_letter_or_digit"),
        ("🙂 🙂", ABSTRACT_1, "title_without_letter_or_digit"),
        ("Short", "Too short.", "abstract_too_short"),
        ("Long", long_prose + " x", "abstract_too_long"),
    ]
    for title, abstract, reason in cases:
        text = compact(("A", ABSTRACT_2), (title, abstract), ("B", ABSTRACT_3))
        fast = parse_file(text.encode(), "c.txt", CAPTURED)  # fast parser, then line parser
        slow = parse_dump(text, CAPTURED)
        assert fast.records["title"].to_list() == [r.title for r in slow.records] == ["A", "B"]
        for result in (fast, slow):
            (reject,) = result.rejects
            assert (reject.line_start, reject.line_end, reject.reason) == (5, 6, reason), title
            assert reject.text.startswith(f"{title}\n{abstract[:100]}")
            assert result.rejected_lines == 2
            assert result.total_lines == result.boilerplate_lines + result.record_lines + 2


def test_records_within_the_bounds_once_stored_are_kept():
    """Judged as stored: spaces folded (a long abstract of double spaces), NFC (a title of a
    letter and its accent), a letter or digit anywhere (`3D`, `Ω`)."""
    long_prose = ("word " * 2000).strip() + "."
    doubled = long_prose.replace(" ", "  ")  # 20,000 characters as written
    for title, abstract in [("3D", ABSTRACT_1), ("Ω", ABSTRACT_1), ("A", doubled)]:
        text = compact((title, abstract))
        result = parse_file(text.encode(), "c.txt", CAPTURED)
        assert result.rejects == [], title
        assert result.records["title"].to_list() == [title]


def test_a_record_that_cannot_be_a_paper_still_dates_its_page():
    """Its footer's explicit year is the page's only one: B's yearless date needs it."""
    text = search_page(
        paper("---", ABSTRACT_1, footer(date="Mar 3, 2024")), paper("B", ABSTRACT_2)
    )
    fast, slow = parse_file(text.encode(), "d.txt", None), parse_dump(text)
    assert fast.records["published_date"].to_list() == [dt.date(2025, 4, 5)]  # after 2024
    assert [r.published_date for r in slow.records] == [dt.date(2025, 4, 5)]
    for result in (fast, slow):
        assert [r.reason for r in result.rejects] == ["title_without_letter_or_digit"]


def test_a_title_too_long_once_stored_is_rejected_by_both_parsers():
    """300 characters as written, 600 in NFC (each U+0958 decomposes): papers' titles are 300
    at most, and one this long failed validation and refused the build."""
    text = compact(("A", ABSTRACT_2), ("\u0958" * 300, ABSTRACT_1))
    for result in (parse_file(text.encode(), "t.txt", CAPTURED), parse_dump(text, CAPTURED)):
        assert [(r.line_start, r.reason) for r in result.rejects] == [(5, "title_too_long")]


def test_glued_chrome_before_a_page_mark_line_with_text_after_it_agrees():
    """`page_starts` takes any line opening with the mark for a page's start; so does the
    glue rule, or the page-by-page parse and the whole-dump parse told A's date apart."""
    first = search_page(paper("A", ABSTRACT_1)).rstrip("\n") + "new"
    second = "\n\nGet trending papers in your email inbox!Subscribe\n\nB\n\n" + ABSTRACT_2
    text = first + second + "\n\n" + footer()
    by_pages = parse_file(text.encode(), "p.txt", CAPTURED)
    whole = parse_dump(text, CAPTURED)
    assert by_pages.rejects == whole.rejects == []
    dates = by_pages.records["published_date"].to_list()
    assert dates == [r.published_date for r in whole.records] == [dt.date(2025, 4, 5)] * 2
