"""Parse: one dump's text -> raw records + rejects, with every line accounted for.

Both dump formats are the same sequence of non-blank lines once blank lines are set
aside: page boilerplate, then per paper a title, an abstract and an optional footer
(`  • N authors`, `·`, `Apr 5` or `Feb 28, 2024 2`). The search-results page puts blank
lines between everything; the compact copy has none and no footers. So one assembler
reads both, and the format is only a label (and a sanity check) decided from the content.

Every line ends up with exactly one label — boilerplate (page chrome and blank lines),
record, or rejected — and `ParsedDump` carries the three counts.

Bytes that are not valid text (kept as lone surrogates, see `etl.decode`) never give a
value: a line holding them is classified by its other characters (a footer line stays its
record's footer line), and a record any of whose lines holds them is rejected whole.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from etl import config
from etl.dates import (
    FooterDate,
    capture_year,
    is_date_like,
    parse_footer_date,
    resolve_date,
)
from etl.normalize import dump_lines, has_undecoded_bytes, printable, stored_text
from etl.records import LineWarning, ParsedDump, RawRecord, Reject

# Lines of page chrome, as whole lines. They can appear anywhere (several pages pasted
# into one dump), and are glued to the next line when a copy loses the line break.
PAGE_BOILERPLATE = (
    "Get trending papers in your email inbox once a day!",
    "Get trending papers in your email inbox!",
    "byAK and the research community",
    "Daily Papers",
    "Subscribe",
    "new",
)
_BOILERPLATE_LINES = frozenset(PAGE_BOILERPLATE)
# `new` is a real word at the start of titles, so only the multi-word chrome and
# `Subscribe` are stripped when glued to the next line.
GLUED_PREFIXES = tuple(p for p in PAGE_BOILERPLATE if p != "new")

_AUTHORS = re.compile(r"\s*•\s*(-?\d[\d,]*)\s+authors?")
_FOOTER_DOT = "·"
SENTENCE_END = (".", "!", "?", ")", '"', "'", "\u201d", "\u2019", "]")
HTML_START = re.compile(r"\s*<(?:!doctype|html|head|body|\?xml)", re.IGNORECASE)

BLANK, BOILERPLATE, RECORD, REJECTED = 0, 1, 2, 3


class Kind:
    """Line kinds the assembler reads (plain ints are faster than an Enum here)."""

    TEXT, HEADER, AUTHORS, DOT, DATE = range(5)


@dataclass(slots=True)
class Token:
    kind: int
    line: int  # 1-based
    text: str
    date: FooterDate | None = None
    authors: int | None = None
    readable: str | None = None  # the text without its undecodable bytes, if it holds any


def is_abstract_shaped(line: str) -> bool:
    """Abstracts are long prose ending a sentence; titles are short and do not.

    Used only where position alone cannot tell (a title with no abstract, an abstract with
    no title).
    """
    if len(line) > config.MAX_TITLE_CHARS:
        return True
    return len(line) >= 100 and line.endswith(SENTENCE_END) and line.count(" ") >= 14


def strip_glued_boilerplate(line: str) -> str:
    """`SubscribeBottom-Up Skill ...` -> `Bottom-Up Skill ...`."""
    stripped = True
    while stripped:
        stripped = False
        for prefix in GLUED_PREFIXES:
            if line.startswith(prefix):
                line = line[len(prefix) :].lstrip()
                stripped = True
    return line


# Page chrome and footer shapes that never are a paper's title, nor an abstract as short as
# a title can be: the papers suite's `title_not_boilerplate` and `abstract_not_boilerplate`
# patterns (tests/test_validate.py keeps them equal).
BOILERPLATE_PATTERNS = (
    "^Subscribe(?:[^a-z]|$)",
    "Get trending papers",
    "^Daily Papers$",
    "^byAK and the research community$",
    r"•\s*[0-9][0-9,]*\s+authors?",
    "^[·•]$",
    "^(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{1,2}(?:, [0-9]{4})?$",
)
BOILERPLATE_TEXT = "|".join(f"(?:{pattern})" for pattern in BOILERPLATE_PATTERNS)
_BOILERPLATE_TEXT = re.compile(BOILERPLATE_TEXT)

# The lines a copied page opens with (a listing page's `new`, a search page's `Get trending
# papers ...`), glued to the end of the line before them when a dump that ends without a
# newline, as a browser copy does, is joined to the next: `Dec 20, 2022new`.
GLUED_PAGE_STARTS = (*(p for p in PAGE_BOILERPLATE if p.startswith("Get trending")), "new")


def strip_glued_page_start(line: str) -> str:
    """`Dec 20, 2022Get trending papers in your email inbox once a day!` -> `Dec 20, 2022`.

    Only chrome glued on with nothing between: after a space it is prose quoting it, and
    `new` after a letter ends a word (`knew`). Only for the last line before a page's chrome
    (`tokenize`): `Brand-new` elsewhere is a title."""
    for chrome in GLUED_PAGE_STARTS:
        if line.endswith(chrome) and len(line) > len(chrome):
            before = line[-len(chrome) - 1]
            if not before.isspace() and not (chrome == "new" and before.isalpha()):
                return line[: -len(chrome)]
    return line


def _chrome_follows(lines: list[str], index: int, followed: bool) -> bool:
    """Whether page chrome comes next after `lines[index]`: the next non-blank line, or,
    after the last, the next page's (when one `followed`)."""
    for later in range(index + 1, len(lines)):
        line = lines[later]
        if line and not line.isspace():
            return _is_chrome(line)
    return followed


def tokenize(
    lines: list[str], undecoded_bytes: bool = False, followed: bool = False
) -> Iterator[Token]:
    """Classify each non-blank line; blank lines are skipped (they are boilerplate).

    With `undecoded_bytes`, a line holding undecodable bytes is classified by its other
    characters (`_read_past_undecoded`). A page's opening chrome glued to the line before it
    (`strip_glued_page_start`) is cut off where chrome follows: in these lines, or, when
    another page `followed` them, after their last line.
    """
    after_header = True  # the file start counts as a header position for glued chrome
    for index, line in enumerate(lines):
        if not line or line.isspace():
            continue
        number = index + 1
        if line in _BOILERPLATE_LINES:
            after_header = True
            yield Token(Kind.HEADER, number, line)
            continue
        if undecoded_bytes and has_undecoded_bytes(line):
            token = _read_past_undecoded(number, line)
            after_header = token.kind == Kind.HEADER
            yield token
            continue
        if after_header or line.startswith(_PAGE_MARK):  # a page's start, as page_starts says
            after_header = False
            unglued = strip_glued_boilerplate(line)
            if not unglued:
                yield Token(Kind.HEADER, number, line)
                after_header = True
                continue
            line = unglued
        if line.endswith(GLUED_PAGE_STARTS) and _chrome_follows(lines, index, followed):
            line = strip_glued_page_start(line)
        first = line[0]
        if first in " •":
            match = _AUTHORS.fullmatch(line)
            if match is not None:
                count = int(match[1].replace(",", ""))
                yield Token(Kind.AUTHORS, number, line, authors=count)
                continue
        elif first == _FOOTER_DOT and line.strip() == _FOOTER_DOT:
            yield Token(Kind.DOT, number, line)
            continue
        elif len(line) <= 24:
            date = parse_footer_date(line)
            if date is not None:
                yield Token(Kind.DATE, number, line, date=date)
                continue
        yield Token(Kind.TEXT, number, line)


def _read_past_undecoded(number: int, line: str) -> Token:
    """A line holding undecodable bytes, classified by its other characters.

    `  • 5 authors` with two bad bytes in it is still its paper's authors line, so the paper
    goes whole to rejects; read as text it would be taken for a title, and the paper above
    would lose its footer. Likewise `Subscribe` with bad bytes still ends a page's chrome.
    The token keeps the line as written (chrome glued to it included), and `readable` says
    its bytes were bad: the assembler trusts no value read from it.
    """
    readable = printable(line).replace("\ufffd", "")
    token = next(tokenize([readable]), None)
    if token is None:  # nothing but bad bytes: only its place can say what it was
        return Token(Kind.TEXT, number, line, readable=readable)
    return Token(token.kind, number, line, token.date, token.authors, readable)


class _Assembler:
    """Turns tokens into records and rejects, labelling every line once."""

    def __init__(self, total_lines: int) -> None:
        self.labels = bytearray(total_lines)
        self.records: list[RawRecord] = []
        self.rejects: list[Reject] = []
        self.abstractless: list[int] = []  # title lines of records with no abstract
        self.page_date: FooterDate | None = None
        self.footer_seen = False
        self.header_seen = False
        self._run: list[Token] = []
        self._open: RawRecord | None = None  # last record, still able to take a footer
        self._footer_step = 0  # 0 none, 1 authors seen, 2 dot seen
        self._orphan_footer = False

    # -- labelling -------------------------------------------------------------------
    def _label(self, line: int, label: int) -> None:
        self.labels[line - 1] = label

    def _reject(self, token: Token, reason: str) -> None:
        self._label(token.line, REJECTED)
        self.rejects.append(Reject(token.line, token.line, reason, token.text))

    def _reject_footer_line(self, token: Token, reason: str) -> None:
        """A footer line belonging to no record; its undecodable bytes come first."""
        self._reject(token, "undecodable_text" if token.readable is not None else reason)

    # -- records ---------------------------------------------------------------------
    def _record(self, title: Token, abstract: Token | None) -> None:
        end = abstract.line if abstract else title.line
        record = RawRecord(
            title=title.text,
            abstract=abstract.text if abstract else None,
            line_start=title.line,
            line_end=end,
        )
        self._label(title.line, RECORD)
        if abstract is not None:
            self._label(abstract.line, RECORD)
        else:
            self.abstractless.append(title.line)
        self.records.append(record)
        self._open = record

    def _flush_run(self) -> None:
        """Pair the pending text lines into (title, abstract) records."""
        run, self._run = self._run, []
        i, n = 0, len(run)
        while i < n:
            current = run[i]
            if is_abstract_shaped(current.text):
                long_title = len(
                    current.text
                ) > config.MAX_TITLE_CHARS and not current.text.endswith(SENTENCE_END)
                self._reject(current, "title_too_long" if long_title else "abstract_without_title")
                self._open = None
                i += 1
                continue
            following = run[i + 1] if i + 1 < n else None
            if following is None:
                self._record(current, None)
                i += 1
            elif is_abstract_shaped(following.text):
                self._record(current, following)
                i += 2
            else:
                # Two title-shaped lines: the first has no abstract if an abstract follows
                # the second; otherwise the second is a short abstract.
                after = run[i + 2] if i + 2 < n else None
                if after is not None and is_abstract_shaped(after.text):
                    self._record(current, None)
                    i += 1
                else:
                    self._record(current, following)
                    i += 2
        self._footer_step = 0

    # -- footers ---------------------------------------------------------------------
    def _footer_target(self) -> RawRecord | None:
        """The record a footer line belongs to, or None for an orphan footer."""
        if self._run:
            self._flush_run()
        return None if self._orphan_footer else self._open

    def _close_footer(self) -> None:
        self._open = None
        self._footer_step = 0
        self._orphan_footer = False

    def on_header(self, token: Token) -> None:
        self.header_seen = True
        if self._run:
            self._flush_run()
        self._close_footer()
        if token.readable is not None:
            self._reject(token, "undecodable_text")  # chrome, but not as the page shows it
        else:
            self._label(token.line, BOILERPLATE)

    def on_authors(self, token: Token) -> None:
        self.footer_seen = True
        record = self._footer_target()
        if record is None or self._footer_step > 0 or record.author_count is not None:
            self._orphan_footer = True
            self._footer_step = 1
            self._reject_footer_line(token, "footer_without_title")
            return
        self._footer_step = 1
        count = token.authors
        # A count read past undecodable bytes is not judged: its record is rejected whole.
        if token.readable is None and (
            count is None or not config.MIN_AUTHOR_COUNT <= count <= config.MAX_AUTHOR_COUNT
        ):
            self._reject(token, "invalid_author_count")
            return
        record.author_count = count
        self._extend(record, token.line)

    def on_dot(self, token: Token) -> None:
        self.footer_seen = True
        record = self._footer_target()
        if record is None or self._footer_step >= 2:
            self._reject_footer_line(token, "footer_without_title")
            self._orphan_footer = True
            return
        self._footer_step = 2
        self._extend(record, token.line)

    def on_date(self, token: Token) -> None:
        if (
            not self.records
            and not self._run
            and self.page_date is None
            and self.header_seen
            and token.readable is None  # a page date with bad bytes is not trusted
        ):
            # The page's own date under the header (`Nov 11`), not a paper's.
            self.page_date = token.date
            self._label(token.line, BOILERPLATE)
            return
        self.footer_seen = True
        record = self._footer_target()
        if record is None or record.date_text is not None:
            self._reject_footer_line(token, "footer_without_title")
            self._close_footer()
            return
        assert token.date is not None
        record.date_text = token.date.text
        record.date_line = token.line
        record.date_line_text = token.text
        record.upvotes = token.date.upvotes
        self._extend(record, token.line)
        self._close_footer()

    def on_text(self, token: Token) -> None:
        if self._footer_step == 2 and is_date_like(token.readable or token.text):
            # Where the footer's date belongs, something date-shaped that is no date.
            if self._orphan_footer or self._open is None:
                self._reject_footer_line(token, "footer_without_title")
            elif token.readable is not None:
                self._extend(self._open, token.line)  # its record is rejected whole
            else:
                self._reject(token, "invalid_date")
            self._close_footer()
            return
        if (
            token.readable is not None
            and not token.readable.strip()
            and self._footer_step > 0
            and self._open is not None
            and not self._orphan_footer
        ):
            # Nothing but bad bytes where the footer's `·` or date belongs (a `·` whose two
            # bytes were split): that line, garbled. Its record is rejected whole.
            self._extend(self._open, token.line)
            if self._footer_step == 1:
                self._footer_step = 2
            else:
                self._close_footer()
            return
        if self._orphan_footer:
            self._close_footer()
        self._footer_step = 0
        self._run.append(token)

    def _extend(self, record: RawRecord, line: int) -> None:
        record.line_end = line
        self._label(line, RECORD)

    def finish(self) -> None:
        if self._run:
            self._flush_run()


def _reject_span(
    dump: ParsedDump, labels: bytearray, start: int, end: int, reason: str, text: str
) -> None:
    labels[start - 1 : end] = bytes([REJECTED]) * (end - start + 1)
    dump.rejects.append(Reject(start, end, reason, text))


def _clip(text: str) -> str:
    """Rejected text, its tail cut so that the whole, with the note saying so, stays within
    `config.MAX_REJECT_TEXT_CHARS` (the rejects table's bound: a longer text failed
    validation, and refused the whole build for one pasted line)."""
    text = printable(text)
    if len(text) <= config.MAX_REJECT_TEXT_CHARS:
        return text
    note = f"… [{len(text)} characters in all]"
    return text[: config.MAX_REJECT_TEXT_CHARS - len(note)] + note


def _looks_like_papers_page(assembler: _Assembler) -> bool:
    """A dump with neither page chrome nor footers must at least read as title/abstract pairs.

    The abstracts must be abstract-shaped: any even run of short lines (an arXiv listing's
    `Title:` / `Authors:` / `Subjects:` lines) pairs up, but not into prose.
    """
    if assembler.header_seen or assembler.footer_seen:
        return True
    records = assembler.records
    if not records:
        return False
    paired = sum(1 for r in records if r.abstract is not None and is_abstract_shaped(r.abstract))
    return paired >= 0.8 * (len(records) + len(assembler.rejects))


def _detect_format(lines: list[str], assembler: _Assembler) -> str:
    blank = sum(1 for line in lines if not line)
    if assembler.footer_seen or blank >= 0.25 * max(1, len(lines) - blank):
        return "search_page"
    return "compact"


def parse_dump(text: str, captured_on: dt.date | None = None) -> ParsedDump:
    """Parse one decoded dump. Never raises on content: problems become rejects.

    Titles and abstracts come out as written on their line; `etl.normalize.clean_records`
    makes them comparable.
    """
    lines, ends_with_newline = dump_lines(text)
    return parse_lines(
        lines, ends_with_newline, captured_on, undecoded_bytes=has_undecoded_bytes(text)
    )


def parse_lines(
    lines: list[str],
    ends_with_newline: bool,
    captured_on: dt.date | None = None,
    *,
    undecoded_bytes: bool = False,
    dump_years: list[int] | None = None,
    followed: bool = False,
) -> ParsedDump:
    """`parse_dump` on lines already split. `dump_years`, when given, are the explicit years
    to infer the capture year from (a page of a multi-page dump uses the whole dump's)."""
    total = len(lines)
    if total == 0 or all(not line for line in lines):
        dump = ParsedDump(dump_format=None, total_lines=total)
        start = 1 if total else 0
        dump.rejects.append(Reject(start, total, "empty_file", ""))
        dump.rejected_lines = total
        return dump
    if HTML_START.match(next(line for line in lines if line)):
        return _unrecognized(lines)

    assembler = _Assembler(total)
    handlers = {
        Kind.HEADER: assembler.on_header,
        Kind.AUTHORS: assembler.on_authors,
        Kind.DOT: assembler.on_dot,
        Kind.DATE: assembler.on_date,
        Kind.TEXT: assembler.on_text,
    }
    for token in tokenize(lines, undecoded_bytes, followed):
        handlers[token.kind](token)
    assembler.finish()

    if not _looks_like_papers_page(assembler):
        return _unrecognized(lines)

    dump = ParsedDump(
        dump_format=_detect_format(lines, assembler),
        records=assembler.records,
        rejects=assembler.rejects,
        total_lines=total,
        page_date_text=assembler.page_date.text if assembler.page_date else None,
    )
    labels = assembler.labels
    if not ends_with_newline:
        _reject_cut_off_abstract(dump, labels, lines)
    if undecoded_bytes:
        _reject_records(dump, labels, lines, _undecodable)
    if dump_years is None:  # a record that cannot be a paper still dates its page
        dump_years = _footer_years(dump.records)
    _reject_records(dump, labels, lines, implausible)
    _resolve_dates(dump, labels, captured_on, assembler.page_date, dump_years)
    # Only titles still in a record: one rejected whole has its reject's warning instead.
    dump.warnings = [
        LineWarning(line, "title with no abstract")
        for line in assembler.abstractless
        if labels[line - 1] == RECORD
    ]
    dump.rejects = sorted(
        (Reject(r.line_start, r.line_end, r.reason, _clip(r.text)) for r in dump.rejects),
        key=lambda r: r.line_start,
    )
    dump.record_lines = labels.count(RECORD)
    dump.rejected_lines = labels.count(REJECTED)
    dump.boilerplate_lines = total - dump.record_lines - dump.rejected_lines
    return dump


_PAGE_MARK = "Get trending papers in your email inbox"


def page_starts(lines: list[str]) -> list[int]:
    """Where each pasted page of a dump begins (0-based line indexes; the first is 0).

    People paste several pages into one file. A page begins with its chrome: a block of
    boilerplate and blank lines holding `Get trending papers in your email inbox...`. Page
    chrome resets the parser (no record or footer spans it), so pages parse independently.
    Anything before the first chrome belongs to the first page.
    """
    marks = [index for index, line in enumerate(lines) if line.startswith(_PAGE_MARK)]
    if not marks:
        return [0]
    # The state `PageFinder` keeps, computed only around the marks (a dump is mostly lines
    # between them): a mark starts a page when boilerplate came before it (the first
    # boilerplate line, or the previous mark) and content came since.
    starts = [0]
    first_boilerplate = next((i for i in range(marks[0]) if lines[i] in _BOILERPLATE_LINES), None)
    for number, mark in enumerate(marks):
        header = marks[number - 1] if number else first_boilerplate
        if header is None or not any(_is_content(line) for line in lines[header + 1 : mark]):
            continue
        start = mark
        while start > 0 and (not lines[start - 1] or lines[start - 1] in _BOILERPLATE_LINES):
            start -= 1
        starts.append(start)
    return starts


def _is_content(line: str) -> bool:
    return bool(line) and not _is_chrome(line)


def _is_chrome(line: str) -> bool:
    """Page chrome as `page_starts` knows it: a chrome line, or one opening with the mark."""
    return line in _BOILERPLATE_LINES or line.startswith(_PAGE_MARK)


class PageFinder:
    """`page_starts` a line at a time, for dumps too big to hold as lines."""

    def __init__(self) -> None:
        self.starts = [0]
        self._index = 0
        self._chrome_from = 0  # first line of the trailing run of blank/boilerplate lines
        self._header_seen = self._content_since_header = False

    def feed(self, line: str) -> None:
        index = self._index
        self._index += 1
        if line.startswith(_PAGE_MARK):
            if self._header_seen and self._content_since_header:
                self.starts.append(self._chrome_from)
            self._header_seen, self._content_since_header = True, False
        elif line in _BOILERPLATE_LINES:
            if not self._header_seen:
                self._header_seen, self._content_since_header = True, False
        elif line:
            self._content_since_header = True
        if line and line not in _BOILERPLATE_LINES:
            self._chrome_from = index + 1


def dump_years(lines: list[str]) -> list[int]:
    """The latest explicit footer year of a dump (as a list, empty if none): a pasted page's
    capture year is inferred from the whole dump, not from its own dates alone."""
    years = [year for line in lines if (year := explicit_year(line)) is not None]
    return [max(years)] if years else []


def explicit_year(line: str) -> int | None:
    """The year of a footer date line that shows one (`Feb 28, 2024`, maybe with the next
    dump's chrome glued to it), else None."""
    line = strip_glued_page_start(line)  # harmless where no chrome follows: no date then
    if len(line) > 24 or ", " not in line:
        return None
    date = parse_footer_date(line)
    return None if date is None else date.year


def _unrecognized(lines: list[str]) -> ParsedDump:
    dump = ParsedDump(dump_format=None, total_lines=len(lines))
    dump.rejects.append(Reject(1, len(lines), "unrecognized_format", _clip("\n".join(lines))))
    dump.rejected_lines = len(lines)
    return dump


def _reject_cut_off_abstract(dump: ParsedDump, labels: bytearray, lines: list[str]) -> None:
    """An interrupted copy ends mid-abstract: keep the title, reject the partial abstract.

    Only when the abstract is the dump's last line: a record ending on a footer line (a
    lone `·`) was not cut off in its abstract.
    """
    if not dump.records:
        return
    last = dump.records[-1]
    if (
        last.abstract is None
        or last.line_end != len(lines)
        or lines[-1] != last.abstract
        or last.abstract.endswith(SENTENCE_END)
    ):
        return
    line = last.line_end
    last.abstract = None
    last.line_end = last.line_start
    _reject_span(dump, labels, line, line, "truncated_abstract", lines[line - 1])


def _undecodable(record: RawRecord, span: list[str]) -> str | None:
    """Records touching bytes that were not valid text are rejected whole: no guessing.

    Any line of the record counts: its title, abstract or a footer line (the tokenizer keeps
    a footer line with bad bytes in its record, `_read_past_undecoded`).
    """
    return "undecodable_text" if any(has_undecoded_bytes(line) for line in span) else None


def implausible(record: RawRecord, span: list[str] | None = None) -> str | None:
    """Why a record cannot be a paper, by the papers table's rules on stored values (a title
    with a letter or a digit; an abstract of `MIN_ABSTRACT_CHARS` to `MAX_ABSTRACT_CHARS`
    characters; neither reading as chrome, `BOILERPLATE_PATTERNS`), or None. Kept as a
    record, it failed validation and refused the whole build (`---` for a title), where it
    is one dump's bad record."""
    title = stored_text(record.title)
    if not any(c.isalnum() for c in title):
        return "title_without_letter_or_digit"
    if len(title) > config.MAX_TITLE_CHARS:  # NFC can lengthen one that was short enough
        return "title_too_long"
    if _BOILERPLATE_TEXT.search(title):
        return "boilerplate_in_record"
    if record.abstract is not None:
        abstract = stored_text(record.abstract)
        if len(abstract) < config.MIN_ABSTRACT_CHARS:
            return "abstract_too_short"
        if len(abstract) > config.MAX_ABSTRACT_CHARS:
            return "abstract_too_long"
        if len(abstract) <= config.MAX_TITLE_CHARS and _BOILERPLATE_TEXT.search(abstract):
            return "boilerplate_in_record"
    return None


def _reject_records(
    dump: ParsedDump,
    labels: bytearray,
    lines: list[str],
    reason_of: Callable[[RawRecord, list[str]], str | None],
) -> None:
    """Reject whole the records `reason_of` gives a reason for (it is given each record and
    its lines).

    A line of such a record rejected already (its footer's absurd author count) becomes part
    of the record's reject instead of staying a reject of its own: no line is in two rejects.
    """
    kept: list[RawRecord] = []
    spans: list[tuple[int, int, str]] = []
    for record in dump.records:
        reason = reason_of(record, lines[record.line_start - 1 : record.line_end])
        if reason is None:
            kept.append(record)
        else:
            spans.append((record.line_start, record.line_end, reason))
    dump.records = kept
    if not spans:
        return
    inside = bytearray(len(labels))
    for start, end, _ in spans:
        inside[start - 1 : end] = b"\x01" * (end - start + 1)
    dump.rejects = [
        r
        for r in dump.rejects
        if not (r.line_start and inside[r.line_start - 1] and inside[r.line_end - 1])
    ]
    for start, end, reason in spans:
        text = "\n".join(line for line in lines[start - 1 : end] if line)
        _reject_span(dump, labels, start, end, reason, text)


def _dated(records: list[RawRecord]) -> list[tuple[RawRecord, FooterDate]]:
    """The records with a footer date, and that date."""
    dated = []
    for record in records:
        footer = parse_footer_date(record.date_line_text) if record.date_line_text else None
        if footer is not None:
            dated.append((record, footer))
    return dated


def _footer_years(records: list[RawRecord]) -> list[int]:
    return [footer.year for _, footer in _dated(records) if footer.year is not None]


def _resolve_dates(
    dump: ParsedDump,
    labels: bytearray,
    captured_on: dt.date | None,
    page_date: FooterDate | None,
    dump_years: list[int],
) -> None:
    """Give every footer date its year (the capture's, from `dump_years` where none is
    shown); impossible dates move to rejects."""
    capture = capture_year(captured_on, dump_years, page_date)
    dump.captured_on = capture.captured_on
    for record, footer in _dated(dump.records):
        published, source, reason = resolve_date(footer, capture)
        if reason is None:
            record.published_date = published
            record.year_source = source
            continue
        line = record.date_line
        assert line is not None
        _reject_span(dump, labels, line, line, reason, record.date_line_text or "")
        record.date_text = None
        record.date_line = None
        record.upvotes = None
        if record.line_end == line:
            record.line_end = max(
                n for n in range(record.line_start, line) if labels[n - 1] == RECORD
            )
