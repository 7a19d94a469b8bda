"""Big dumps are read a page at a time (etl/stream.py) and give what reading them whole gives."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl import config
from etl.dumps import FileEntry
from etl.normalize import dump_lines
from etl.parse import PAGE_BOILERPLATE, PageFinder, page_starts
from etl.store import StoredRecords
from etl.stream import plan_pages, read_pages
from etl.workers import _parse_paths
from tests.conftest import COMPACT_SEED, PROJECT_ROOT, SEARCH_SEED

# Each ending with a newline, so that pasting them one after another glues no lines.
SEARCH = SEARCH_SEED.read_text(encoding="utf-8").rstrip("\n") + "\n"
COMPACT = COMPACT_SEED.read_text(encoding="utf-8").rstrip("\n") + "\n"
MARK = "Get trending papers in your email inbox!"


def reference_page_starts(lines: list[str]) -> list[int]:
    """page_starts as first written, over a whole list of lines (the streaming one must agree)."""
    boilerplate = set(PAGE_BOILERPLATE)
    starts = [0]
    header_seen = content_since_header = False
    for index, line in enumerate(lines):
        if line.startswith("Get trending papers in your email inbox"):
            if header_seen and content_since_header:
                start = index
                while start > 0 and (not lines[start - 1] or lines[start - 1] in boilerplate):
                    start -= 1
                starts.append(start)
            header_seen, content_since_header = True, False
        elif line in boilerplate:
            if not header_seen:
                header_seen, content_since_header = True, False
        elif line:
            content_since_header = True
    return starts


@given(
    st.lists(st.sampled_from(["", "A title", "new", "Subscribe", MARK, MARK + " x"]), max_size=40)
)
def test_page_starts_agree_with_the_first_algorithm(lines: list[str]) -> None:
    finder = PageFinder()
    for line in lines:
        finder.feed(line)
    assert page_starts(lines) == finder.starts == reference_page_starts(lines)


def _parse_both(
    tmp_path: Path, data: bytes, captured: dt.date | None, monkeypatch: pytest.MonkeyPatch
) -> tuple[tuple[FileEntry, bool], tuple[FileEntry, bool]]:
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    outcomes = []
    for name, threshold in (("whole", 1 << 40), ("paged", 0)):
        monkeypatch.setattr(config, "STREAM_DUMP_BYTES", threshold)
        outcomes.append(_parse_paths([(path, "big.txt", captured, tmp_path / name)])[0])
    return outcomes[0], outcomes[1]


def _stored(entry: FileEntry) -> tuple[pl.DataFrame, pl.DataFrame]:
    assert entry.stored is not None
    assert entry.links is not None
    records = pl.read_ipc(entry.stored.records_path)  # maybe a pack: the entry's rows only
    return records.slice(entry.stored.first_row, entry.stored.record_count), entry.links


def _account(entry: FileEntry) -> dict[str, object]:
    fields = dict(vars(entry))
    fields.pop("stored")
    fields.pop("links")
    return fields


def _assert_same_entry(whole: FileEntry, paged: FileEntry) -> None:
    assert _account(paged) == _account(whole)
    assert paged.record_count == whole.record_count
    paged_records, paged_links = _stored(paged)
    whole_records, whole_links = _stored(whole)
    assert paged_records.equals(whole_records)
    assert paged_links.equals(whole_links)


PAGES = st.lists(st.sampled_from([SEARCH, COMPACT]), min_size=2, max_size=4)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pages=PAGES,
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    cut=st.none() | st.floats(min_value=0.5, max_value=1.0),
    captured=st.sampled_from([None, dt.date(2025, 11, 11)]),
    batch_bytes=st.sampled_from([1, 200_000, 1 << 24]),  # a page, some pages, all of them
)
def test_a_dump_read_a_page_at_a_time_is_stored_as_when_read_whole(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    pages: list[str],
    newline: str,
    bom: bool,
    cut: float | None,
    captured: dt.date | None,
    batch_bytes: int,
) -> None:
    monkeypatch.setattr(config, "PARSE_BATCH_BYTES", batch_bytes)
    text = "".join(pages)
    if cut is not None:  # an interrupted copy: the last page ends mid-way, maybe mid-line
        text = text[: int(len(text) * cut)]
    data = ("\ufeff" if bom else "").encode() + text.replace("\n", newline).encode()
    tmp_path = tmp_path_factory.mktemp("stream")
    (whole, whole_cached), (paged, paged_cached) = _parse_both(
        tmp_path, data, captured, monkeypatch
    )
    assert not whole_cached and not paged_cached
    _assert_same_entry(whole, paged)
    # The page-at-a-time path ran whenever the dump (what the cut left of it) has pages.
    lines, _ = dump_lines(text)
    plan = plan_pages(tmp_path / "big.txt")
    assert (plan is not None) == (len(page_starts(lines)) >= 2)


def test_pages_come_out_as_the_lines_of_the_whole_dump(tmp_path: Path) -> None:
    text = "\ufeff" + (SEARCH + COMPACT + SEARCH).replace("\n", "\r\n") + "tail  "
    path = tmp_path / "big.txt"
    path.write_bytes(text.encode())
    plan = plan_pages(path)
    assert plan is not None
    expected = [line.rstrip() for line in text[1:].replace("\r\n", "\n").split("\n")]
    pages = list(read_pages(path, plan))
    assert [page.first_line for page in pages] == plan.starts
    assert list(itertools.chain.from_iterable(page.lines for page in pages)) == expected
    assert plan.total_lines == len(expected) and not plan.ends_with_newline
    assert [page.ends_with_newline for page in pages] == [True] * (len(pages) - 1) + [False]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("one page", SEARCH.encode()),
        ("UTF-16", (SEARCH + SEARCH).encode("utf-16")),
        ("invalid UTF-8 on the last page", (SEARCH + SEARCH).encode() + b"\xff\xfe tail\n"),
        ("binary", b"\x89PNG\r\n\x1a\n" + (SEARCH + SEARCH).encode()),
    ],
)
def test_dumps_that_are_not_plain_multi_page_utf8_are_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, data: bytes
) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    assert plan_pages(path) is None
    (whole, _), (paged, _) = _parse_both(tmp_path, data, None, monkeypatch)
    assert _account(paged) == _account(whole)
    if whole.stored is not None:
        _assert_same_entry(whole, paged)
    # Nothing half-written is left in the store.
    assert not [p for p in (tmp_path / "paged").glob("*") if ".tmp" in p.name]


def test_a_big_dump_builds_the_same_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from etl import build

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "pasted.txt").write_text(SEARCH + COMPACT + SEARCH.replace("\n", "\r\n"))
    (raw / "other.txt").write_text(COMPACT)
    built = {}
    for name, threshold in (("whole", 1 << 40), ("paged", 0)):
        monkeypatch.setattr(config, "STREAM_DUMP_BYTES", threshold)
        outcome = build(raw, tmp_path / name, validate=False, jobs=1)
        assert outcome.exit_code == 0, outcome.message
        built[name] = {p.name: p.read_bytes() for p in (tmp_path / name).glob("*.parquet")}
    assert built["paged"] == built["whole"]
    assert len(built["whole"]) == 6


def test_a_partial_entry_is_not_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed mid-dump leaves temporary files only; the next build parses again."""
    data = (SEARCH + SEARCH).encode()
    path = tmp_path / "big.txt"
    path.write_bytes(data)
    monkeypatch.setattr(config, "STREAM_DUMP_BYTES", 0)
    [(entry, cached)] = _parse_paths([(path, "big.txt", None, tmp_path / "store")])
    assert not cached and isinstance(entry.stored, StoredRecords)
    entry.stored.meta_path.unlink()  # as if killed before the metadata was written
    [(again, cached)] = _parse_paths([(path, "big.txt", None, tmp_path / "store")])
    assert not cached
    assert again.record_count == entry.record_count == 90


# The build in a fresh interpreter, set up as the CLI sets it up (etl.cli first), parsing
# in that process; its high-water mark is read from /proc: a forked child's rusage would
# start from this (big) test process's.
_MEASURED_BUILD = """
import sys
import etl.cli
import etl
outcome = etl.build(sys.argv[1], sys.argv[2], validate=False, jobs=1)
assert outcome.exit_code == 0, outcome.message
with open("/proc/self/status") as status:
    print(next(line for line in status if line.startswith("VmHWM:")).split()[1])
"""


def _peak_rss_of_build(raw: Path, out: Path) -> int:
    """Peak RSS in bytes of a build of `raw`, parse included."""
    command = [sys.executable, "-c", _MEASURED_BUILD, str(raw), str(out)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) * 1024


@pytest.mark.slow
def test_building_one_big_dump_holds_a_batch_of_pages_at_a_time(tmp_path: Path) -> None:
    """One 64 MiB dump of pasted pages costs little more memory than a 1 MiB one.

    Read whole, the dump costs several times its size (its bytes, text, lines and record
    frames): measured here, 363 MiB more than the small one. Read a batch of pages (up to
    `config.PARSE_BATCH_BYTES`) at a time, what grows with it is that batch, the key columns
    and the pages of the record store that are mapped: 126 MiB more (113 MiB a page at a
    time, 2026-12-01).
    """
    page = SEARCH
    peaks = {}
    for name, pages in (("small", 25), ("big", 64 * 2**20 // len(page.encode()))):
        raw = tmp_path / name / "raw"
        raw.mkdir(parents=True)
        (raw / "pasted.txt").write_text(page * pages, encoding="utf-8")
        assert (raw / "pasted.txt").stat().st_size > (
            config.STREAM_DUMP_BYTES if name == "big" else 0
        )
        peaks[name] = _peak_rss_of_build(raw, tmp_path / name / "out")
    big_dump = (tmp_path / "big" / "raw" / "pasted.txt").stat().st_size
    assert peaks["big"] - peaks["small"] < 3 * big_dump, peaks
