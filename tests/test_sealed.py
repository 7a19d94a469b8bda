"""Sealed pickles: what was written reads back; any damaged byte reads as nothing."""

from __future__ import annotations

import datetime as dt
import os
import pickle
from pathlib import Path

import pytest

from etl.sealed import read_sealed, write_sealed

VALUE = {"first_row": 46, "record_count": 46, "captured_on": dt.date(2025, 11, 11)}


def test_a_sealed_value_reads_back(tmp_path: Path) -> None:
    write_sealed(tmp_path / "v.pkl", VALUE)
    assert read_sealed(tmp_path / "v.pkl") == VALUE
    assert [p.name for p in tmp_path.iterdir()] == ["v.pkl"]  # no temporary left


def test_every_changed_byte_reads_as_nothing(tmp_path: Path) -> None:
    """Unpickled, some of these would be other values that look sound (another row)."""
    path = tmp_path / "v.pkl"
    write_sealed(path, VALUE)
    sealed = path.read_bytes()
    for position in range(len(sealed)):
        damaged = bytearray(sealed)
        damaged[position] ^= 0x01
        path.write_bytes(bytes(damaged))
        assert read_sealed(path) is None, position


@pytest.mark.parametrize(
    "content",
    [b"", b"short", pickle.dumps(VALUE)],
    ids=["empty", "shorter-than-the-seal", "an-unsealed-pickle"],
)
def test_what_write_sealed_did_not_write_reads_as_nothing(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "v.pkl").write_bytes(content)
    assert read_sealed(tmp_path / "v.pkl") is None


def test_a_missing_file_reads_as_nothing(tmp_path: Path) -> None:
    assert read_sealed(tmp_path / "none.pkl") is None


def test_a_failed_write_leaves_the_old_value_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v.pkl"
    write_sealed(path, VALUE)

    def disk_full(self: Path, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_sealed(path, {"first_row": 0})
    assert read_sealed(path) == VALUE
    assert sorted(os.listdir(tmp_path)) == ["v.pkl"]


def _changed_since() -> None:
    raise RuntimeError("this class is not what it was when pickled")


class _Changed:
    """Unpickles by calling `_changed_since`, as a class whose code changed can fail."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _changed_since, ()


def test_sound_bytes_of_a_class_that_changed_since_read_as_nothing(tmp_path: Path) -> None:
    write_sealed(tmp_path / "v.pkl", _Changed())
    assert read_sealed(tmp_path / "v.pkl") is None
