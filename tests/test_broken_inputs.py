"""Broken inputs, one per failure mode: the exact outcome of each, and no crash, no loss.

The committed files are in tests/fixtures/broken/ (one per failure mode); the ones that
cannot be committed (a 20 MB line, symlinks, a non-UTF-8 file name) are made in tmp_path.
Each is checked twice: on its own through `parse_file` (records kept, rejects with their
reason, warning text, line accounting), and beside a seed dump in one raw folder through
`build` (exit code 0, and every record of the seed still comes out unchanged).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl import build, config
from etl.dumps import FileResult, parse_file
from etl.parse import parse_dump
from etl.schemas import REJECT_REASONS
from etl.validate import validate_tables
from tests.conftest import PROJECT_ROOT, SEARCH_SEED

BROKEN = Path(__file__).parent / "fixtures" / "broken"
SEED_CAPTURED = "2025-11-11"
D = dt.date


@dataclass(frozen=True)
class Expected:
    """What one broken file yields on its own (no manifest entry)."""

    records: list[tuple[str, int | None, dt.date | None]]  # title, author_count, date
    rejects: list[tuple[int, int, str]]  # line_start, line_end, reason
    warnings: list[str]
    dump_format: str | None = "search_page"
    totals: tuple[int, int, int, int] | None = None  # lines: total, boilerplate, record, rejected
    notes: list[str] = field(default_factory=list)


PLANNING = ("Planning Models", 4, D(2024, 4, 5))
RETRIEVAL = ("Retrieval Bench", 4, D(2024, 4, 5))
RETRIEVAL_2023 = ("Retrieval Bench", 2, D(2023, 10, 4))

EXPECTED: dict[str, Expected] = {
    "empty.txt": Expected(
        [], [(0, 0, "empty_file")], ["empty.txt: empty file; file skipped"], None, (0, 0, 0, 0)
    ),
    "whitespace_only.txt": Expected(
        [],
        [(1, 5, "empty_file")],
        ["whitespace_only.txt: empty file; file skipped"],
        None,
        (5, 0, 0, 5),
    ),
    "png_image.txt": Expected(
        [],
        [(1, 4, "binary_file")],
        ["png_image.txt: binary content (PNG image); file skipped"],
        None,
        (4, 0, 0, 4),
    ),
    "zip_archive.txt": Expected(
        [],
        [(1, 23, "binary_file")],
        ["zip_archive.txt: binary content (ZIP archive); file skipped"],
        None,
        (23, 0, 0, 23),
    ),
    "utf16_bom.txt": Expected(
        [("Planning Models for Zürich Robots", 4, D(2024, 4, 5)), RETRIEVAL_2023],
        [],
        [],
        totals=(28, 18, 10, 0),
    ),
    "latin1_accented.txt": Expected(
        [
            ("Café Models for Zürich Señal Processing", None, None),
            ("Über Retrieval à la Française", None, None),
        ],
        [],
        ["latin1_accented.txt: not UTF-8 (byte offset 44); decoded as cp1252"],
        "compact",
        (5, 1, 4, 0),
    ),
    "utf8_bom.txt": Expected(
        [("Planning Models with a BOM", 4, D(2024, 4, 5))], [], [], totals=(20, 15, 5, 0)
    ),
    "mixed_crlf_lf.txt": Expected([PLANNING, RETRIEVAL_2023], [], [], totals=(28, 18, 10, 0)),
    "html_save.txt": Expected(
        [],
        [(1, 10, "unrecognized_format")],
        ["html_save.txt: unrecognized format; file skipped"],
        None,
        (10, 0, 0, 10),
    ),
    "footer_without_title.txt": Expected(
        [PLANNING],
        [
            (13, 13, "footer_without_title"),
            (14, 14, "footer_without_title"),
            (15, 15, "footer_without_title"),
        ],
        [
            "footer_without_title.txt:13: footer without title: '  • 4 authors'",
            "footer_without_title.txt:14: footer without title: '·'",
            "footer_without_title.txt:15: footer without title: 'Apr 5'",
        ],
        totals=(24, 16, 5, 3),
    ),
    "two_footers.txt": Expected(
        [PLANNING, RETRIEVAL],
        [
            (21, 21, "footer_without_title"),
            (22, 22, "footer_without_title"),
            (23, 23, "footer_without_title"),
        ],
        [
            "two_footers.txt:21: footer without title: '  • 3 authors'",
            "two_footers.txt:22: footer without title: '·'",
            "two_footers.txt:23: footer without title: 'Apr 6'",
        ],
        totals=(32, 19, 10, 3),
    ),
    "authors_zero.txt": Expected(
        [("Planning Models", None, D(2024, 4, 5)), RETRIEVAL],
        [(17, 17, "invalid_author_count")],
        ["authors_zero.txt:17: invalid author count: '  • 0 authors'"],
        totals=(28, 18, 9, 1),
    ),
    "authors_negative.txt": Expected(
        [("Planning Models", None, D(2024, 4, 5)), RETRIEVAL],
        [(17, 17, "invalid_author_count")],
        ["authors_negative.txt:17: invalid author count: '  • -3 authors'"],
        totals=(28, 18, 9, 1),
    ),
    "authors_99999.txt": Expected(
        [("Planning Models", None, D(2024, 4, 5)), RETRIEVAL],
        [(17, 17, "invalid_author_count")],
        ["authors_99999.txt:17: invalid author count: '  • 99999 authors'"],
        totals=(28, 18, 9, 1),
    ),
    "date_feb_30.txt": Expected(
        [("Planning Models", 4, None), RETRIEVAL],
        [(19, 19, "invalid_date")],
        ["date_feb_30.txt:19: invalid date: 'Feb 30, 2024'"],
        totals=(28, 18, 9, 1),
    ),
    "date_foo_month.txt": Expected(
        [("Planning Models", 4, None), RETRIEVAL],
        [(19, 19, "invalid_date")],
        ["date_foo_month.txt:19: invalid date: 'Foo 12, 2024'"],
        totals=(28, 18, 9, 1),
    ),
    # Capture inferred as 2024-11-11 (page date Nov 11, latest explicit year 2023):
    # the yearless `Dec 24` would be 2024-12-24, after the capture.
    "date_after_capture.txt": Expected(
        [("Planning Models", 4, None), ("Retrieval Bench", 4, D(2023, 10, 4))],
        [(19, 19, "date_out_of_range")],
        ["date_after_capture.txt:19: date out of range: 'Dec 24'"],
        totals=(28, 18, 9, 1),
    ),
    # Used to crash the build (capture year inferred as 10000), then to fail validation
    # (a paper from the future refused every dump). No date is after today, and no capture
    # year is inferred from a year no capture could follow.
    "date_year_9999.txt": Expected(
        [("Planning Models", 4, None), ("Retrieval Bench", 4, None)],
        [(19, 19, "date_out_of_range"), (27, 27, "unknown_capture_year")],
        [
            "date_year_9999.txt:19: date out of range: 'Jan 1, 9999'",
            "date_year_9999.txt:27: unknown capture year: 'Apr 5'",
        ],
        totals=(28, 18, 8, 2),
    ),
    # The 5,000-character title is refused, so its abstract and footer have no paper.
    "title_5000_chars.txt": Expected(
        [RETRIEVAL],
        [
            (13, 13, "title_too_long"),
            (15, 15, "abstract_without_title"),
            (17, 17, "footer_without_title"),
            (18, 18, "footer_without_title"),
            (19, 19, "footer_without_title"),
        ],
        [
            "title_5000_chars.txt:13: title too long: '" + "Planning " * 6 + "Pla...'",
            "title_5000_chars.txt:15: abstract without title: "
            "'We study how small models learn to plan over long horizon...'",
            "title_5000_chars.txt:17: footer without title: '  • 4 authors'",
            "title_5000_chars.txt:18: footer without title: '·'",
            "title_5000_chars.txt:19: footer without title: 'Apr 5, 2024'",
        ],
        totals=(28, 18, 5, 5),
    ),
    "arxiv_listing.txt": Expected(
        [],
        [(1, 28, "unrecognized_format")],
        ["arxiv_listing.txt: unrecognized format; file skipped"],
        None,
        (28, 0, 0, 28),
    ),
    "name with spaces Café Ünïcode.txt": Expected(
        [PLANNING, RETRIEVAL_2023], [], [], totals=(28, 18, 10, 0)
    ),
}


def check(result: FileResult, expected: Expected) -> None:
    got_records = list(
        zip(
            result.records["title"].to_list(),
            result.records["author_count"].to_list(),
            result.records["published_date"].to_list(),
            strict=True,
        )
    )
    assert got_records == expected.records
    assert [(r.line_start, r.line_end, r.reason) for r in result.rejects] == expected.rejects
    assert [str(w) for w in result.warnings] == expected.warnings
    assert result.dump_format == expected.dump_format
    totals = (
        result.total_lines,
        result.boilerplate_lines,
        result.record_lines,
        result.rejected_lines,
    )
    assert totals[0] == sum(totals[1:])
    if expected.totals is not None:
        assert totals == expected.totals
    assert {r.reason for r in result.rejects} <= set(REJECT_REASONS)


def test_every_fixture_has_an_expected_outcome_and_vice_versa():
    assert sorted(p.name for p in BROKEN.glob("*.txt")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_on_its_own(name):
    data = (BROKEN / name).read_bytes()
    check(parse_file(data, name, None), EXPECTED[name])


# -- beside a seed, through the whole build ---------------------------------------------


def seed_raw_dir(raw: Path, manifest_rows: str = "") -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    shutil.copy(SEARCH_SEED, raw / SEARCH_SEED.name)
    (raw / "manifest.csv").write_text(
        f"file,captured_on,source_url\n{SEARCH_SEED.name},{SEED_CAPTURED},\n{manifest_rows}"
    )
    return raw


def rows(table: pa.Table, source_file: str, *columns: str) -> list[tuple]:
    picked = table.filter(pa.compute.equal(table["source_file"], source_file))
    return sorted(zip(*(picked[c].to_pylist() for c in columns), strict=True))


@pytest.fixture(scope="module")
def seed_alone(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    """What the seed yields by itself: its provenance rows and its papers."""
    base = tmp_path_factory.mktemp("seed-alone")
    outcome = build(seed_raw_dir(base / "raw"), base / "out", validate=False)
    assert outcome.exit_code == 0 and not outcome.warnings
    tables = outcome.tables
    return {
        "sources": rows(tables["sources"], SEARCH_SEED.name, "line_start", "line_end", "paper_id"),
        "papers": sorted(tables["papers"].to_pylist(), key=lambda p: p["paper_id"]),
    }


def assert_seed_intact(outcome, seed_alone: dict[str, list]) -> None:
    tables = outcome.tables
    sources = rows(tables["sources"], SEARCH_SEED.name, "line_start", "line_end", "paper_id")
    assert sources == seed_alone["sources"]
    papers = {p["paper_id"]: p for p in tables["papers"].to_pylist()}
    for paper in seed_alone["papers"]:
        kept = papers[paper["paper_id"]]
        assert (kept["title"], kept["abstract"]) == (paper["title"], paper["abstract"])
    assert rows(tables["rejects"], SEARCH_SEED.name, "reason") == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_beside_a_seed_hides_nothing(name, tmp_path, seed_alone):
    raw = seed_raw_dir(tmp_path / "raw")
    shutil.copy(BROKEN / name, raw / name)
    outcome = build(raw, tmp_path / "out", validate=False)
    assert outcome.exit_code == 0, outcome.message
    assert_seed_intact(outcome, seed_alone)
    expected = EXPECTED[name]
    assert [str(w) for w in outcome.warnings] == expected.warnings
    tables = outcome.tables
    assert len(rows(tables["sources"], name, "line_start")) == len(expected.records)
    got = rows(tables["rejects"], name, "line_start", "line_end", "reason")
    assert got == sorted(expected.rejects)
    summary = outcome.summary
    assert summary.lines_accounted == summary.lines_total
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{t}.parquet" for t in ("authors", "dates", "links", "papers", "rejects", "sources")
    )


# -- inputs made in the test ------------------------------------------------------------


TWENTY_MB = 20 * 1024 * 1024


def test_a_20_mb_single_line_is_one_clipped_reject(tmp_path, seed_alone):
    raw = seed_raw_dir(tmp_path / "raw")
    (raw / "one_line.txt").write_bytes(b"word " * (TWENTY_MB // 5))  # no newline at all
    # jobs=1: over 4 MB the build parses in a fork()ed process pool, which can deadlock in
    # a process where polars already runs threads (as here, after earlier builds).
    outcome = build(raw, tmp_path / "out", validate=False, jobs=1)
    assert outcome.exit_code == 0
    assert_seed_intact(outcome, seed_alone)
    (reject,) = rows(outcome.tables["rejects"], "one_line.txt", "line_start", "line_end", "reason")
    assert reject == (1, 1, "unrecognized_format")
    [(text,)] = rows(outcome.tables["rejects"], "one_line.txt", "text")
    assert text.endswith(f"… [{TWENTY_MB - 1} characters in all]")
    # Within the rejects table's bound: 10,000 characters and the note made the whole build
    # fail validation.
    assert len(text) == config.MAX_REJECT_TEXT_CHARS
    assert text.startswith("word " * 1000)
    report = validate_tables(tmp_path / "out")
    assert report.success, report.failures
    assert [str(w) for w in outcome.warnings] == ["one_line.txt: unrecognized format; file skipped"]


def test_a_20_mb_line_in_a_page_is_refused_and_the_page_kept():
    page = (BROKEN / "utf8_bom.txt").read_bytes()
    data = page + b"Endless " * (TWENTY_MB // 8) + b"\n"
    result = parse_file(data, "page.txt", None)
    assert result.records["title"].to_list() == ["Planning Models with a BOM"]
    assert [(r.line_start, r.reason) for r in result.rejects] == [(21, "title_too_long")]
    assert len(result.rejects[0].text) < 10_100
    assert result.total_lines == 21 == result.boilerplate_lines + 5 + 1


def test_a_symlink_out_of_the_raw_folder_is_not_read(tmp_path, seed_alone):
    raw = seed_raw_dir(tmp_path / "raw")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    secret = elsewhere / "secret.txt"
    shutil.copy(BROKEN / "mixed_crlf_lf.txt", secret)  # a valid dump: reading it would show
    (raw / "link.txt").symlink_to(secret)
    (raw / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    (raw / "relative.txt").symlink_to(Path("..") / "elsewhere" / "secret.txt")
    outcome = build(raw, tmp_path / "out", validate=False)
    assert outcome.exit_code == 0
    assert_seed_intact(outcome, seed_alone)
    assert outcome.summary.records == len(seed_alone["sources"])  # nothing read through links
    rejects = outcome.tables["rejects"].to_pylist()
    assert [(r["source_file"], r["line_start"], r["line_end"], r["reason"]) for r in rejects] == [
        ("dangling.txt", 0, 0, "outside_raw_dir"),
        ("link.txt", 0, 0, "outside_raw_dir"),
        ("relative.txt", 0, 0, "outside_raw_dir"),
    ]
    assert str(secret) not in "".join(r["text"] for r in rejects)  # no local paths published
    assert [str(w) for w in outcome.warnings] == [
        f"dangling.txt: symlink to {tmp_path / 'nowhere.txt'}, outside the raw folder; "
        "file skipped",
        f"link.txt: symlink to {secret}, outside the raw folder; file skipped",
        f"relative.txt: symlink to {secret}, outside the raw folder; file skipped",
    ]


def test_a_symlink_inside_the_raw_folder_is_read(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "data").mkdir()
    shutil.copy(BROKEN / "utf8_bom.txt", raw / "data" / "real.dump")
    (raw / "alias.txt").symlink_to(Path("data") / "real.dump")
    (raw / "loop.txt").symlink_to("loop.txt")
    (raw / "gone.txt").symlink_to("data/gone.dump")  # inside the folder, to nothing
    outcome = build(raw, tmp_path / "out", validate=False)
    assert outcome.exit_code == 0
    assert outcome.tables["papers"]["title"].to_pylist() == ["Planning Models with a BOM"]
    warnings = [str(w) for w in outcome.warnings]
    assert warnings == [
        "gone.txt: cannot read file: No such file or directory; file skipped",
        "loop.txt: cannot read file: Too many levels of symbolic links; file skipped",
    ]
    # In the rejects table too (a warning alone let `--strict` pass a build missing them).
    rejects = outcome.tables["rejects"].to_pylist()
    assert [(r["source_file"], r["line_start"], r["line_end"], r["reason"]) for r in rejects] == [
        ("gone.txt", 0, 0, "unreadable_file"),
        ("loop.txt", 0, 0, "unreadable_file"),
    ]
    assert rejects[0]["text"] == "cannot read file: No such file or directory"
    strict = build(raw, tmp_path / "strict-out", validate=False, strict=True)
    assert strict.exit_code == 1
    assert strict.message.startswith("--strict: 2 reject(s);")


def test_a_file_name_that_is_not_utf8_is_kept_with_escapes(tmp_path, seed_alone):
    raw = seed_raw_dir(tmp_path / "raw")
    shutil.copy(BROKEN / "utf8_bom.txt", raw / os.fsdecode(b"caf\xe9 old name.txt"))
    (raw / os.fsdecode(b"vide \xe9.txt")).write_bytes(b"")
    outcome = build(raw, tmp_path / "out", validate=False)
    assert outcome.exit_code == 0
    assert_seed_intact(outcome, seed_alone)
    assert rows(outcome.tables["sources"], "caf\\xe9 old name.txt", "line_start") == [(13,)]
    assert rows(outcome.tables["rejects"], "vide \\xe9.txt", "reason") == [("empty_file",)]
    assert [str(w) for w in outcome.warnings] == [
        "caf\\xe9 old name.txt: file name is not valid UTF-8; undecodable bytes written as \\xNN",
        "vide \\xe9.txt: file name is not valid UTF-8; undecodable bytes written as \\xNN",
        "vide \\xe9.txt: empty file; file skipped",
    ]


def test_a_file_name_with_spaces_and_accents_is_recorded_as_is(tmp_path):
    name = "name with spaces Café Ünïcode.txt"
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(BROKEN / name, raw / name)
    out = tmp_path / "out"
    assert build(raw, out, validate=False).exit_code == 0
    sources = pq.read_table(out / "sources.parquet")
    assert set(sources["source_file"].to_pylist()) == {name}


def test_an_arxiv_listing_with_an_even_number_of_lines_is_no_papers_dump():
    # Any even run of short lines pairs up as title/"abstract": the pairs must be prose.
    listing = (
        "arXiv:2511.16671\nThinking-while-Generating: Interleaving Textual Reasoning\n"
        "Ziyu Guo, Renrui Zhang, Hongyu Li\n"
        "Recent advances in visual generation have increasingly explored the integration of "
        "reasoning capabilities into the generation process, before or after it.\n"
    )
    dump = parse_dump(listing)
    assert [(r.line_start, r.line_end, r.reason) for r in dump.rejects] == [
        (1, 4, "unrecognized_format")
    ]
    assert dump.records == []


# -- every broken input at once, validated, through the real command -------------------


def test_all_broken_files_together_pass_validation_through_the_cli(tmp_path, seed_alone):
    raw = seed_raw_dir(tmp_path / "raw")
    for path in BROKEN.glob("*.txt"):
        shutil.copy(path, raw / path.name)
    (raw / "link.txt").symlink_to(BROKEN / "utf8_bom.txt")  # outside the raw folder
    out = tmp_path / "out"
    env = {**os.environ, "COLUMNS": "300", "PAPERS_ETL_SUMMARY_JSON": str(tmp_path / "s.json")}
    run = subprocess.run(
        [sys.executable, "-m", "etl", "build", "--raw", str(raw), "--out", str(out), "--no-cache"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    for expected in EXPECTED.values():
        for warning in expected.warnings:
            assert f"warning: {warning}" in run.stderr
    assert f"warning: link.txt: symlink to {BROKEN / 'utf8_bom.txt'}, outside" in run.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["validated"] is True and summary["published"] is True
    assert f"tables written to {out}" in run.stderr
    sources = pq.read_table(out / "sources.parquet")
    assert (
        rows(sources, SEARCH_SEED.name, "line_start", "line_end", "paper_id")
        == (seed_alone["sources"])
    )
    records = sum(len(e.records) for e in EXPECTED.values())
    assert sources.num_rows == len(seed_alone["sources"]) + records


def test_a_record_rejected_for_undecodable_bytes_takes_in_its_footers_rejects():
    """No line is in two rejects: the absurd author count of a record that is then rejected
    whole (its title holds bytes that are not UTF-8) is part of the record's reject. A long
    fuzz run found the footer's line rejected twice."""
    page = (
        b"new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
        b"byAK and the research community\n\nNov 11\n\n"
        b"A Broken \x80 Title of a Paper on Scaling Laws for Agents\n\n"
        b"We study scaling laws for agents that act in open worlds and find that they hold "
        b"across four orders of magnitude of compute.\n\n"
        b"  \xe2\x80\xa2 0 authors\n\xc2\xb7\nApr 5\n"
    )
    result = parse_file(page, "broken.txt", dt.date(2025, 11, 11))
    lines = [n for r in result.rejects for n in range(r.line_start, r.line_end + 1)]
    assert len(lines) == len(set(lines)) == result.rejected_lines
    assert [(r.reason, r.line_start, r.line_end) for r in result.rejects] == [
        ("undecodable_text", 13, 19)
    ]
    assert result.record_count == 0


# -- undecodable bytes in one line of a page --------------------------------------------
# A UTF-8 dump with a few bad bytes keeps them as lone surrogates (etl/decode.py), and the
# parser reads no value through them: a line holding them is classified by its other
# characters, and a record any line of which holds them (title, abstract or footer) is
# rejected whole (`etl.parse._reject_records`).

CHROME = (
    b"new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
    b"byAK and the research community\n\nNov 11\n\n"
)
FOOTER = "  • 4 authors\n·\nApr 5, 2024\n".encode()
PLANNING_ABSTRACT = (
    b"We study how small models learn to plan over long horizons. Our method combines search "
    b"with learned value functions and improves success rates on three benchmarks."
)
RETRIEVAL_PAPER = (
    b"Retrieval Bench\n\nThis paper introduces a benchmark for multilingual retrieval with "
    b"many languages. We evaluate twelve systems and find that dense retrievers still lag "
    b"behind in low-resource settings.\n\n" + FOOTER
)
PLANNING_REJECTED = (
    "broken.txt:13: undecodable text: "
    "'Planning Models\\nWe study how small models learn to plan o...'"
)


def planning_then_retrieval(planning_footer: bytes = FOOTER, chrome: bytes = CHROME) -> bytes:
    """Chrome on lines 1-12, Planning Models from line 13 (footer 17-19), Retrieval Bench."""
    return (
        chrome
        + b"Planning Models\n\n"
        + PLANNING_ABSTRACT
        + b"\n\n"
        + planning_footer
        + b"\n"
        + RETRIEVAL_PAPER
    )


def not_utf8_note(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"broken.txt: invalid UTF-8 at byte offset {exc.start}"
    raise AssertionError("the fixture is valid UTF-8")


def parse_broken(data: bytes) -> FileResult:
    result = parse_file(data, "broken.txt", None)
    lines = [n for r in result.rejects for n in range(r.line_start, r.line_end + 1)]
    assert len(lines) == len(set(lines)) == result.rejected_lines  # no line in two rejects
    return result


@pytest.mark.parametrize(
    ("planning_footer", "last_line"),
    [
        pytest.param(FOOTER.replace(b"authors", b"authors\xff\xfe"), 19, id="authors line"),
        pytest.param(FOOTER.replace("·".encode(), "·".encode() + b"\xff\xfe"), 19, id="dot line"),
        pytest.param(FOOTER.replace(b"2024", b"2024\xff\xfe"), 19, id="date line"),
        # The `·` split by the bad bytes: a line of nothing but undecodable bytes.
        pytest.param(FOOTER.replace("·".encode(), b"\xc2\xff\xfe\xb7"), 19, id="split dot"),
        pytest.param(FOOTER.replace(b"Apr 5", b"Foo 12\xff\xfe"), 19, id="no date"),
        # An absurd count read through bad bytes is not judged: the paper goes whole.
        pytest.param("  • 0 authors".encode() + b"\xff\xfe\n", 17, id="0 authors"),
    ],
)
def test_bad_bytes_in_a_footer_line_reject_its_paper_whole(planning_footer, last_line):
    """Not a title with no abstract under a paper that keeps its abstract and loses its
    footer (how a user audit found line 41 of seed 000 read)."""
    data = planning_then_retrieval(planning_footer)
    total = last_line + 8
    check(
        parse_broken(data),
        Expected(
            [RETRIEVAL],
            [(13, last_line, "undecodable_text")],
            [not_utf8_note(data), PLANNING_REJECTED],
            totals=(total, 15, 5, last_line - 12),
        ),
    )


def test_bad_bytes_in_a_footer_line_of_no_paper_reject_that_line_alone():
    second_footer = "  • 3 authors\n·".encode() + b"\xff\xfe\nApr 6\n"
    data = planning_then_retrieval(FOOTER + b"\n" + second_footer)
    check(
        parse_broken(data),
        Expected(
            [PLANNING, RETRIEVAL],
            [
                (21, 21, "footer_without_title"),
                (22, 22, "undecodable_text"),
                (23, 23, "footer_without_title"),
            ],
            [
                not_utf8_note(data),
                "broken.txt:21: footer without title: '  • 3 authors'",
                "broken.txt:22: undecodable text: '·\ufffd\ufffd'",
                "broken.txt:23: footer without title: 'Apr 6'",
            ],
            totals=(31, 18, 10, 3),
        ),
    )


def test_bad_bytes_in_the_page_chrome_reject_that_line_and_the_page_date_is_still_read():
    data = planning_then_retrieval(chrome=CHROME.replace(b"Subscribe", b"Subscribe\xff\xfe"))
    result = parse_broken(data)
    check(
        result,
        Expected(
            [PLANNING, RETRIEVAL],
            [(5, 5, "undecodable_text")],
            [not_utf8_note(data), "broken.txt:5: undecodable text: 'Subscribe\ufffd\ufffd'"],
            totals=(27, 16, 10, 1),
        ),
    )
    # The page date `Nov 11`, after 2024.
    assert result.records["captured_on"].to_list() == [D(2025, 11, 11)] * 2


def test_a_page_date_with_bad_bytes_is_rejected_and_not_read():
    data = planning_then_retrieval(chrome=CHROME.replace(b"Nov 11", b"Nov 11\xff\xfe"))
    result = parse_broken(data)
    check(
        result,
        Expected(
            [PLANNING, RETRIEVAL],
            [(11, 11, "undecodable_text")],
            [not_utf8_note(data), "broken.txt:11: undecodable text: 'Nov 11\ufffd\ufffd'"],
            totals=(27, 16, 10, 1),
        ),
    )
    assert result.records["captured_on"].to_list() == [None] * 2


def test_a_title_with_bad_bytes_and_no_abstract_is_warned_about_once():
    data = CHROME + b"Lonely \xff\xfe Title\n\n" + FOOTER + b"\n" + RETRIEVAL_PAPER
    check(
        parse_broken(data),
        Expected(
            [RETRIEVAL],
            [(13, 17, "undecodable_text")],
            [
                not_utf8_note(data),
                "broken.txt:13: undecodable text: "
                "'Lonely \ufffd\ufffd Title\\n  • 4 authors\\n·\\nApr 5, 2024'",
            ],
            totals=(25, 15, 5, 5),
        ),
    )


def test_the_audited_seed_with_bad_bytes_in_an_authors_line_loses_that_paper_only(tmp_path):
    """The user audit: `\\xff\\xfe` at the end of line 41 of seed 000, HyPINO's authors line."""
    lines = SEARCH_SEED.read_bytes().split(b"\n")
    assert lines[40] == "  • 5 authors".encode()
    lines[40] += b"\xff\xfe"
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "dump.txt").write_bytes(b"\n".join(lines))
    outcome = build(raw, tmp_path / "out", validate=False)
    assert [str(w) for w in outcome.warnings] == [
        "dump.txt: invalid UTF-8 at byte offset 7107",
        "dump.txt:37: undecodable text: "
        "'HyPINO: Multi-Physics Neural Operators via HyperPINNs and...'",
    ]
    rejects = outcome.tables["rejects"]
    assert rows(rejects, "dump.txt", "line_start", "line_end", "reason") == [
        (37, 43, "undecodable_text")
    ]
    summary = outcome.summary
    assert (summary.lines_total, summary.lines_rejected) == (367, 7)
    assert summary.lines_accounted == summary.lines_total
    titles = outcome.tables["papers"]["title"].to_pylist()
    assert len(titles) == 44 and not [t for t in titles if t.startswith("HyPINO")]


def test_a_copy_ending_on_a_footer_dot_keeps_the_abstract_above_it():
    """Cut off after the `·` (no newline at the end): the abstract was not cut off, even
    when it ends without a full stop (on a URL). It was once rejected as a truncated
    abstract, the `·` line standing in for it."""
    abstract = PLANNING_ABSTRACT.replace(b"benchmarks.", b"benchmarks: https://example.org")
    data = CHROME + b"Planning Models\n\n" + abstract + "\n\n·".encode()
    result = parse_broken(data)
    check(result, Expected([("Planning Models", None, None)], [], [], totals=(17, 14, 3, 0)))
    assert result.records["abstract"].to_list() == [abstract.decode()]
