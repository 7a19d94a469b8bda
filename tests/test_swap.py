"""The folder swap shared by build and publish, on its own: which parked folder comes back,
what is never removed, and what the lock covers. Kills at each point, by real processes, are
in tests/test_interrupt.py (build) and tests/test_publish.py (publish)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from etl import swap

FILES = {"t.parquet"}


def folder_holding(path: Path, content: str) -> Path:
    path.mkdir()
    (path / "t.parquet").write_text(content)
    return path


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def park(tmp_path: Path, pid: int, content: str) -> None:
    """As a run killed between its two renames leaves its folder."""
    folder_holding(tmp_path / "work", content).rename(tmp_path / f".out.old-{pid}")


def after_the_clock_ticks(path: Path) -> None:
    """Until a change made now gets a later change time than `path`'s."""
    probe = path.parent / "probe"
    probe.touch()
    while probe.lstat().st_ctime_ns <= path.lstat().st_ctime_ns:
        probe.touch()  # a change of its inode: its change time is now
    probe.unlink()


def test_the_folder_parked_last_is_put_back_whatever_its_pid(tmp_path: Path) -> None:
    """Pids are reused: 1000 sorts before 999 and may come after it or not."""
    park(tmp_path, 999, "older")
    after_the_clock_ticks(tmp_path / ".out.old-999")
    park(tmp_path, 1000, "newer")
    swap.recover(tmp_path / "out", FILES)
    assert (tmp_path / "out" / "t.parquet").read_text() == "newer"
    assert names(tmp_path) == ["out"]  # the older one removed


def test_a_parked_folder_beside_a_folder_is_removed(tmp_path: Path) -> None:
    """Killed after the second rename: the new folder is there, the old one is stale."""
    folder_holding(tmp_path / "out", "new")
    park(tmp_path, 7, "old")
    swap.recover(tmp_path / "out", FILES)
    assert names(tmp_path) == ["out"]
    assert (tmp_path / "out" / "t.parquet").read_text() == "new"


def test_a_parked_folder_is_never_removed_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It is renamed to a temporary name first: a kill while removing it leaves a folder
    that is disposable, never a half old folder that a recovery could put back."""
    removed: list[str] = []
    real_rmtree = shutil.rmtree

    def rmtree(path: Path, *args: object, **kwargs: object) -> None:
        removed.append(Path(path).name)
        real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", rmtree)
    folder_holding(tmp_path / "out", "old")
    park(tmp_path, 7, "older")
    swap.recover(tmp_path / "out", FILES)  # a stale parked folder
    staging = swap.new_staging_dir(tmp_path / "out")
    (staging / "t.parquet").write_text("new")
    swap.swap_in(staging, tmp_path / "out")  # the folder it parks
    assert removed and all(".out.tmp-" in name for name in removed), removed
    assert names(tmp_path) == ["out"]
    assert (tmp_path / "out" / "t.parquet").read_text() == "new"


@pytest.mark.parametrize("kind", ["tmp", "old"])
def test_leftover_names_holding_other_things_are_kept(tmp_path: Path, kind: str) -> None:
    folder_holding(tmp_path / "out", "tables")
    mine = folder_holding(tmp_path / f".out.{kind}-5", "t")
    (mine / "notes.txt").write_text("mine")
    elsewhere = folder_holding(tmp_path / "elsewhere", "t")
    (tmp_path / f".out.{kind}-6").symlink_to(elsewhere)  # a link is never a leftover
    swap.recover(tmp_path / "out", FILES)
    assert (mine / "notes.txt").read_text() == "mine"
    assert (tmp_path / f".out.{kind}-6").is_symlink() and names(elsewhere) == ["t.parquet"]


def test_the_lock_covers_one_folder_and_stays(tmp_path: Path) -> None:
    with swap.lock(tmp_path / "out"):
        with pytest.raises(swap.FolderBusy), swap.lock(tmp_path / "out"):
            pass
        with swap.lock(tmp_path / "other"):  # beside it, not held up
            pass
    with swap.lock(tmp_path / "out"):  # released
        pass
    assert names(tmp_path) == [".other.lock", ".out.lock"]


def test_a_folder_given_as_dot_is_locked_beside_itself_not_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`.` has no name: its lock was `./..lock`, inside the folder, which a build then
    refused to replace, and no lock of the build's."""
    out = folder_holding(tmp_path / "out", "tables")
    monkeypatch.chdir(out)
    with swap.lock(Path(".")), pytest.raises(swap.FolderBusy), swap.lock(out):
        pass
    assert names(out) == ["t.parquet"]
    assert names(tmp_path) == [".out.lock", "out"]


def test_shared_holders_go_together_and_keep_out_one_alone(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    with (
        swap.lock(folder, shared=True),
        swap.lock(folder, shared=True),
        pytest.raises(swap.FolderBusy),
        swap.lock(folder),
    ):
        pass
    with swap.lock(folder), pytest.raises(swap.FolderBusy), swap.lock(folder, shared=True):
        pass


def test_a_deleted_current_folder_refuses_nothing_by_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert swap.refusal(tmp_path / "out", FILES, "--out", "a build") is None


def test_readers_put_a_parked_folder_back_together(tmp_path: Path) -> None:
    """Another reader holding the lock, shared, does not keep one from putting it back."""
    park(tmp_path, 7, "tables")
    with swap.lock(tmp_path / "out", shared=True):
        swap.recover_for_reading(tmp_path / "out")
    assert names(tmp_path / "out") == ["t.parquet"]


def test_a_folder_replaced_by_a_block_that_fails_is_left_as_it_was(tmp_path: Path) -> None:
    folder_holding(tmp_path / "out", "old")
    with (
        pytest.raises(OSError, match="disk full"),
        swap.replaced(tmp_path / "out", FILES, "--out", "a build") as staging,
    ):
        (staging / "t.parquet").write_text("half")
        raise OSError("disk full")
    assert (tmp_path / "out" / "t.parquet").read_text() == "old"
    assert names(tmp_path) == [".out.lock", "out"]
    with swap.replaced(tmp_path / "out", FILES, "--out", "a build") as staging:
        (staging / "t.parquet").write_text("new")
    assert (tmp_path / "out" / "t.parquet").read_text() == "new"
    assert names(tmp_path) == [".out.lock", "out"]
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with (
        pytest.raises(swap.Refused, match=r"it holds notes\.txt"),
        swap.replaced(tmp_path / "out", FILES, "--out", "a build"),
    ):
        pass
    assert names(tmp_path / "out") == ["notes.txt", "t.parquet"]
