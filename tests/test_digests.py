"""Remembered content hashes: a warm build does not read the dumps it has parsed before, and
any change to a dump, or a change too recent to be sure of, makes it read again."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from etl import build, digests, pipeline, workers
from etl.digests import DigestMemo, file_status
from etl.schemas import TABLES
from tests.conftest import copy_seeds

SECOND = 1_000_000_000


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the dumps the build reads and hashes (the seeds are parsed in this
    process)."""
    names: list[str] = []
    read = workers._stored_or_read

    def counting(task):  # type: ignore[no-untyped-def]
        names.append(Path(task[0]).name)
        return read(task)

    monkeypatch.setattr(workers, "_stored_or_read", counting)
    return names


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    folder.mkdir()
    copy_seeds(folder)
    return folder


def _build(raw: Path, tmp_path: Path, out: str = "out") -> pipeline.BuildOutcome:
    outcome = build(raw, tmp_path / out, validate=False, cache_dir=tmp_path / "cache")
    assert outcome.exit_code == 0, outcome.message
    return outcome


def test_a_warm_build_reads_none_of_the_dumps(
    raw: Path, tmp_path: Path, hashed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digests, "RACY_SECONDS", 0)  # the seeds were copied just now
    first = _build(raw, tmp_path)
    assert sorted(hashed) == sorted(p.name for p in raw.glob("*.txt"))
    hashed.clear()
    again = _build(raw, tmp_path, "again")
    assert hashed == []
    assert again.summary.files_from_cache == again.summary.files == 2
    for spec in TABLES:
        before = (tmp_path / "out" / spec.file_name).read_bytes()
        assert (tmp_path / "again" / spec.file_name).read_bytes() == before, spec.name
    assert first.summary.as_dict() | {"files_from_cache": 2, "stage_seconds": {}} == (
        again.summary.as_dict() | {"stage_seconds": {}}
    )


def test_a_dump_edited_in_place_is_read_again_even_with_its_old_time_and_size(
    raw: Path, tmp_path: Path, hashed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digests, "RACY_SECONDS", 0)
    first = _build(raw, tmp_path)
    dump = sorted(raw.glob("*.txt"))[0]
    before = os.stat(dump)
    text = dump.read_text(encoding="utf-8")
    title = next(t for t in first.tables["papers"]["title"].to_pylist() if t in text)
    edited = title.swapcase()
    assert len(edited.encode()) == len(title.encode()) and edited != title
    dump.write_text(text.replace(title, edited), encoding="utf-8")
    os.utime(dump, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `touch -r` would
    assert os.stat(dump).st_size == before.st_size
    hashed.clear()
    again = _build(raw, tmp_path)
    assert hashed == [dump.name]
    assert again.summary.files_from_cache == 1
    assert edited in again.tables["papers"]["title"].to_pylist()


def test_a_dump_replaced_by_another_file_is_read_again(
    raw: Path, tmp_path: Path, hashed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digests, "RACY_SECONDS", 0)
    _build(raw, tmp_path)
    second = sorted(raw.glob("*.txt"))[1]
    spare = tmp_path / "spare.txt"
    spare.write_bytes(second.read_bytes())
    spare.replace(second)  # same bytes, another file (inode)
    hashed.clear()
    again = _build(raw, tmp_path)
    assert hashed == [second.name]
    assert again.summary.files_from_cache == 2  # the bytes were parsed before


def test_a_dump_changed_just_before_it_was_hashed_is_not_remembered(
    raw: Path, tmp_path: Path, hashed: list[str]
) -> None:
    _build(raw, tmp_path)  # the seeds were copied within RACY_SECONDS
    hashed.clear()
    again = _build(raw, tmp_path)
    assert sorted(hashed) == sorted(p.name for p in raw.glob("*.txt"))
    assert again.summary.files_from_cache == 2


def test_building_another_folder_in_between_costs_no_reading_of_the_first(
    raw: Path, tmp_path: Path, hashed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digests, "RACY_SECONDS", 0)
    _build(raw, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    dump = sorted(raw.glob("*.txt"))[0]
    (other / dump.name).write_bytes(dump.read_bytes())  # another file: read and hashed
    hashed.clear()
    _build(other, tmp_path, "other-out")
    assert hashed == [dump.name]
    hashed.clear()
    again = _build(raw, tmp_path)
    assert hashed == []
    assert again.summary.files_from_cache == 2


def test_past_the_limit_the_oldest_statuses_are_forgotten_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digests, "MAX_REMEMBERED", 2)
    statuses = [(1, inode, 10, 0, 0) for inode in range(3)]
    memo = DigestMemo(tmp_path)
    for status in statuses[:2]:  # one build
        memo.remember(status, str(status[1]) * 64, 10 * SECOND)
    memo.save()
    memo = DigestMemo(tmp_path)  # the next
    memo.remember(statuses[2], "2" * 64, 10 * SECOND)
    memo.save()
    after = DigestMemo(tmp_path)
    assert [after.digest(s) for s in statuses] == [None, "1" * 64, "2" * 64]


@pytest.mark.parametrize(
    "damaged",
    [b"\x80\x05not a pickle", pickle.dumps(5), pickle.dumps((1, 2, 3))],
    ids=["not-a-pickle", "a-number", "a-triple"],
)
def test_a_damaged_memo_only_costs_reading_the_dumps(
    raw: Path, tmp_path: Path, hashed: list[str], monkeypatch: pytest.MonkeyPatch, damaged: bytes
) -> None:
    monkeypatch.setattr(digests, "RACY_SECONDS", 0)
    _build(raw, tmp_path)
    memo = tmp_path / "cache" / "digests.pkl"
    assert memo.is_file()
    memo.write_bytes(damaged)
    hashed.clear()
    again = _build(raw, tmp_path)
    assert len(hashed) == 2 and again.summary.files_from_cache == 2
    hashed.clear()
    _build(raw, tmp_path)  # the memo was written anew
    assert hashed == []


def test_the_racy_window_is_measured_from_the_last_change(tmp_path: Path) -> None:
    dump = tmp_path / "dump.txt"
    dump.write_text("x")
    status = file_status(dump)
    assert status is not None
    changed = max(status[3], status[4])
    memo = DigestMemo(tmp_path)
    memo.remember(status, "a" * 64, changed + digests.RACY_SECONDS * SECOND)
    memo.save()
    assert DigestMemo(tmp_path).digest(status) is None  # exactly at the edge: not sure yet
    memo.remember(status, "a" * 64, changed + digests.RACY_SECONDS * SECOND + 1)
    memo.save()
    assert DigestMemo(tmp_path).digest(status) == "a" * 64
    assert DigestMemo(tmp_path).digest((*status[:4], status[4] + 1)) is None  # type: ignore[arg-type]
    assert DigestMemo(tmp_path).digest(None) is None
