"""Footer dates: parse what the page shows, and give yearless dates their capture year.

The page omits the year for papers published in the year it is viewed, so a yearless date
takes the dump's capture year: from the manifest when the dump is listed there
(`capture_date`), otherwise inferred as the year after the latest explicit year in the dump
(`inferred`) — the page cannot show the current year, so capture is later than all of them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from etl import config

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: i for i, name in enumerate(MONTHS, start=1)}

# `Apr 5`, `Feb 28, 2024`, optionally followed by the upvote count: `Feb 28, 2024 2`.
FOOTER_DATE = re.compile(
    r"(?P<text>(?P<month>" + "|".join(MONTHS) + r") (?P<day>\d{1,2})(?:, (?P<year>\d{4}))?)"
    r"(?: (?P<upvotes>\d{1,7}))?"
)
# Anything shaped like a date where the footer's date belongs, valid or not (`Foo 12, 2024`).
DATE_LIKE = re.compile(r"[A-Za-z]{3,9}\.? +\d{1,2}(?:, *\d{1,4})?(?: +\d+)?")


# Where the calendar date is latest, the Line Islands (UTC+14): a page captured "today" far
# east is not from the future for a machine further west.
LATEST_TIME_ZONE = dt.timezone(dt.timedelta(hours=14))


def latest_today() -> dt.date:
    """The latest date it is anywhere now: no page can have been captured after it."""
    return dt.datetime.now(LATEST_TIME_ZONE).date()


@dataclass(frozen=True, slots=True)
class FooterDate:
    text: str
    month: int
    day: int
    year: int | None
    upvotes: int | None


def parse_footer_date(line: str) -> FooterDate | None:
    """The date (and upvotes) of a footer line, or None if the line is not one."""
    match = FOOTER_DATE.fullmatch(line.strip())
    if match is None:
        return None
    year = match["year"]
    upvotes = match["upvotes"]
    return FooterDate(
        text=match["text"],
        month=_MONTH_NUMBER[match["month"]],
        day=int(match["day"]),
        year=int(year) if year else None,
        upvotes=int(upvotes) if upvotes else None,
    )


def is_date_like(line: str) -> bool:
    return DATE_LIKE.fullmatch(line.strip()) is not None


@dataclass(frozen=True, slots=True)
class CaptureYear:
    """The year yearless dates belong to, where it comes from, and the latest possible date."""

    year: int | None
    source: str | None
    latest: dt.date | None
    captured_on: dt.date | None


def capture_year(
    manifest_date: dt.date | None, explicit_years: list[int], page_date: FooterDate | None
) -> CaptureYear:
    """Decide the capture year of one dump (see module docstring). Never a capture after
    today, nor a year no capture could be in: taken, they failed validation, and refused
    every dump of the build."""
    if manifest_date is not None:
        return CaptureYear(manifest_date.year, "capture_date", manifest_date, manifest_date)
    # A year before any paper (a typo, `1900`) dates no capture: its date is rejected anyway.
    explicit_years = [y for y in explicit_years if y >= config.MIN_PUBLISHED_YEAR]
    if not explicit_years:
        return CaptureYear(None, None, None, None)
    year = max(explicit_years) + 1
    today = latest_today()
    if year > today.year:  # a year shown that is this one or later: no capture follows it
        return CaptureYear(None, None, None, None)
    captured_on = None
    if page_date is not None:
        try:
            captured_on = dt.date(year, page_date.month, page_date.day)
        except ValueError:
            captured_on = None
    if captured_on is not None and captured_on > today:  # not this year's `Dec 20` yet
        captured_on = None
    latest = min(captured_on or dt.date(year, 12, 31), today)
    return CaptureYear(year, "inferred", latest, captured_on)


def resolve_date(
    footer: FooterDate, capture: CaptureYear
) -> tuple[dt.date | None, str, str | None]:
    """(published_date, year_source, reject_reason): exactly one of date and reason is set."""
    if footer.year is not None:
        year, source = footer.year, "explicit"
    elif capture.year is not None and capture.source is not None:
        year, source = capture.year, capture.source
    else:
        return None, "", "unknown_capture_year"
    try:
        published = dt.date(year, footer.month, footer.day)
    except ValueError:
        return None, source, "invalid_date"
    if published.year < config.MIN_PUBLISHED_YEAR:
        return None, source, "date_out_of_range"
    if published > (capture.latest or latest_today()):  # no paper is from the future
        return None, source, "date_out_of_range"
    return published, source, None
