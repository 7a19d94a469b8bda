"""Footer dates and capture years."""

from __future__ import annotations

import datetime as dt

from etl.dates import FooterDate, capture_year, latest_today, parse_footer_date, resolve_date


def test_footer_date_with_year_and_upvotes():
    date = parse_footer_date("Feb 28, 2024 2")
    assert date is not None
    assert (date.text, date.month, date.day, date.year, date.upvotes) == (
        "Feb 28, 2024",
        2,
        28,
        2024,
        2,
    )


def test_footer_date_without_year():
    date = parse_footer_date("Apr 5")
    assert date is not None and (date.year, date.upvotes) == (None, None)


def test_non_dates_are_not_footer_dates():
    for line in ("April 5", "Foo 12, 2024", "Apr", "Nov 11 papers", "5 Apr"):
        assert parse_footer_date(line) is None, line


def test_manifest_capture_date_wins():
    capture = capture_year(dt.date(2025, 11, 11), [2024], None)
    assert (capture.year, capture.source, capture.latest) == (
        2025,
        "capture_date",
        dt.date(2025, 11, 11),
    )


def test_capture_year_inferred_as_after_latest_explicit_year():
    capture = capture_year(None, [2019, 2023, 2022], None)
    assert (capture.year, capture.source, capture.captured_on) == (2024, "inferred", None)


def test_no_manifest_and_no_explicit_year_means_unknown():
    capture = capture_year(None, [], None)
    footer = parse_footer_date("Apr 5")
    assert footer is not None
    assert resolve_date(footer, capture) == (None, "", "unknown_capture_year")


def test_leap_day_depends_on_the_year():
    leap = parse_footer_date("Feb 29")
    assert leap is not None
    assert resolve_date(leap, capture_year(dt.date(2024, 12, 1), [], None))[0] == dt.date(
        2024, 2, 29
    )
    assert resolve_date(leap, capture_year(dt.date(2025, 12, 1), [], None))[2] == "invalid_date"


def test_nothing_is_dated_after_today():
    """A page showing a year to come, or a page date not reached yet this year, gave papers
    and captures from the future: validation refused every dump of the build."""
    today = latest_today()
    shown = FooterDate(f"Jan 1, {today.year}", 1, 1, today.year, None)
    assert capture_year(None, [today.year], None) == capture_year(None, [], None)
    assert resolve_date(shown, capture_year(None, [], None))[0] == dt.date(today.year, 1, 1)
    ahead = FooterDate(f"Dec 31, {today.year + 1}", 12, 31, today.year + 1, None)
    assert resolve_date(ahead, capture_year(None, [], None)) == (
        None,
        "explicit",
        "date_out_of_range",
    )
    # Captured in a year shown as last year's, on a page date this year has not reached.
    tomorrow = today + dt.timedelta(days=1)
    if tomorrow.year == today.year:
        page = FooterDate(f"{tomorrow:%b} {tomorrow.day}", tomorrow.month, tomorrow.day, None, None)
        capture = capture_year(None, [today.year - 1], page)
        assert (capture.year, capture.captured_on, capture.latest) == (today.year, None, today)


def test_a_year_before_any_paper_dates_no_capture():
    """`Jan 1, 1900` (a typo) made every record of its page captured in 1901."""
    page = FooterDate("Nov 11", 11, 11, None, None)
    assert capture_year(None, [1900], page) == capture_year(None, [], page)
    assert capture_year(None, [1900, 2023], page).captured_on == dt.date(2024, 11, 11)
